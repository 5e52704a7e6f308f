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

/// What the calendar functions of one decision ask: the calendar set in force for it (the
/// clocks' own, from `RuleContext`) and the days they may still classify. Handed to the call as
/// its Rhai *tag*, so it lives exactly as long as the decision; nothing is global.
#[derive(Debug, Clone)]
struct DecisionCalendars {
    questions: CalendarQuestions,
    days_left: Arc<AtomicU64>,
}

/// Runs one calendar question for `function`: the days it classified (a failed one too) are
/// charged to the decision's calendar budget, and its errors become rule failures naming the
/// function.
fn ask<T>(
    call: &NativeCallContext,
    function: &str,
    question: impl FnOnce(&CalendarQuestions) -> (Result<T, QuestionError>, u32),
) -> Result<T, Box<EvalAltResult>> {
    let fail = |message: String| {
        Box::new(EvalAltResult::ErrorRuntime(
            s(format!("{function}: {message}")),
            call.call_position(),
        ))
    };
    let calendars = call
        .tag()
        .and_then(|tag| tag.read_lock::<DecisionCalendars>())
        .ok_or_else(|| fail("no calendar is available outside a decision".into()))?;
    let (answer, days) = question(&calendars.questions);
    let days = u64::from(days);
    let left = calendars.days_left.load(Ordering::Relaxed);
    if days > left {
        calendars.days_left.store(0, Ordering::Relaxed);
        return Err(Box::new(EvalAltResult::ErrorDataTooLarge(
            "the days the calendar functions classified in this decision".into(),
            call.call_position(),
        )));
    }
    calendars.days_left.store(left - days, Ordering::Relaxed);
    answer.map_err(|e| fail(e.to_string()))
}

/// A count's answer for the plain functions: the date, or a refusal when it is provisional.
fn firm(
    questions: &CalendarQuestions,
    calendar: &str,
    count: DayCount,
    instead: &str,
) -> Result<String, QuestionError> {
    if count.is_provisional() {
        let id = questions.calendar(calendar)?.id();
        return Err(QuestionError::NotCovered(provisional_refusal(
            id,
            &count.provisional_years,
            instead,
        )));
    }
    Ok(count.date.to_string())
}

/// A count's answer for the `_or_provisional` functions:
/// `#{date, provisional, provisional_years}`.
fn marked(count: DayCount) -> Result<Map, QuestionError> {
    let years: Array = count
        .provisional_years
        .iter()
        .map(|y| Dynamic::from(i64::from(*y)))
        .collect();
    let map = obj([
        ("date", s(count.date.to_string())),
        ("provisional", Dynamic::from(count.is_provisional())),
        ("provisional_years", Dynamic::from_array(years)),
    ]);
    Ok(map)
}

