//! Redress: the server and command-line host. See ARCHITECTURE.md for the map.

pub mod access;
pub mod app;
pub mod audit;
pub mod builtin;
pub mod cli;
pub mod config;
pub mod console;
pub mod data_dir;
pub mod deadlines;
pub mod durable;
pub mod forms;
pub mod repeat;
pub mod revision;
pub mod routing;
pub mod rules;
pub mod scheduler;
pub mod schemas;
pub mod secret_key;
pub mod server;
pub mod service;
pub mod simulate;
pub mod store;
pub mod telemetry;
pub mod time_source;
pub mod tracking;
pub mod watch;
pub mod yaml;

/// How far ahead of the end of a calendar's published schedules the operator is warned (in
/// `/readyz` and the log): the next year's schedule is usually published in November.
pub const CALENDAR_HORIZON_WARNING_DAYS: i32 = 60;
