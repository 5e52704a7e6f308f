//! Integration tests: they start the real `redress` binary on a loopback port with a temporary
//! data directory and talk to it over HTTP, as a client would. One test binary for all of them
//! keeps link times down on small machines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod api;
mod browser;
mod cli;
mod clocks;
mod console;
mod console_pages;
mod crash;
mod durability;
mod errors;
mod hostile_input;
mod plugins;
mod provisional;
mod repeat;
mod rulesets;
mod support;
