//! Bindings and host glue for the frozen interface `redress:ruleset@1.1.0`
//! (`plugins/wit/1.1.0/`): 1.0.0 plus the `calendar` import.
//!
//! The `types` interface of 1.1.0 is 1.0.0's, unchanged (a test below compares the two WIT
//! folders), so the bindings map it onto 1.0.0's Rust types (`with`) and this version reuses
//! 1.0.0's conversions of the case view, settings and decision (`v1_0_0::Input`,
//! `v1_0_0::to_decision`): the two versions cannot drift apart there. Wasmtime checks a
//! component's types structurally when it is linked, so a plugin built against 1.1.0's `types`
//! links against them. What is this version's own: the exports (`decider@1.1.0`), the logging
//! import under `host@1.1.0`, and the calendar import.
//!
//! The imports are defined by hand (`add_to_linker`), not through the bindings' `Host`
//! traits, because each must charge fuel to the store: logging as in 1.0.0, and every calendar
//! call `CALENDAR_CALL_FUEL`, plus `CALENDAR_DAY_FUEL` per day classified to answer it. The
//! answers come from the calendar set of the decision (`PluginState::calendars`, the clocks'
//! own, from `RuleContext`); during `describe` the set is empty, so every id is unknown.

use redress_calendar::{Day, DayCount};
use wasmtime::{
    Store, StoreContextMut,
    component::{Component, Linker, WasmStr},
};

use self::redress::ruleset::calendar as cal;
use super::{
    Descriptor, PluginState,
    limits::{
        CALENDAR_CALL_FUEL, CALENDAR_DAY_FUEL, LOG_CALL_FUEL, LOG_MESSAGE_CHARS, charge_fuel,
    },
    v1_0_0::{self, Input},
};
use crate::rules::engine::calendar::{
    CalendarQuestions, MAX_ARGUMENT_CHARS, QuestionError, kind_name, with_work,
};

wasmtime::component::bindgen!({
    world: "ruleset",
    path: "../../plugins/wit/1.1.0",
    with: {
        "redress:ruleset/types@1.1.0": super::v1_0_0::redress::ruleset::types,
    },
});

/// The interface version these bindings are for.
pub const VERSION: &str = "1.1.0";

/// The interfaces a 1.1.0 component may import; anything else is refused at load.
pub const IMPORTS: &[&str] = &[
    "redress:ruleset/types@1.1.0",
    "redress:ruleset/host@1.1.0",
    "redress:ruleset/calendar@1.1.0",
];

type LogLevel = v1_0_0::redress::ruleset::types::LogLevel;

/// Defines the interface's imports in `linker`, by hand: the types (no functions), the
/// logging import and the calendar import.
pub(super) fn add_to_linker(linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
    add_imports(linker, VERSION)
}

/// The imports of `version`, 1.1.0 or a later version whose `host` and `calendar` interfaces
/// are 1.1.0's (1.2.0's are: its bindings map them onto these).
pub(super) fn add_imports(linker: &mut Linker<PluginState>, version: &str) -> wasmtime::Result<()> {
    linker.instance(&format!("redress:ruleset/types@{version}"))?;
    linker
        .instance(&format!("redress:ruleset/host@{version}"))?
        .func_wrap("log", log_import)?;
    let mut calendar = linker.instance(&format!("redress:ruleset/calendar@{version}"))?;
    calendar.func_wrap(
        "day",
        |mut store: StoreContextMut<'_, PluginState>, (id, date): (WasmStr, WasmStr)| {
            let answer = ask(&mut store, &id, &date, |q, id, date| {
                (q.day(id, date).map(|day| day_info(&day)), 1)
            })?;
            Ok((answer,))
        },
    )?;
    calendar.func_wrap(
        "next-working-day",
        |mut store: StoreContextMut<'_, PluginState>, (id, date): (WasmStr, WasmStr)| {
            let answer = ask(&mut store, &id, &date, |q, id, date| {
                with_work(q.next_working_day(id, date), 1, counted)
            })?;
            Ok((answer,))
        },
    )?;
    calendar.func_wrap(
        "add-working-days",
        |mut store: StoreContextMut<'_, PluginState>, (id, date, n): (WasmStr, WasmStr, u32)| {
            let answer = ask(&mut store, &id, &date, |q, id, date| {
                let n = i64::from(n);
                with_work(q.add_working_days(id, date, n), n, counted)
            })?;
            Ok((answer,))
        },
    )?;
    calendar.func_wrap(
        "add-calendar-days",
        |mut store: StoreContextMut<'_, PluginState>,
         (id, date, n, roll_forward): (WasmStr, WasmStr, u32, bool)| {
            let answer = ask(&mut store, &id, &date, |q, id, date| {
                let n = i64::from(n);
                with_work(q.add_calendar_days(id, date, n, roll_forward), n, counted)
            })?;
            Ok((answer,))
        },
    )?;
    Ok(())
}

