//! Integration tests: the store in-process, and the real `watchfire` binary in child processes.

mod checks;
mod cli;
mod crash;
mod golden;
mod helpers;
mod monitor_state;
mod monitors;
mod store;
mod tamper;
mod targets;
