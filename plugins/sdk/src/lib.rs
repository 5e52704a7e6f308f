//! The guest side of the Redress plugin interface: `redress:ruleset@1.0.0` at the crate root,
//! `redress:ruleset@1.1.0` (1.0.0 plus the host's working-day calendar) in [`v1_1`], and
//! `redress:ruleset@1.2.0` (1.1.0 plus repeat candidates, open pauses, `merge-into` and
//! `end-pause`) in [`v1_2`].
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
//! For interface 1.1.0, enable the feature `v1_1`, use the same names from
//! `redress_plugin_sdk::v1_1` (the types are the same as 1.0.0's, as separate Rust types) and
//! export with `redress_plugin_sdk::v1_1::export_ruleset!(MyRules)`; the calendar questions
//! are in `v1_1::calendar`. A plugin is built for exactly one version: the one whose `Ruleset`
//! it implements and exports. Nothing changes for a 1.0.0 plugin, which must not enable `v1_1`
//! (its component would then import the 1.1.0 interfaces; see Cargo.toml).
//!
//! Build with `cargo build --release --target wasm32-unknown-unknown` and wrap the module into
//! a component with `redress-componentize` (`scripts/build-plugins` does both); the component
//! imports only the host functions it calls (logging, and in 1.1.0 the calendar). (`wasm32-wasip2`
//! would give a component directly, but one that imports WASI, which the host refuses.) The
//! types are generated from the frozen WIT in `plugins/wit/<version>/`, so a plugin cannot
//! return an action the host does not know. Each version's bindings embed only their imports;
//! the exports come with the `export_ruleset!` a plugin invokes, so a plugin exports one
//! version's decider only. (`wit-component` merges semver-compatible imports into the newest
//! version, so a 1.1.0 plugin's 1.0.0 imports become 1.1.0's: harmless there, and the reason
//! the 1.1.0 bindings are behind a feature.)
//!
//! The same function also compiles natively, which is how a vendor unit-tests it (there, the
//! host calls do nothing or, for the calendar, answer with an error).

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

/// The helpers over one version's types, defined at the root (1.0.0) and in [`v1_1`].
macro_rules! helpers {
    () => {
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
    };
}

helpers!();

