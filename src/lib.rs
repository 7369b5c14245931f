//! watchfire: a self-hosted monitoring server built as an event-sourced actor system.
//!
//! Data flows through the modules in this order: checks and agent pushes reach
//! [`actors`], which decide and append facts to the log in [`events`] (sled, group
//! commit, hash chains); [`projections`] fold the log into read models; [`http`] serves
//! commands, queries and `/metrics`; [`server`] wires them together and [`config`] says
//! how. `src/main.rs` is the command line.

pub mod actors;
pub mod agent;
pub mod clock;
pub mod cluster;
pub mod command;
pub mod config;
pub mod domain;
pub mod events;
pub mod http;
pub mod notify;
pub mod projections;
pub mod server;
pub mod signals;
