//! The engines a ruleset runs on: Rhai scripts (`rhai`) and WebAssembly components of the
//! `redress:ruleset` world (`wasm`). Both are reached only through `LoadedRuleset::decide`.

pub mod calendar;
pub mod rhai;
pub mod wasm;
