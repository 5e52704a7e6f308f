//! Redress: the server and command-line host. See ARCHITECTURE.md for the map.

pub mod clock;
pub mod config;
pub mod deadlines;
pub mod rules;
pub mod scheduler;
pub mod schemas;
pub mod server;
pub mod service;
pub mod simulate;
pub mod store;
pub mod telemetry;