/// One calendar call: charges the call, reads the two strings in place (refusing, unread
/// beyond validation, any longer than a calendar id or a date can be), asks, and charges the
/// days the question classified (a failed count `calendar::failed_work`). A failure of the
/// question is the plugin's to handle (an error value); running out of fuel traps.
fn ask<T>(
    store: &mut StoreContextMut<'_, PluginState>,
    id: &WasmStr,
    date: &WasmStr,
    question: impl FnOnce(&CalendarQuestions, &str, &str) -> (Result<T, QuestionError>, u32),
) -> wasmtime::Result<Result<T, cal::CalendarError>> {
    charge_fuel(store, CALENDAR_CALL_FUEL)?;
    let (outcome, days) = {
        let id = id.to_str(&*store)?;
        let date = date.to_str(&*store)?;
        if id.len() > MAX_ARGUMENT_CHARS {
            let refused = QuestionError::UnknownCalendar(format!(
                "unknown calendar (an id of {} bytes)",
                id.len()
            ));
            (Err(refused), 0)
        } else if date.len() > MAX_ARGUMENT_CHARS {
            let refused =
                QuestionError::BadDate(format!("not a date (YYYY-MM-DD): {} bytes", date.len()));
            (Err(refused), 0)
        } else {
            question(&store.data().calendars, &id, &date)
        }
    };
    charge_fuel(store, u64::from(days).saturating_mul(CALENDAR_DAY_FUEL))?;
    Ok(outcome.map_err(|error| match error {
        QuestionError::UnknownCalendar(m) => cal::CalendarError::UnknownCalendar(m),
        QuestionError::NotCovered(m) => cal::CalendarError::NotCovered(m),
        QuestionError::BadDate(m) => cal::CalendarError::BadDate(m),
        QuestionError::OutOfRange(m) => cal::CalendarError::OutOfRange(m),
    }))
}

fn day_info(day: &Day) -> cal::DayInfo {
    cal::DayInfo {
        date: day.date.to_string(),
        working: day.is_working(),
        kind: kind_name(&day.kind).to_owned(),
        description: day.kind.describe(),
        provisional: day.provisional,
    }
}

fn counted(count: DayCount) -> Result<cal::CountedDate, QuestionError> {
    Ok(cal::CountedDate {
        date: count.date.to_string(),
        provisional_years: count
            .provisional_years
            .iter()
            .map(|y| i32::from(*y))
            .collect(),
    })
}

/// The logging import, as in 1.0.0 (`v1_0_0::log_import`, which explains why it is defined
/// by hand over a `WasmStr`).
fn log_import(
    mut store: StoreContextMut<'_, PluginState>,
    (level, message): (LogLevel, WasmStr),
) -> wasmtime::Result<()> {
    charge_fuel(&mut store, LOG_CALL_FUEL)?;
    let state = store.data_mut();
    if state.log_lines >= state.max_log_lines {
        return Ok(());
    }
    state.log_lines += 1;
    let (read, kept) = {
        let text = message.to_str(&store)?;
        let kept: String = text.chars().take(LOG_MESSAGE_CHARS).collect();
        (text.len(), kept)
    };
    charge_fuel(&mut store, read as u64)?;
    let plugin = store.data().plugin.as_str();
    match level {
        LogLevel::Debug => tracing::debug!(target: "redress::plugins", plugin, "{kept}"),
        LogLevel::Info => tracing::info!(target: "redress::plugins", plugin, "{kept}"),
        LogLevel::Warn => tracing::warn!(target: "redress::plugins", plugin, "{kept}"),
    }
    Ok(())
}

/// Links a component exporting this version's decider, ready to instantiate.
pub(super) fn link(
    linker: &Linker<PluginState>,
    component: &Component,
) -> wasmtime::Result<RulesetPre<PluginState>> {
    linker.instantiate_pre(component).and_then(RulesetPre::new)
}

/// Instantiates the plugin in `store` and asks it to describe itself.
pub(super) fn describe(
    pre: &RulesetPre<PluginState>,
    store: &mut Store<PluginState>,
) -> wasmtime::Result<Descriptor> {
    let described = pre
        .instantiate(&mut *store)?
        .redress_ruleset_decider()
        .call_describe(store)?;
    Ok(Descriptor {
        id: described.id,
        version: described.version,
        sector: described.sector,
        interface_version: described.interface_version,
    })
}

/// Instantiates the plugin in `store` and asks it to decide on `input` (1.0.0's conversion of
/// the case: the types are the same): its answer as given.
pub(super) fn decide(
    pre: &RulesetPre<PluginState>,
    store: &mut Store<PluginState>,
    input: &Input,
) -> wasmtime::Result<
    Result<v1_0_0::redress::ruleset::types::Decision, v1_0_0::redress::ruleset::types::DecideError>,
> {
    pre.instantiate(&mut *store)?
        .redress_ruleset_decider()
        .call_decide(store, &input.trigger, &input.case, &input.context)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    /// The `interface types` block of a WIT file, without comments and blank lines.
    fn types_interface(version: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../plugins/wit")
            .join(version)
            .join("ruleset.wit");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text.find("interface types {").unwrap();
        let end = start + text[start..].find("\n}\n").unwrap();
        text[start..end]
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .map(str::to_owned)
            .collect()
    }

    /// 1.1.0 reuses 1.0.0's Rust types and conversions for `types`: only sound while the two
    /// interfaces are the same (they are frozen, so this holds for good once it holds).
    #[test]
    fn the_types_interface_of_1_1_0_is_1_0_0s() {
        let old = types_interface("1.0.0");
        assert!(old.len() > 100, "{} lines", old.len());
        assert_eq!(types_interface("1.1.0"), old);
    }
}
