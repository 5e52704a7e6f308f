//! Command-line tools that live in the library so they can be tested without the binary's
//! server dependencies in the way.

pub mod audit;
pub mod calendar;
pub mod remote;
