//! The guest side of the Redress plugin interface (`redress:ruleset@1.0.0`).
//!
//! A vendor writes one function over plain Rust types and exports it:
//!
//! ```ignore
//! use redress_plugin_sdk::{CaseView, Context, DecideError, Decision, Descriptor, Ruleset, Trigger};
//!
//! struct MyRules;
//! impl Ruleset for MyRules {
//!     fn describe() -> Descriptor { /* id, version, sector, interface version */ }
//!     fn decide(trigger: Trigger, case: CaseView, ctx: Context) -> Result<Decision, DecideError> {
//!         Ok(Decision { actions: vec![], explanation: vec![] })
//!     }
//! }
//! // Natively the component's export names are not valid linker symbols; the native build
//! // (for the vendor's tests) calls the function directly.
//! #[cfg(target_arch = "wasm32")]
//! redress_plugin_sdk::export_ruleset!(MyRules);
//! ```
//!
//! Build with `cargo build --release --target wasm32-unknown-unknown` and wrap the module into
//! a component with `redress-componentize` (`scripts/build-plugins` does both); the component's
//! only import is the host's logging. (`wasm32-wasip2` would give a component directly, but
//! one that imports WASI, which the host refuses.) The types are generated from the frozen WIT in
//! `plugins/wit/1.0.0/`, so a plugin cannot return an action the host does not know.
//!
//! The same function also compiles natively, which is how a vendor unit-tests it.

wit_bindgen::generate!({
    world: "ruleset",
    path: "../wit/1.0.0",
    pub_export_macro: true,
    export_macro_name: "export_bindings",
    default_bindings_module: "redress_plugin_sdk",
    // Serde, so that a vendor can keep test cases as JSON and the host's benchmark can hand
    // the native build the very input the plugin gets.
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use exports::redress::ruleset::decider::Guest as Ruleset;
pub use redress::ruleset::types::*;

/// The interface version this SDK builds plugins for.
pub const INTERFACE_VERSION: &str = "1.0.0";

/// Logs through the host (its tracing, rate- and size-limited). On a native build, where
/// there is no host, it does nothing.
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    redress::ruleset::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}

/// Exports `$ty` (an implementation of [`Ruleset`]) as the plugin's `decider`.
#[macro_export]
macro_rules! export_ruleset {
    ($ty:ident) => {
        $crate::export_bindings!($ty with_types_in $crate);
    };
}

/// Reads an integer setting.
pub fn setting_int(ctx: &Context, name: &str) -> Option<i64> {
    ctx.settings.iter().find_map(|(key, value)| match value {
        SettingValue::Integer(i) if key == name => Some(*i),
        _ => None,
    })
}

/// Reads a boolean setting.
pub fn setting_bool(ctx: &Context, name: &str) -> Option<bool> {
    ctx.settings.iter().find_map(|(key, value)| match value {
        SettingValue::Boolean(b) if key == name => Some(*b),
        _ => None,
    })
}

/// Reads a text setting.
pub fn setting_text<'a>(ctx: &'a Context, name: &str) -> Option<&'a str> {
    ctx.settings.iter().find_map(|(key, value)| match value {
        SettingValue::Text(t) if key == name => Some(t.as_str()),
        _ => None,
    })
}

/// An intake attribute, if given.
pub fn attribute<'a>(case: &'a CaseView, name: &str) -> Option<&'a AttributeValue> {
    case.attributes
        .iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

/// A text field of a handler action (`reason`, `note`, `approved_by`...).
pub fn action_field<'a>(action: &'a HandlerAction, name: &str) -> Option<&'a str> {
    action
        .fields
        .iter()
        .find_map(|(key, value)| (key == name).then_some(value.as_str()))
}