/// The calendar functions (rulesets/README.md, "Asking the calendar").
fn register_calendar(engine: &mut Engine) {
    engine.register_fn(
        "is_working_day",
        |call: NativeCallContext, calendar: &str, date: &str| {
            ask(&call, "is_working_day", |q| {
                let answer = q.day(calendar, date).and_then(|day| {
                    if day.provisional {
                        let id = q.calendar(calendar)?.id();
                        return Err(QuestionError::NotCovered(provisional_refusal(
                            id,
                            &[day.date.year()],
                            "calendar_day",
                        )));
                    }
                    Ok(day.is_working())
                });
                (answer, 1)
            })
        },
    );
    engine.register_fn(
        "calendar_day",
        |call: NativeCallContext, calendar: &str, date: &str| {
            ask(&call, "calendar_day", |q| {
                let answer = q.day(calendar, date).map(|day| {
                    obj([
                        ("date", s(day.date.to_string())),
                        ("working", Dynamic::from(day.is_working())),
                        ("kind", s(kind_name(&day.kind))),
                        ("description", s(day.kind.describe())),
                        ("provisional", Dynamic::from(day.provisional)),
                    ])
                });
                (answer, 1)
            })
        },
    );
    engine.register_fn(
        "next_working_day",
        |call: NativeCallContext, calendar: &str, date: &str| {
            ask(&call, "next_working_day", |q| {
                with_work(q.next_working_day(calendar, date), 1, |count| {
                    firm(q, calendar, count, "next_working_day_or_provisional")
                })
            })
        },
    );
    engine.register_fn(
        "next_working_day_or_provisional",
        |call: NativeCallContext, calendar: &str, date: &str| {
            ask(&call, "next_working_day_or_provisional", |q| {
                with_work(q.next_working_day(calendar, date), 1, marked)
            })
        },
    );
    engine.register_fn(
        "add_working_days",
        |call: NativeCallContext, calendar: &str, date: &str, n: i64| {
            ask(&call, "add_working_days", |q| {
                with_work(q.add_working_days(calendar, date, n), n, |count| {
                    firm(q, calendar, count, "add_working_days_or_provisional")
                })
            })
        },
    );
    engine.register_fn(
        "add_working_days_or_provisional",
        |call: NativeCallContext, calendar: &str, date: &str, n: i64| {
            ask(&call, "add_working_days_or_provisional", |q| {
                with_work(q.add_working_days(calendar, date, n), n, marked)
            })
        },
    );
    engine.register_fn(
        "add_calendar_days",
        |call: NativeCallContext, calendar: &str, date: &str, n: i64, roll_forward: bool| {
            ask(&call, "add_calendar_days", |q| {
                let count = q.add_calendar_days(calendar, date, n, roll_forward);
                with_work(count, n, |count| {
                    firm(q, calendar, count, "add_calendar_days_or_provisional")
                })
            })
        },
    );
    engine.register_fn(
        "add_calendar_days_or_provisional",
        |call: NativeCallContext, calendar: &str, date: &str, n: i64, roll_forward: bool| {
            ask(&call, "add_calendar_days_or_provisional", |q| {
                let count = q.add_calendar_days(calendar, date, n, roll_forward);
                with_work(count, n, marked)
            })
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use redress_domain::HandlerAction;

    use super::*;

    /// Rules are written against serde's shape of a trigger; the direct conversion must give it.
    #[test]
    fn the_direct_trigger_conversion_equals_serde() {
        for trigger in [
            Trigger::CaseReceived,
            Trigger::HandlerEvent {
                action: HandlerAction::StartAppraisal {
                    reason: "鉴定".into(),
                },
            },
            Trigger::HandlerEvent {
                action: HandlerAction::Accept { note: None },
            },
            Trigger::ClockWarning {
                clock: "acceptance".into(),
            },
            Trigger::ClockBreach {
                clock: "mediation".into(),
            },
        ] {
            let direct: serde_json::Value =
                rhai::serde::from_dynamic(&trigger_to_rhai(&trigger).unwrap()).unwrap();
            let via_serde: serde_json::Value =
                rhai::serde::from_dynamic(&rhai::serde::to_dynamic(&trigger).unwrap()).unwrap();
            assert_eq!(direct, via_serde, "{trigger:?}");
        }
    }

    /// The banking ruleset's manifest (calendar `cn-mainland`) and its first fixture's case as
    /// it stands before the decision.
    fn a_case() -> (Manifest, Case, jiff::Timestamp) {
        let package_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../rulesets/banking-insurance");
        let package = crate::rules::package::Package::read_dir(&package_dir).unwrap();
        let (banking, fixtures) =
            crate::rules::LoadedRuleset::compile(&RhaiEngine::new(Limits::default()), &package)
                .unwrap();
        let fixture = fixtures.iter().min_by_key(|f| f.name.clone()).unwrap();
        let case = fixture.evaluate(&banking, &shipped()).unwrap().case_before;
        (banking.manifest.clone(), case, fixture.now)
    }

    fn shipped() -> redress_calendar::CalendarSet {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/calendars");
        redress_calendar::CalendarSet::load_dir(dir).unwrap()
    }

    /// The shipped `cn-mainland` renamed `cn-refusing`, without its statute: a calendar that
    /// refuses the years it has no schedule for.
    fn with_a_refusing_calendar() -> redress_calendar::CalendarSet {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/calendars");
        let text = std::fs::read_to_string(dir.join("cn-mainland.toml")).unwrap();
        let refusing: String = text
            .lines()
            .filter(|l| !l.starts_with("statute = "))
            .map(|l| match l {
                l if l.starts_with("uncovered = ") => "uncovered = \"refuse\"\n".to_owned(),
                l if l.starts_with("id = ") => "id = \"cn-refusing\"\n".to_owned(),
                l => format!("{l}\n"),
            })
            .collect();
        let statute =
            std::fs::read_to_string(dir.join("statutes/cn-national-holidays.toml")).unwrap();
        redress_calendar::CalendarSet::from_sources_with_statutes(
            [("cn-national-holidays.toml", statute)],
            [
                ("cn-mainland.toml", text),
                ("cn-refusing.toml", refusing),
                (
                    "cn-financial.toml",
                    std::fs::read_to_string(dir.join("cn-financial.toml")).unwrap(),
                ),
            ],
        )
        .unwrap()
    }

    /// An engine and a case to run small rules on.
    struct Probe {
        engine: RhaiEngine,
        manifest: Manifest,
        case: Case,
        now: jiff::Timestamp,
    }

    impl Probe {
        fn new(limits: Limits) -> Probe {
            let (manifest, case, now) = a_case();
            Probe {
                engine: RhaiEngine::new(limits),
                manifest,
                case,
                now,
            }
        }

        /// Runs `fn decide(trigger, the_case, ctx) { <body> }`; its explanation, joined.
        fn run(
            &self,
            calendars: &redress_calendar::CalendarSet,
            body: &str,
        ) -> Result<String, RuleError> {
            let source = format!("fn decide(trigger, the_case, ctx) {{ {body} }}");
            let ast = self.engine.compile(&source, "calendar.rhai").unwrap();
            let ctx = RuleContext {
                now: self.now,
                calendars,
            };
            let decision = self.engine.decide(
                &ast,
                &self.manifest,
                &Dynamic::UNIT,
                &Trigger::CaseReceived,
                &self.case,
                &ctx,
            )?;
            Ok(decision.explanation.join(" | "))
        }

        /// `expression`'s value, as text.
        fn value_of(
            &self,
            calendars: &redress_calendar::CalendarSet,
            expression: &str,
        ) -> Result<String, RuleError> {
            self.run(calendars, &format!("[because(`${{{expression}}}`)]"))
        }
    }

    /// Every calendar function on real 2025 and 2026 holidays, the ruleset's calendar by an
    /// empty id or `ctx.calendar`, the provisional forms, and every failure.
    #[test]
    fn the_calendar_functions_table() {
        let calendars = with_a_refusing_calendar();
        #[rustfmt::skip]
        let table: &[(&str, Result<&str, &str>)] = &[
            // is_working_day
            (r#"is_working_day("cn-mainland", "2026-10-01")"#, Ok("false")),
            (r#"is_working_day("cn-mainland", "2026-10-10")"#, Ok("true")),   // make-up Saturday
            (r#"is_working_day("cn-mainland", "2025-09-28")"#, Ok("true")),   // make-up Sunday
            (r#"is_working_day("cn-mainland", "2026-10-09")"#, Ok("true")),
            (r#"is_working_day("cn-mainland", "2026-03-07")"#, Ok("false")),  // ordinary Saturday
            (r#"is_working_day("", "2026-02-16")"#, Ok("false")),             // the ruleset's calendar
            (r#"is_working_day(ctx.calendar, "2026-02-14")"#, Ok("true")),
            (r#"ctx.calendar"#, Ok("cn-mainland")),
            // next_working_day
            (r#"next_working_day("cn-mainland", "2026-09-30")"#, Ok("2026-10-08")),
            (r#"next_working_day("cn-mainland", "2025-09-30")"#, Ok("2025-10-09")),
            (r#"next_working_day("cn-mainland", "2026-10-09")"#, Ok("2026-10-10")),
            (r#"next_working_day("cn-mainland", "2026-02-13")"#, Ok("2026-02-14")),
            // add_working_days: the start day is not counted
            (r#"add_working_days("cn-mainland", "2026-02-13", 7)"#, Ok("2026-03-02")),
            (r#"add_working_days("cn-mainland", "2026-09-30", 7)"#, Ok("2026-10-15")),
            (r#"add_working_days("cn-mainland", "2026-10-03", 7)"#, Ok("2026-10-15")),
            (r#"add_working_days("cn-mainland", "2025-01-27", 1)"#, Ok("2025-02-05")),
            (r#"add_working_days("cn-mainland", "2026-10-01", 0)"#, Ok("2026-10-08")),
            (r#"add_working_days("cn-mainland", "2026-02-13", 0)"#, Ok("2026-02-13")),
            // add_calendar_days: 民法典 art. 203 ¶1, the last day rolled off a holiday
            (r#"add_calendar_days("cn-mainland", "2026-09-01", 30, true)"#, Ok("2026-10-08")),
            (r#"add_calendar_days("cn-mainland", "2026-09-01", 30, false)"#, Ok("2026-10-01")),
            (r#"add_calendar_days("cn-mainland", "2025-09-01", 30, true)"#, Ok("2025-10-09")),
            (r#"add_calendar_days("cn-mainland", "2025-01-01", 30, true)"#, Ok("2025-02-05")),
            (r#"add_calendar_days("cn-mainland", "2026-04-01", 3, true)"#, Ok("2026-04-07")),
            (r#"add_calendar_days("cn-mainland", "2023-05-01", 1096, true)"#, Ok("2026-05-06")),
            (r#"add_calendar_days("cn-mainland", "2026-10-01", 0, true)"#, Ok("2026-10-08")),
            // A count into 2027 that classifies no day of it is firm.
            (r#"add_calendar_days("cn-mainland", "2026-12-29", 31, false)"#, Ok("2027-01-29")),
            // The financial variant: make-up Saturdays are rest days.
            (r#"is_working_day("cn-financial", "2026-10-10")"#, Ok("false")),
            (r#"next_working_day("cn-financial", "2026-10-09")"#, Ok("2026-10-12")),
            // calendar_day
            (r#"calendar_day("cn-mainland", "2026-10-01").kind"#, Ok("holiday")),
            (r#"calendar_day("cn-mainland", "2026-10-10").kind"#, Ok("make_up_workday")),
            (r#"calendar_day("cn-mainland", "2026-10-01").provisional"#, Ok("false")),
            (r#"calendar_day("cn-mainland", "2026-10-05").description"#, Ok("holiday: 国庆节")),
            (r#"calendar_day("cn-mainland", "2027-10-01").kind"#, Ok("statutory_holiday")),
            (r#"calendar_day("cn-mainland", "2027-10-01").provisional"#, Ok("true")),
            (r#"calendar_day("cn-mainland", "2027-10-01").working"#, Ok("false")),
            // The provisional forms say what a year without a published schedule decided.
            (r#"add_working_days_or_provisional("cn-mainland", "2026-12-28", 5).date"#, Ok("2027-01-05")),
            (r#"add_working_days_or_provisional("cn-mainland", "2026-12-28", 5).provisional"#, Ok("true")),
            (r#"add_working_days_or_provisional("cn-mainland", "2026-12-28", 5).provisional_years"#, Ok("[2027]")),
            (r#"add_working_days_or_provisional("cn-mainland", "2026-02-13", 7).provisional"#, Ok("false")),
            (r#"add_working_days_or_provisional("cn-mainland", "2026-02-13", 7).provisional_years"#, Ok("[]")),
            (r#"next_working_day_or_provisional("cn-mainland", "2026-12-31").date"#, Ok("2027-01-04")),
            (r#"add_calendar_days_or_provisional("cn-mainland", "2026-12-02", 30, true).date"#, Ok("2027-01-04")),
            (r#"add_calendar_days_or_provisional("cn-mainland", "2026-09-01", 30, true).date"#, Ok("2026-10-08")),
            // The plain forms refuse an answer a missing schedule decided, naming the way out.
            (r#"add_working_days("cn-mainland", "2026-12-28", 5)"#,
             Err("add_working_days: the answer depends on 2027, for which calendar cn-mainland has no published schedule")),
            (r#"add_working_days("", "2026-12-28", 5)"#, Err("`add_working_days_or_provisional` accepts a provisional answer")),
            (r#"next_working_day("cn-mainland", "2026-12-31")"#, Err("`next_working_day_or_provisional` accepts")),
            (r#"add_calendar_days("cn-mainland", "2026-12-02", 30, true)"#, Err("`add_calendar_days_or_provisional` accepts")),
            (r#"is_working_day("cn-mainland", "2027-10-01")"#, Err("depends on 2027, for which calendar cn-mainland")),
            (r#"is_working_day("cn-mainland", "2027-10-01")"#, Err("`calendar_day` accepts")),
            // A calendar that refuses uncovered years refuses in every form.
            (r#"add_working_days_or_provisional("cn-refusing", "2026-12-28", 5)"#,
             Err("calendar cn-refusing has no official holiday schedule for 2027-01-01")),
            (r#"calendar_day("cn-refusing", "2023-01-01")"#, Err("has no official holiday schedule for 2023-01-01")),
            (r#"is_working_day("cn-refusing", "2026-10-01")"#, Ok("false")),
            // Unknown calendars, bad dates, n out of range.
            (r#"is_working_day("cn-mainlnd", "2026-10-01")"#,
             Err("is_working_day: unknown calendar `cn-mainlnd` (in force: cn-financial, cn-mainland, cn-refusing)")),
            (r#"calendar_day("x", "2026-10-01")"#, Err("calendar_day: unknown calendar `x`")),
            (r#"add_working_days("cn-mainland", "2026-02-30", 1)"#, Err("add_working_days: `2026-02-30` is not a date (YYYY-MM-DD)")),
            (r#"add_working_days("cn-mainland", the_case.received_at, 1)"#, Err("is not a date (YYYY-MM-DD)")),
            (r#"next_working_day("cn-mainland", "30/09/2026")"#, Err("`30/09/2026` is not a date")),
            (r#"add_calendar_days("cn-mainland", "", 1, true)"#, Err("`` is not a date")),
            (r#"add_working_days("cn-mainland", "2026-02-13", -1)"#, Err("add_working_days: n = -1 is out of range (0 to 3660 days)")),
            (r#"add_calendar_days("cn-mainland", "2026-02-13", 3661, false)"#, Err("n = 3661 is out of range")),
            (r#"add_calendar_days("cn-mainland", "9999-12-30", 5, false)"#, Err("add_calendar_days: date or time out of range")),
            // Wrong argument types are Rhai's own error, still a rule failure.
            (r#"add_working_days("cn-mainland", "2026-02-13", "7")"#, Err("Function not found: add_working_days")),
        ];
        let probe = Probe::new(Limits::default());
        for (expression, expected) in table {
            let got = probe.value_of(&calendars, expression);
            match (expected, got) {
                (Ok(value), Ok(got)) => assert_eq!(&got, value, "{expression}"),
                (Err(message), Err(error)) => {
                    let error = error.to_string();
                    assert!(error.contains(message), "{expression}: {error}");
                    assert!(
                        error.starts_with("the rule failed: "),
                        "{expression}: {error}"
                    );
                }
                (expected, got) => panic!("{expression}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    /// The functions answer from the calendar set of the decision they run in: the same
    /// compiled rules on the same engine give another answer with another set.
    #[test]
    fn the_calendar_functions_use_the_decisions_calendar_set() {
        let weekends_only = redress_calendar::CalendarSet::from_sources([(
            "cn-mainland.toml",
            "id = \"cn-mainland\"\nname = \"weekends only\"\ntime_zone = \"Asia/Shanghai\"\n\
             working_weekdays = [\"mon\", \"tue\", \"wed\", \"thu\", \"fri\"]\n\
             [[years]]\nyear = 2026\nsource = \"test\"\n",
        )])
        .unwrap();
        let probe = Probe::new(Limits::default());
        let body = r#"[because(next_working_day(ctx.calendar, "2026-09-30"))]"#;
        assert_eq!(probe.run(&shipped(), body).unwrap(), "2026-10-08");
        assert_eq!(probe.run(&weekends_only, body).unwrap(), "2026-10-01");
        assert_eq!(probe.run(&shipped(), body).unwrap(), "2026-10-08");
    }

    /// Each calendar call is an operation like any call, and the days the calls classify are
    /// bounded per decision, deterministically.
    #[test]
    fn calendar_calls_count_as_operations_and_their_work_is_bounded() {
        let calendars = shipped();
        let limits = Limits {
            max_operations: 2_000,
            ..Limits::default()
        };
        let probe = Probe::new(limits);
        // The same loop fits without the calls and not with them.
        let bare = "let n = 0; for i in 0..300 { n += 1; } [because(`${n}`)]";
        assert_eq!(probe.run(&calendars, bare).unwrap(), "300");
        let calling = r#"let n = 0; for i in 0..300 { if is_working_day("", "2026-10-09") { n += 1; } } [because(`${n}`)]"#;
        let error = probe.run(&calendars, calling).unwrap_err();
        assert!(
            matches!(&error, RuleError::Limit(m) if m.contains("too many operations")),
            "{error}"
        );
        // Ten-year counts in a loop stop at the calendar budget, long before any time bound.
        let probe = Probe::new(Limits::default());
        let heavy = r#"let d = ""; for i in 0..1000 { d = add_working_days_or_provisional("", "2024-01-01", 2400).date; } [because(d)]"#;
        let started = Instant::now();
        let error = probe.run(&calendars, heavy).unwrap_err();
        assert!(
            matches!(&error, RuleError::Limit(m) if m.contains("the days the calendar functions classified in this decision")),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        // Failed questions are charged too, and catching their errors does not escape the cap.
        let refused = r#"for i in 0..1000 { try { add_working_days("", "2026-12-28", 3000); } catch { } } [because("done")]"#;
        let error = probe.run(&calendars, refused).unwrap_err();
        assert!(
            matches!(&error, RuleError::Limit(m) if m.contains("the days the calendar functions classified")),
            "{error}"
        );
        // A few such counts are fine.
        let few = r#"let d = ""; for i in 0..3 { d = add_working_days("", "2024-01-01", 400); } [because(d)]"#;
        assert_eq!(probe.run(&calendars, few).unwrap(), "2025-08-08");
    }

    /// Finding 2 of the sandbox review: the operation limit does not bound time, since one
    /// operation (`contains` on an array of long strings) can take long; a decision ran 40 s.
    #[test]
    fn rhai_decisions_are_bounded_in_wall_clock_time() {
        let limits = Limits {
            timeout: Duration::from_millis(300),
            ..Limits::default()
        };
        let engine = RhaiEngine::new(limits);
        let ast = engine
            .compile(
                r#"
                fn decide(trigger, the_case, ctx) {
                    let hay = [];
                    for i in 0..9999 { hay.push(i); }
                    let found = 0;
                    for i in 0..100000 { if hay.contains(-1) { found += 1; } }
                    []
                }
                "#,
                "slow.rhai",
            )
            .unwrap();
        let package_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../rulesets/banking-insurance");
        let package = crate::rules::package::Package::read_dir(&package_dir).unwrap();
        let (banking, _) =
            crate::rules::LoadedRuleset::compile(&RhaiEngine::new(Limits::default()), &package)
                .unwrap();
        let manifest = banking.manifest.clone();
        let fixture = std::fs::read_dir(package_dir.join("cases"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .min()
            .unwrap();
        let fixture = crate::rules::fixtures::Fixture::parse(
            &std::fs::read_to_string(&fixture).unwrap(),
            "slow",
            "slow",
        )
        .unwrap();
        let calendars = redress_calendar::CalendarSet::load_dir(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rulesets/calendars"),
        )
        .unwrap();
        let case = fixture.evaluate(&banking, &calendars).unwrap().case_before;
        let ctx = RuleContext {
            now: fixture.now,
            calendars: &calendars,
        };
        let started = Instant::now();
        let error = engine
            .decide(
                &ast,
                &manifest,
                &Dynamic::UNIT,
                &Trigger::CaseReceived,
                &case,
                &ctx,
            )
            .unwrap_err();
        let took = started.elapsed();
        assert!(
            error.to_string().contains("took longer than 300 ms"),
            "{error}"
        );
        assert!(took < Duration::from_secs(2), "took {took:?}");
    }
}