/// The calendar questions of interfaces 1.1.0 and 1.2.0 (the same `calendar` interface), over
/// the bindings of the module it is invoked in.
#[cfg(any(feature = "v1_1", feature = "v1_2"))]
macro_rules! calendar_module {
    () => {
    /// The host's working-day calendars: the ones its clocks use, in force for the decision,
    /// counted as the clocks count (the start day is never counted). `calendar` is a calendar
    /// id, `""` the ruleset's own; dates are `YYYY-MM-DD`. Each call costs fuel. On a native
    /// build there is no host: every call answers `CalendarError::UnknownCalendar`.
    pub mod calendar {
        pub use super::redress::ruleset::calendar::{CalendarError, CountedDate, DayInfo};

        #[cfg(target_arch = "wasm32")]
        use super::redress::ruleset::calendar as host;

        #[cfg(not(target_arch = "wasm32"))]
        fn no_host<T>() -> Result<T, CalendarError> {
            Err(CalendarError::UnknownCalendar(
                "no host calendar in a native build".into(),
            ))
        }

        /// How `date` is classified (`working`, `kind`, `provisional`...).
        pub fn day(calendar: &str, date: &str) -> Result<DayInfo, CalendarError> {
            #[cfg(target_arch = "wasm32")]
            return host::day(calendar, date);
            #[cfg(not(target_arch = "wasm32"))]
            {
                let _ = (calendar, date);
                no_host()
            }
        }

        /// The first working day after `date`.
        pub fn next_working_day(calendar: &str, date: &str) -> Result<CountedDate, CalendarError> {
            #[cfg(target_arch = "wasm32")]
            return host::next_working_day(calendar, date);
            #[cfg(not(target_arch = "wasm32"))]
            {
                let _ = (calendar, date);
                no_host()
            }
        }

        /// The `n`th working day after `date`; `n = 0`: `date` if it is a working day, else
        /// the next one.
        pub fn add_working_days(
            calendar: &str,
            date: &str,
            n: u32,
        ) -> Result<CountedDate, CalendarError> {
            #[cfg(target_arch = "wasm32")]
            return host::add_working_days(calendar, date, n);
            #[cfg(not(target_arch = "wasm32"))]
            {
                let _ = (calendar, date, n);
                no_host()
            }
        }

        /// `date` + `n` days; with `roll_forward`, a rest day moves to the next working day
        /// (民法典 art. 203 ¶1).
        pub fn add_calendar_days(
            calendar: &str,
            date: &str,
            n: u32,
            roll_forward: bool,
        ) -> Result<CountedDate, CalendarError> {
            #[cfg(target_arch = "wasm32")]
            return host::add_calendar_days(calendar, date, n, roll_forward);
            #[cfg(not(target_arch = "wasm32"))]
            {
                let _ = (calendar, date, n, roll_forward);
                no_host()
            }
        }

        /// Whether `date` is a working day, refusing (`NotCovered`) an answer from a year
        /// without a published schedule, as the Rhai function does; [`day`] gives it marked.
        pub fn is_working_day(calendar: &str, date: &str) -> Result<bool, CalendarError> {
            let day = day(calendar, date)?;
            if day.provisional {
                return Err(CalendarError::NotCovered(format!(
                    "{date} lies in a year without a published schedule (provisional)"
                )));
            }
            Ok(day.working)
        }

        impl CountedDate {
            /// Whether a year without a published schedule decided the answer.
            pub fn is_provisional(&self) -> bool {
                !self.provisional_years.is_empty()
            }

            /// The date, refusing (`NotCovered`) a provisional answer, as the plain Rhai
            /// functions do.
            pub fn firm(self) -> Result<String, CalendarError> {
                if self.is_provisional() {
                    let years: Vec<String> =
                        self.provisional_years.iter().map(i32::to_string).collect();
                    return Err(CalendarError::NotCovered(format!(
                        "the answer depends on {}, which has no published schedule (provisional)",
                        years.join(", ")
                    )));
                }
                Ok(self.date)
            }
        }
    }
    };
}

/// The interface `redress:ruleset@1.1.0`: 1.0.0's types and decider, and the host's
/// working-day calendar ([`v1_1::calendar`]). With the feature `v1_1` only (see Cargo.toml:
/// a 1.0.0 plugin must not link these bindings).
///
/// ```ignore
/// use redress_plugin_sdk::v1_1::{self as sdk, calendar, CaseView, Context, Decision, Ruleset, Trigger};
///
/// let last = calendar::add_calendar_days("", "2026-09-01", 30, true)?; // "" = the ruleset's calendar
/// assert_eq!(last.date, "2026-10-08");   // 民法典 art. 203: rolled off National Day
/// if last.is_provisional() { /* a year without a published schedule decided it */ }
/// ```
#[cfg(feature = "v1_1")]
pub mod v1_1 {
    // The world is 1.1.0's `ruleset`, included under another name: wit-bindgen names a macro it
    // exports from the crate root after the world, which 1.0.0's bindings already use.
    wit_bindgen::generate!({
        inline: "package redress:sdk;\nworld ruleset-v1-1 { include redress:ruleset/ruleset@1.1.0; }",
        path: "../wit/1.1.0",
        world: "ruleset-v1-1",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_bindings_v1_1",
        default_bindings_module: "redress_plugin_sdk::v1_1",
        additional_derives: [serde::Serialize, serde::Deserialize],
    });

    pub use crate::export_ruleset_v1_1 as export_ruleset;
    pub use exports::redress::ruleset::decider::Guest as Ruleset;
    pub use redress::ruleset::types::*;

    /// The interface version this module builds plugins for.
    pub const INTERFACE_VERSION: &str = "1.1.0";

    /// Logs through the host (its tracing, rate- and size-limited). On a native build, where
    /// there is no host, it does nothing.
    pub fn log(level: LogLevel, message: &str) {
        #[cfg(target_arch = "wasm32")]
        redress::ruleset::host::log(level, message);
        #[cfg(not(target_arch = "wasm32"))]
        let _ = (level, message);
    }

