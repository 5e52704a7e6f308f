//! The calendar functions of the Rhai vocabulary (`is_working_day`, `add_working_days`, …):
//! each asks the calendar set in force for the decision, handed to the call as its tag.

use super::*;

/// What the calendar functions of one decision ask: the calendar set in force for it (the
/// clocks' own, from `RuleContext`) and the days they may still classify. Handed to the call as
/// its Rhai *tag*, so it lives exactly as long as the decision; nothing is global.
#[derive(Debug, Clone)]
pub(super) struct DecisionCalendars {
    pub(super) questions: CalendarQuestions,
    pub(super) days_left: Arc<AtomicU64>,
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
pub(super) fn register_calendar(engine: &mut Engine) {
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
