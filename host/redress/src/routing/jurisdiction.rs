//! Routing applied to cases: the office a case is with, the checks on actions that move it
//! between offices, and the resolution of a ruleset's `route` action into an office.

use redress_domain::{Case, EventKind, contract::Action};

use super::{RouteQuery, RoutingTable};

/// The office a case is with: where it was routed, or else the office of its assignment.
pub fn current_office(case: &Case) -> Option<&str> {
    case.ruling
        .routed_to
        .as_ref()
        .and_then(|r| r.office.as_deref())
        .or_else(|| case.assignment.as_ref().and_then(|a| a.office.as_deref()))
}

/// Checks an action that moves a case between offices against the tenant's table: an upward
/// referral goes to the office directly above, a takeover comes from an office above, and an
/// office that received a case it can handle keeps it (a transfer away needs a supervisor's
/// approval). Without a table, or with the case at no known office, referral and takeover are
/// refused (nothing to check them against) and transfers are left to the lifecycle.
pub fn check_jurisdiction(
    table: Option<&RoutingTable>,
    case: &Case,
    action: &redress_domain::HandlerAction,
) -> Result<(), String> {
    use redress_domain::HandlerAction as H;
    let needs_table = matches!(action, H::ReferUp { .. } | H::TakeOver { .. });
    let (Some(table), Some(current)) = (table, current_office(case)) else {
        return if needs_table {
            Err("referral and takeover need the tenant's routing table and the case at a known office".into())
        } else {
            Ok(())
        };
    };
    match action {
        H::ReferUp { to_office, .. } => match table.parent_of(current) {
            Some(parent) if parent.id == *to_office => Ok(()),
            Some(parent) => Err(format!(
                "the office above `{current}` is `{}`, not `{to_office}`",
                parent.id
            )),
            None => Err(format!("`{current}` has no office above it")),
        },
        H::TakeOver { office, .. } => {
            if table.ancestors(current).iter().any(|o| o.id == *office) {
                Ok(())
            } else {
                Err(format!(
                    "`{office}` is not above `{current}`, so it cannot take the case over"
                ))
            }
        }
        H::Transfer {
            supervisor_approved: false,
            ..
        } => {
            let competent = table.office(current).is_some_and(|office| {
                table.is_competent(office, &RouteQuery::for_intake(&case.intake))
            });
            if competent {
                Err(format!(
                    "`{current}` received the case and can handle it: the first office to receive a case \
                     that several could handle keeps it (a supervisor may approve a transfer)"
                ))
            } else {
                Ok(())
            }
        }
        _ => Ok(()),
    }
}

/// Gives the `route` actions of a decision that name no office the office `table` resolves
/// (from the division code the rules chose, or else the case's place with jurisdiction), and
/// says why in the decision's explanation. The office is written into the recorded action, so
/// replaying the history never consults a table that may have changed since.
pub fn resolve_route_actions(table: &RoutingTable, case: &Case, events: &mut [EventKind]) {
    for event in events {
        let EventKind::Decision {
            actions,
            explanation,
            ..
        } = event
        else {
            continue;
        };
        for action in actions.iter_mut() {
            let Action::Route {
                office: office @ None,
                division_code,
                ..
            } = action
            else {
                continue;
            };
            let mut query = RouteQuery::for_intake(&case.intake);
            if let Some(code) = division_code {
                query.division_code = Some(code.clone());
                query.place = "as the ruleset decided".into();
            }
            match table.resolve(&query) {
                Some(resolution) => {
                    explanation.push(format!(
                        "routing table: office {} ({}); {}",
                        resolution.office.id,
                        resolution.office.name,
                        resolution.why.join("; ")
                    ));
                    *office = Some(resolution.office.id);
                }
                None => explanation.push(
                    "routing table: no rule matches and there is no default; the case stays with intake"
                        .into(),
                ),
            }
        }
    }
}
