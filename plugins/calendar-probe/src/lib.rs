//! A plugin of interface `redress:ruleset@1.1.0` that asks the host's calendar a fixed set of
//! questions on every decision and explains the answers, one line each, for the host's tests
//! (`tests/integration/plugins.rs`). With the feature `endless-calendar` it asks forever
//! instead, which the fuel each call costs must stop.

use redress_plugin_sdk::v1_1::{
    CaseView, Context, DecideError, Decision, Descriptor, INTERFACE_VERSION, Ruleset, Trigger,
    calendar::{self, CalendarError, CountedDate},
};

#[derive(Debug)]
pub struct CalendarProbe;

#[cfg(target_arch = "wasm32")]
redress_plugin_sdk::v1_1::export_ruleset!(CalendarProbe);

impl Ruleset for CalendarProbe {
    fn describe() -> Descriptor {
        // The hostile variant is packaged with the other hostile plugins, as `hostile`.
        let id = if cfg!(feature = "endless-calendar") {
            "hostile"
        } else {
            "calendar-probe"
        };
        Descriptor {
            id: id.into(),
            version: "0.1.0".into(),
            sector: "banking".into(),
            interface_version: INTERFACE_VERSION.into(),
        }
    }

    fn decide(_trigger: Trigger, case: CaseView, _ctx: Context) -> Result<Decision, DecideError> {
        if cfg!(feature = "endless-calendar") {
            let mut last = String::new();
            loop {
                if let Ok(counted) = calendar::add_working_days("", "2024-01-01", 3660) {
                    last = std::hint::black_box(counted.date);
                }
                if last == "never" {
                    break;
                }
            }
        }
        Ok(Decision {
            actions: Vec::new(),
            explanation: ask(&case.received_date),
        })
    }
}

/// The questions, and the answers as lines: `question = answer`.
fn ask(received: &str) -> Vec<String> {
    let day = |id: &str, date: &str| match calendar::day(id, date) {
        Ok(d) => format!(
            "{} working={} provisional={} ({})",
            d.kind, d.working, d.provisional, d.description
        ),
        Err(e) => error(&e),
    };
    vec![
        format!("day(2026-10-01) = {}", day("", "2026-10-01")),
        format!("day(2026-10-10) = {}", day("cn-mainland", "2026-10-10")),
        format!(
            "cn-financial day(2026-10-10) = {}",
            day("cn-financial", "2026-10-10")
        ),
        format!("day(2027-10-01) = {}", day("", "2027-10-01")),
        format!(
            "next_working_day(2026-09-30) = {}",
            date(calendar::next_working_day("", "2026-09-30"))
        ),
        format!(
            "add_working_days({received}, 7) = {}",
            date(calendar::add_working_days("", received, 7))
        ),
        format!(
            "add_calendar_days(2026-09-01, 30, roll) = {}",
            date(calendar::add_calendar_days("", "2026-09-01", 30, true))
        ),
        format!(
            "add_calendar_days(2026-09-01, 30, exact) = {}",
            date(calendar::add_calendar_days("", "2026-09-01", 30, false))
        ),
        format!(
            "add_working_days(2026-12-28, 5) = {}",
            date(calendar::add_working_days("", "2026-12-28", 5))
        ),
        format!(
            "firm add_working_days(2026-12-28, 5) = {}",
            match calendar::add_working_days("", "2026-12-28", 5).and_then(CountedDate::firm) {
                Ok(date) => date,
                Err(e) => error(&e),
            }
        ),
        format!("unknown calendar = {}", day("cn-atlantis", "2026-10-01")),
        format!("bad date = {}", day("", "2026-02-30")),
        format!(
            "too many days = {}",
            date(calendar::add_working_days("", "2026-01-01", 4000))
        ),
    ]
}

fn date(answer: Result<CountedDate, CalendarError>) -> String {
    match answer {
        Ok(c) if c.is_provisional() => format!("{} provisional {:?}", c.date, c.provisional_years),
        Ok(c) => c.date,
        Err(e) => error(&e),
    }
}

fn error(e: &CalendarError) -> String {
    match e {
        CalendarError::UnknownCalendar(m) => format!("error unknown-calendar: {m}"),
        CalendarError::NotCovered(m) => format!("error not-covered: {m}"),
        CalendarError::BadDate(m) => format!("error bad-date: {m}"),
        CalendarError::OutOfRange(m) => format!("error out-of-range: {m}"),
    }
}
