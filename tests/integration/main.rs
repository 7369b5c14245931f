//! Integration tests: the store in-process, and the real `watchfire` binary in child processes.

mod cli;
mod crash;
mod golden;
mod helpers;
mod store;
mod tamper;
