//! The Rhai engine: one shared, sandboxed `rhai::Engine` with the domain vocabulary registered,
//! so that a rule reads like the regulation:
//!
//! ```rhai
//! fn decide(trigger, the_case, ctx) {
//!     if trigger.type != "case_received" { return []; }
//!     if !the_case.complainant.has_name {
//!         return [reject("missing_materials", "art. 15(5)", "the complainant's name is missing")];
//!     }
//!     [accept(), start_clock("mediation", working_days(ctx.settings.mediation_working_days), "art. 21(5)")]
//! }
//! ```
//!
//! Sandbox: built from `Engine::new_raw()` with only the standard language packages (no time
//! package, no module system, no file resolver), `eval` disabled, and limits on operations,
//! call depth, expression depth and string / array / map sizes. `print` and `debug` go to
//! tracing. A script has no way to reach storage, the network, the file system or the clock.
//!
//! The operation limit does not bound time: one operation can take long (`contains` on an
//! array of long strings compares every element, and counts once). So every decision also has
//! a wall-clock deadline, checked before each operation (`on_progress`); a decision past it
//! stops with a `Limit` failure saying so.

use std::{
    cell::Cell,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use redress_calendar::DayCount;
use redress_domain::{
    Case,
    contract::{Action, Decision, Trigger},
};
use rhai::{
    AST, Array, CallFnOptions, Dynamic, Engine, EvalAltResult, ImmutableString, Map,
    NativeCallContext, Scope,
    packages::{Package, StandardPackage},
};

use super::calendar::{
    CalendarQuestions, QuestionError, kind_name, provisional_refusal, with_work,
};
use crate::rules::{RuleContext, RuleError, manifest::Manifest};

mod calendar_functions;
#[cfg(test)]
mod tests;

use calendar_functions::{DecisionCalendars, register_calendar};

/// The limits every rule runs under. Operations bound the time a decision can take in a way
/// that does not depend on the machine's speed, so a decision is deterministic.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_operations: u64,
    pub max_call_levels: usize,
    pub max_expr_depth: usize,
    pub max_function_expr_depth: usize,
    pub max_string_size: usize,
    pub max_array_size: usize,
    pub max_map_size: usize,
    /// Days the calendar functions may classify in one decision, all calls together (each
    /// call is also one operation, like any call). Deterministic, like the operation limit.
    pub max_calendar_days: u64,
    /// Wall-clock bound on one decision.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_operations: 200_000,
            max_call_levels: 32,
            max_expr_depth: 64,
            max_function_expr_depth: 64,
            max_string_size: 64 * 1024,
            max_array_size: 10_000,
            max_map_size: 10_000,
            max_calendar_days: 100_000,
            timeout: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RhaiEngine {
    engine: Arc<Engine>,
    limits: Limits,
}

/// The engine version recorded with every stored decision.
pub const ENGINE_VERSION: &str = "rhai 1.27";

thread_local! {
    /// The deadline of the decision running on this thread. The engine is shared and its
    /// progress callback is set once, so the per-call deadline lives beside the call.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Sets this thread's decision deadline for as long as it lives (a decision cut short by a
/// panic does not leave its deadline to the next one).
struct DeadlineGuard(Option<Instant>);

impl DeadlineGuard {
    fn set(deadline: Instant) -> DeadlineGuard {
        DeadlineGuard(DEADLINE.replace(Some(deadline)))
    }
}

impl Drop for DeadlineGuard {
    fn drop(&mut self) {
        DEADLINE.set(self.0);
    }
}

/// The token a decision past its deadline is terminated with.
const TIMED_OUT: &str = "deadline";

fn s(text: impl Into<ImmutableString>) -> Dynamic {
    Dynamic::from(text.into())
}

fn obj<const N: usize>(pairs: [(&str, Dynamic); N]) -> Map {
    let mut map = Map::new();
    for (key, value) in pairs {
        map.insert(key.into(), value);
    }
    map
}

fn period(unit: &str, amount: i64, roll_forward: bool) -> Map {
    let mut m = obj([("unit", s(unit)), ("amount", Dynamic::from(amount))]);
    if unit == "calendar_days" {
        m.insert("roll_forward".into(), Dynamic::from(roll_forward));
    }
    m
}

fn start_clock(name: &str, period: Map, article: &str, options: Map) -> Map {
    let mut clock = obj([("name", s(name)), ("article", s(article))]);
    for (key, value) in period {
        clock.insert(key, value);
    }
    let mut from = s("now");
    for (key, value) in options {
        if key == "from" {
            from = value;
        } else if key == "warn_before" {
            // A warning point is counted back from the due time: roll-forward has no meaning.
            let mut warn = value.try_cast::<Map>().unwrap_or_default();
            warn.remove("roll_forward");
            clock.insert(key, Dynamic::from_map(warn));
        } else {
            clock.insert(key, value);
        }
    }
    obj([
        ("type", s("start_clock")),
        ("clock", Dynamic::from_map(clock)),
        ("from", from),
    ])
}

fn parse_date(text: &str) -> Result<jiff::civil::Date, Box<EvalAltResult>> {
    let day = text.get(..10).unwrap_or(text);
    day.parse()
        .map_err(|_| format!("`{text}` is not a date (YYYY-MM-DD)").into())
}

fn register_vocabulary(engine: &mut Engine) {
    // Periods.
    engine.register_fn("working_days", |n: i64| period("working_days", n, false));
    engine.register_fn("calendar_days", |n: i64| period("calendar_days", n, true));
    engine.register_fn("calendar_days_exact", |n: i64| {
        period("calendar_days", n, false)
    });
    engine.register_fn("hours", |n: i64| period("hours", n, false));

    // Lifecycle.
    engine.register_fn("accept", || obj([("type", s("accept"))]));
    engine.register_fn("accept", |note: &str| {
        obj([("type", s("accept")), ("note", s(note))])
    });
    engine.register_fn("reject", |ground: &str, article: &str, reason: &str| {
        obj([
            ("type", s("reject")),
            ("ground", s(ground)),
            ("article", s(article)),
            ("reason", s(reason)),
        ])
    });
    engine.register_fn(
        "request_information",
        |fields: Array, article: &str, reason: &str| {
            obj([
                ("type", s("request_information")),
                ("fields", Dynamic::from_array(fields)),
                ("article", s(article)),
                ("reason", s(reason)),
            ])
        },
    );
    engine.register_fn("transfer", |office: &str, reason: &str| {
        obj([
            ("type", s("transfer")),
            ("to_office", s(office)),
            ("reason", s(reason)),
        ])
    });
    engine.register_fn("close", |outcome: &str| {
        obj([("type", s("close")), ("outcome", s(outcome))])
    });
    // Repeat complaints: handle this case with an earlier one of `the_case.repeat_of`.
    engine.register_fn("merge_into", |case_id: &str, reason: &str| {
        obj([
            ("type", s("merge_into")),
            ("case_id", s(case_id)),
            ("reason", s(reason)),
        ])
    });

    // Routing and escalation.
    engine.register_fn("route", |office: &str, reason: &str| {
        obj([
            ("type", s("route")),
            ("office", s(office)),
            ("reason", s(reason)),
        ])
    });
    engine.register_fn("route_to_division", |code: &str, reason: &str| {
        obj([
            ("type", s("route")),
            ("division_code", s(code)),
            ("reason", s(reason)),
        ])
    });
    engine.register_fn("route_to_tier", |tier: &str, reason: &str| {
        obj([
            ("type", s("route")),
            ("tier", s(tier)),
            ("reason", s(reason)),
        ])
    });
    engine.register_fn("escalate", |to: &str, reason: &str| {
        obj([
            ("type", s("escalate")),
            ("to", s(to)),
            ("reason", s(reason)),
        ])
    });
    engine.register_fn("notify", |recipient: &str, template: &str| {
        obj([
            ("type", s("notify")),
            ("recipient", s(recipient)),
            ("template", s(template)),
        ])
    });

    // Classification.
    engine.register_fn("classify", |category: &str| {
        obj([("type", s("classify")), ("category", s(category))])
    });
    engine.register_fn("classify", |category: &str, severity: &str| {
        obj([
            ("type", s("classify")),
            ("category", s(category)),
            ("severity", s(severity)),
        ])
    });
    engine.register_fn("severity", |severity: &str| {
        obj([("type", s("classify")), ("severity", s(severity))])
    });
    engine.register_fn("flag", |name: &str| {
        obj([
            ("type", s("classify")),
            ("flags", Dynamic::from_array(vec![s(name)])),
        ])
    });

    // Clocks.
    engine.register_fn("start_clock", |name: &str, period: Map, article: &str| {
        start_clock(name, period, article, Map::new())
    });
    engine.register_fn("start_clock", start_clock);
    engine.register_fn("pause_clock", |name: &str, reason: &str| {
        obj([
            ("type", s("pause_clock")),
            ("name", s(name)),
            ("reason", s(reason)),
        ])
    });
    engine.register_fn("resume_clock", |name: &str| {
        obj([("type", s("resume_clock")), ("name", s(name))])
    });
    // Overlapping pauses: name the ground that ended (`appraisal` ends `appraisal: 司法鉴定`).
    engine.register_fn("resume_clock", |name: &str, pause: &str| {
        obj([
            ("type", s("resume_clock")),
            ("name", s(name)),
            ("pause", s(pause)),
        ])
    });
    engine.register_fn("stop_clock", |name: &str| {
        obj([("type", s("stop_clock")), ("name", s(name))])
    });
    engine.register_fn("stop_clock", |name: &str, met: bool| {
        obj([
            ("type", s("stop_clock")),
            ("name", s(name)),
            ("met", Dynamic::from(met)),
        ])
    });
    engine.register_fn("extend_clock", |name: &str, amount: i64, reason: &str| {
        obj([
            ("type", s("extend_clock")),
            ("name", s(name)),
            ("amount", Dynamic::from(amount)),
            ("reason", s(reason)),
        ])
    });
    engine.register_fn(
        "extend_clock",
        |name: &str, amount: i64, reason: &str, approved_by: &str, complainant_notified: bool| {
            obj([
                ("type", s("extend_clock")),
                ("name", s(name)),
                ("amount", Dynamic::from(amount)),
                ("reason", s(reason)),
                ("approved_by", s(approved_by)),
                ("complainant_notified", Dynamic::from(complainant_notified)),
            ])
        },
    );
    engine.register_fn("restart_clock", |name: &str, reason: &str| {
        obj([
            ("type", s("restart_clock")),
            ("name", s(name)),
            ("reason", s(reason)),
        ])
    });

    // Reasoning.
    engine.register_fn("because", |text: &str| {
        obj([("type", s("because")), ("text", s(text))])
    });

    // Dates (text in, numbers out: rules never hold clock values).
    engine.register_fn(
        "days_between",
        |from: &str, to: &str| -> Result<i64, Box<EvalAltResult>> {
            let (from, to) = (parse_date(from)?, parse_date(to)?);
            Ok(i64::from(
                from.until(to).map_err(|e| e.to_string())?.get_days(),
            ))
        },
    );
    engine.register_fn(
        "years_between",
        |from: &str, to: &str| -> Result<i64, Box<EvalAltResult>> {
            let (from, to) = (parse_date(from)?, parse_date(to)?);
            let span = from
                .until((jiff::Unit::Year, to))
                .map_err(|e| e.to_string())?;
            Ok(i64::from(span.get_years()))
        },
    );
}

impl RhaiEngine {
    pub fn new(limits: Limits) -> Self {
        let mut engine = Engine::new_raw();
        StandardPackage::new().register_into_engine(&mut engine);
        engine.disable_symbol("eval");
        engine.set_max_operations(limits.max_operations);
        engine.set_max_call_levels(limits.max_call_levels);
        engine.set_max_expr_depths(limits.max_expr_depth, limits.max_function_expr_depth);
        engine.set_max_string_size(limits.max_string_size);
        engine.set_max_array_size(limits.max_array_size);
        engine.set_max_map_size(limits.max_map_size);
        engine.set_strict_variables(true);
        engine.on_progress(|_operations| {
            let late = DEADLINE
                .get()
                .is_some_and(|deadline| Instant::now() >= deadline);
            late.then(|| s(TIMED_OUT))
        });
        engine.on_print(|text| tracing::info!(target: "redress::rules", "{text}"));
        engine.on_debug(|text, source, position| {
            tracing::debug!(target: "redress::rules", source = source.unwrap_or("-"), %position, "{text}")
        });
        register_vocabulary(&mut engine);
        register_calendar(&mut engine);
        RhaiEngine {
            engine: Arc::new(engine),
            limits,
        }
    }

    /// Compiles a rules file; errors name the file, line and column.
    pub fn compile(&self, source: &str, origin: &str) -> Result<AST, RuleError> {
        let ast = self
            .engine
            .compile(source)
            .map_err(|e| RuleError::Compile {
                origin: origin.to_owned(),
                message: e.to_string(),
            })?;
        if !ast
            .iter_functions()
            .any(|f| f.name == "decide" && f.params.len() == 3)
        {
            return Err(RuleError::Compile {
                origin: origin.to_owned(),
                message: "no `fn decide(trigger, case, ctx)`".into(),
            });
        }
        Ok(ast)
    }

    /// Converts a ruleset's settings once, at load time.
    pub fn settings(manifest: &Manifest) -> Result<Dynamic, RuleError> {
        let json = serde_json::to_value(&manifest.settings)
            .map_err(|e| RuleError::InvalidOutput(e.to_string()))?;
        rhai::serde::to_dynamic(json).map_err(|e| RuleError::InvalidOutput(e.to_string()))
    }

    /// Runs `decide(trigger, case, ctx)` and checks that the result is a decision.
    pub fn decide(
        &self,
        ast: &AST,
        manifest: &Manifest,
        settings: &Dynamic,
        trigger: &Trigger,
        case: &Case,
        ctx: &RuleContext<'_>,
    ) -> Result<Decision, RuleError> {
        let convert = |e: Box<EvalAltResult>| RuleError::InvalidOutput(e.to_string());
        let trigger_value = trigger_to_rhai(trigger).map_err(convert)?;
        let case_value = crate::rules::view::to_rhai(case);
        let today = ctx.now.to_zoned(case.time_zone()).date().to_string();
        let ctx_value = Dynamic::from_map(obj([
            ("now", s(ctx.now.to_string())),
            ("today", s(today)),
            ("settings", settings.clone()),
            (
                "ruleset",
                s(format!("{}@{}", manifest.id, manifest.version)),
            ),
            ("calendar", s(manifest.calendar.as_str())),
        ]));
        // The calendar functions answer from the calendars in force for this decision.
        let calendars = DecisionCalendars {
            questions: CalendarQuestions::new(ctx.calendars, &manifest.calendar),
            days_left: Arc::new(AtomicU64::new(self.limits.max_calendar_days)),
        };
        let _deadline = DeadlineGuard::set(Instant::now() + self.limits.timeout);
        let result: Dynamic = self
            .engine
            .call_fn_with_options(
                CallFnOptions::new().eval_ast(false).with_tag(calendars),
                &mut Scope::new(),
                ast,
                "decide",
                // Shared: rules pass the case and the context to helper functions, and Rhai
                // copies arguments; a shared value copies a pointer, not the whole map.
                (
                    trigger_value,
                    case_value.into_shared(),
                    ctx_value.into_shared(),
                ),
            )
            .map_err(|e| classify_failure(*e, self.limits.timeout))?;
        self.to_decision(result, manifest)
    }

    fn to_decision(&self, result: Dynamic, manifest: &Manifest) -> Result<Decision, RuleError> {
        let items: Array = result.try_cast::<Array>().ok_or_else(|| {
            RuleError::InvalidOutput("`decide` must return an array of actions".into())
        })?;
        // The decision's size is checked once for both engines (`rules::check_decision`); the
        // item count is checked here first only so that a huge answer is not converted.
        if items.len() > crate::rules::MAX_DECISION_ITEMS {
            return Err(RuleError::InvalidOutput(format!(
                "{} items; at most {} are accepted",
                items.len(),
                crate::rules::MAX_DECISION_ITEMS
            )));
        }
        let mut decision = Decision::default();
        for (i, item) in items.into_iter().enumerate() {
            let Some(mut map) = item.try_cast::<Map>() else {
                return Err(RuleError::InvalidOutput(format!(
                    "item {i} is not an action (a map with a `type`)"
                )));
            };
            let kind = map
                .get("type")
                .and_then(|t| t.clone().into_immutable_string().ok());
            if kind.as_deref() == Some("because") {
                let text = map
                    .get("text")
                    .and_then(|t| t.clone().into_immutable_string().ok())
                    .unwrap_or_default();
                decision.explanation.push(text.to_string());
                continue;
            }
            if let Some(clock) = map
                .get_mut("clock")
                .and_then(|c| c.write_lock::<Map>())
                .as_deref_mut()
            {
                clock
                    .entry("calendar".into())
                    .or_insert_with(|| s(manifest.calendar.as_str()));
            }
            let value = Dynamic::from_map(map);
            let action: Action = rhai::serde::from_dynamic(&value).map_err(|e| {
                RuleError::InvalidOutput(format!(
                    "item {i} ({}): {e}",
                    kind.as_deref().unwrap_or("no type")
                ))
            })?;
            decision.actions.push(action);
        }
        Ok(decision)
    }
}

/// The trigger as the rules see it: `#{type: "case_received"}`, `#{type: "clock_breach",
/// clock: "acceptance"}`, ... The same shape serde gives, built directly: this runs on every
/// decision, and only a handler action has enough fields to be worth serde.
fn trigger_to_rhai(trigger: &Trigger) -> Result<Dynamic, Box<EvalAltResult>> {
    let map = match trigger {
        Trigger::CaseReceived => obj([("type", s("case_received"))]),
        Trigger::HandlerEvent { action } => obj([
            ("type", s("handler_event")),
            ("action", rhai::serde::to_dynamic(action)?),
        ]),
        Trigger::ClockWarning { clock } => {
            obj([("type", s("clock_warning")), ("clock", s(clock.as_str()))])
        }
        Trigger::ClockBreach { clock } => {
            obj([("type", s("clock_breach")), ("clock", s(clock.as_str()))])
        }
    };
    Ok(Dynamic::from_map(map))
}

fn classify_failure(error: EvalAltResult, timeout: Duration) -> RuleError {
    match error {
        EvalAltResult::ErrorTerminated(_, position) => RuleError::Limit(format!(
            "the rules took longer than {} ms (their time bound) at {position}",
            timeout.as_millis()
        )),
        EvalAltResult::ErrorTooManyOperations(position) => RuleError::Limit(format!(
            "too many operations (an endless loop?) at {position}"
        )),
        EvalAltResult::ErrorStackOverflow(position) => RuleError::Limit(format!(
            "calls nested too deeply (endless recursion?) at {position}"
        )),
        EvalAltResult::ErrorDataTooLarge(what, position) => {
            RuleError::Limit(format!("{what} grew beyond its limit at {position}"))
        }
        other => RuleError::Script(other.to_string()),
    }
}