    helpers!();

    calendar_module!();
}

/// Exports `$ty` (an implementation of [`v1_1::Ruleset`]) as the plugin's `decider@1.1.0`;
/// also reachable as `redress_plugin_sdk::v1_1::export_ruleset!`.
#[cfg(feature = "v1_1")]
#[macro_export]
macro_rules! export_ruleset_v1_1 {
    ($ty:ident) => {
        $crate::v1_1::export_bindings_v1_1!($ty with_types_in $crate::v1_1);
    };
}

/// The interface `redress:ruleset@1.2.0`: 1.1.0, and the `additions` interface: the earlier
/// cases the host found that the complaint may repeat and the grounds each paused clock is
/// paused on (`CaseAdditions`, a parameter of `decide` of its own), and two more answers,
/// `Action12::MergeInto` and `Action12::EndPause`. Every 1.0.0 action is `Action12::Base`
/// (`action.into()`). With the feature `v1_2` only (see Cargo.toml).
///
/// ```ignore
/// use redress_plugin_sdk::v1_2::{Action, Action12, CaseAdditions, MergeIntoAction};
///
/// let earlier = additions.repeat_of.iter().find(|c| {
///     c.basis.iter().any(|b| b.kind == "same_complainant") && c.status != "closed"
/// });
/// if let Some(c) = earlier {
///     actions.push(Action12::MergeInto(MergeIntoAction { case_id: c.case_id.clone(), reason: "…".into() }));
/// }
/// actions.push(Action::Accept(None).into());
/// ```
#[cfg(feature = "v1_2")]
pub mod v1_2 {
    wit_bindgen::generate!({
        inline: "package redress:sdk;\nworld ruleset-v1-2 { include redress:ruleset/ruleset@1.2.0; }",
        path: "../wit/1.2.0",
        world: "ruleset-v1-2",
        generate_all,
        pub_export_macro: true,
        export_macro_name: "export_bindings_v1_2",
        default_bindings_module: "redress_plugin_sdk::v1_2",
        additional_derives: [serde::Serialize, serde::Deserialize],
    });

    pub use crate::export_ruleset_v1_2 as export_ruleset;
    pub use exports::redress::ruleset::decider::Guest as Ruleset;
    pub use redress::ruleset::additions::{
        Action12, CaseAdditions, ClockPauses, Decision12, EndPauseAction, MatchBasis,
        MergeIntoAction, RepeatCandidate,
    };
    pub use redress::ruleset::types::*;

    /// The interface version this module builds plugins for.
    pub const INTERFACE_VERSION: &str = "1.2.0";

    /// Logs through the host (its tracing, rate- and size-limited). On a native build, where
    /// there is no host, it does nothing.
    pub fn log(level: LogLevel, message: &str) {
        #[cfg(target_arch = "wasm32")]
        redress::ruleset::host::log(level, message);
        #[cfg(not(target_arch = "wasm32"))]
        let _ = (level, message);
    }

    helpers!();
    calendar_module!();

    impl From<Action> for Action12 {
        fn from(action: Action) -> Action12 {
            Action12::Base(action)
        }
    }

    impl CaseAdditions {
        /// The grounds clock `clock` is paused on now (empty unless paused).
        pub fn open_pauses(&self, clock: &str) -> &[String] {
            self.pauses
                .iter()
                .find(|p| p.clock == clock)
                .map_or(&[], |p| p.open_pauses.as_slice())
        }
    }
}

/// Exports `$ty` (an implementation of [`v1_2::Ruleset`]) as the plugin's `decider@1.2.0`;
/// also reachable as `redress_plugin_sdk::v1_2::export_ruleset!`.
#[cfg(feature = "v1_2")]
#[macro_export]
macro_rules! export_ruleset_v1_2 {
    ($ty:ident) => {
        $crate::v1_2::export_bindings_v1_2!($ty with_types_in $crate::v1_2);
    };
}
