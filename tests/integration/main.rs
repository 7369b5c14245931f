//! Integration tests: the store in-process, and the real `watchfire` binary in child processes.

mod agent;
mod alerts;
mod api;
mod audit;
mod auth;
mod checks;
mod cli;
mod cluster;
mod crash;
mod edge;
mod golden;
mod helpers;
mod hosts;
mod invariants;
mod monitor_state;
mod monitors;
mod notify;
mod openapi;
mod postgres;
mod rollups;
mod site;
mod store;
mod tamper;
mod targets;
mod ws;
