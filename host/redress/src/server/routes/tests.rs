//! A handler works only the cases assigned to them, judged on the case as it stands when the
//! action is written: a reassignment that lands between the handler's request and its write is
//! seen (issue #14 §3).
#![allow(clippy::unwrap_used)]

use redress_domain::TenantId;
use std::sync::{Arc, Mutex, PoisonError};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use jiff::Timestamp;
use redress_calendar::CalendarSet;
use redress_domain::{Actor, Case, CaseId, EventRecord, HandlerAction, Hash};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{
    access::{AccessControl, AccessFile, Role},
    rules::{
        Registry,
        rhai_engine::{Limits, RhaiEngine},
    },
    server::{HttpOptions, router},
    service::{Calendars, Redress},
    store::{
        Append, AuditProblem, AuditReport, CaseStore, Created, DueClock, HealthCounts, ListQuery,
        MemoryStore, NewCase, Page, StoreError,
    },
    time_source::ManualTimeSource,
};

/// A store that, once armed, writes `before_next_append` just before the next append reaches
/// the store: another request's write landing between a request's reads and its own write.
#[derive(Debug, Default)]
struct Interleaving {
    inner: MemoryStore,
    before_next_append: Mutex<Option<Append>>,
}

impl Interleaving {
    fn arm(&self, write: Append) {
        *self
            .before_next_append
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(write);
    }
}

impl CaseStore for Interleaving {
    fn create(&self, new: NewCase) -> Result<Created, StoreError> {
        self.inner.create(new)
    }
    fn append(&self, append: Append) -> Result<(Case, Vec<EventRecord>), StoreError> {
        let first = self
            .before_next_append
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(first) = first {
            self.inner.append(first)?;
        }
        self.inner.append(append)
    }
    fn due(&self, until: Timestamp, limit: usize) -> Result<Vec<DueClock>, StoreError> {
        self.inner.due(until, limit)
    }
    fn get(&self, tenant: &TenantId, id: CaseId) -> Result<Option<Case>, StoreError> {
        self.inner.get(tenant, id)
    }
    fn get_by_tracking_code(&self, code: &str) -> Result<Option<Case>, StoreError> {
        self.inner.get_by_tracking_code(code)
    }
    fn events(
        &self,
        tenant: &TenantId,
        id: CaseId,
    ) -> Result<Option<Vec<EventRecord>>, StoreError> {
        self.inner.events(tenant, id)
    }
    fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
        self.inner.list(query)
    }
    fn same_complainant(
        &self,
        query: &crate::store::ComplainantQuery,
    ) -> Result<Vec<Case>, StoreError> {
        self.inner.same_complainant(query)
    }
    fn verify(&self) -> Result<AuditReport, StoreError> {
        self.inner.verify()
    }
    fn cases_with_open_clocks(&self, calendar: &str) -> Result<Vec<CaseId>, StoreError> {
        self.inner.cases_with_open_clocks(calendar)
    }
    fn health_counts(&self) -> Result<HealthCounts, StoreError> {
        self.inner.health_counts()
    }
    fn acknowledged_losses(&self) -> Vec<AuditProblem> {
        self.inner.acknowledged_losses()
    }
    fn heads(&self, tenant: Option<&TenantId>) -> Result<Vec<(CaseId, u64, Hash)>, StoreError> {
        self.inner.heads(tenant)
    }
    fn event_hash(&self, id: CaseId, seq: u64) -> Result<Option<Hash>, StoreError> {
        self.inner.event_hash(id, seq)
    }
}

/// A server on `store` with a supervisor's and a handler's key of the `default` tenant.
struct Fixture {
    router: Router,
    store: Arc<Interleaving>,
    now: Timestamp,
    supervisor: String,
    handler: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let now: Timestamp = "2026-02-14T02:00:00Z".parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut keys = AccessFile::default();
    let (_, supervisor) = keys
        .create_key(
            &TenantId::from_static("default"),
            Role::Supervisor,
            "sam",
            None,
            None,
            now,
        )
        .unwrap();
    let (_, handler) = keys
        .create_key(
            &TenantId::from_static("default"),
            Role::Handler,
            "alice",
            None,
            None,
            now,
        )
        .unwrap();
    let access_path = dir.path().join("access.json");
    keys.save(&access_path).unwrap();
    let store = Arc::new(Interleaving::default());
    let app = Redress::new(
        Arc::clone(&store) as Arc<dyn CaseStore>,
        Arc::new(ManualTimeSource::new(now)),
        Calendars::new(CalendarSet::default()),
        Arc::new(Registry::new(RhaiEngine::new(Limits::default()))),
    );
    let options = HttpOptions {
        access: Arc::new(AccessControl::from_file(&access_path).unwrap()),
        ..HttpOptions::development().unwrap()
    };
    Fixture {
        router: router(app, &options),
        store,
        now,
        supervisor,
        handler,
        _dir: dir,
    }
}

impl Fixture {
    async fn post(&self, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let request = Request::post(path)
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A case the supervisor registered and assigned to the handler `alice`.
    async fn case_assigned_to_alice(&self) -> CaseId {
        let (status, case) = self.post(&self.supervisor, "/v1/cases", complaint()).await;
        assert_eq!(status, StatusCode::CREATED, "{case}");
        let id: CaseId = case["id"].as_str().unwrap().parse().unwrap();
        let (status, acted) = self
            .post(
                &self.supervisor,
                &format!("/v1/cases/{id}/events"),
                json!({"type": "assign", "assignee": "alice"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{acted}");
        id
    }

    /// The supervisor's reassignment to `bob`, to land just before the next write.
    fn reassign_to_bob_before_the_next_write(&self, id: CaseId) {
        self.store.arm(Append::action(
            &TenantId::from_static("default"),
            id,
            HandlerAction::Assign {
                assignee: "bob".into(),
                office: None,
            },
            Actor::api("sam"),
            self.now,
        ));
    }

    /// Whether `alice` recorded anything on the case.
    fn alice_acted(&self, id: CaseId) -> bool {
        self.store
            .events(&TenantId::from_static("default"), id)
            .unwrap()
            .unwrap()
            .iter()
            .any(|e| e.actor.id.starts_with("alice"))
    }
}

fn complaint() -> Value {
    json!({
        "sector": "market_supervision",
        "channel": "hotline",
        "received_at": "2026-02-13T10:00:00+08:00",
        "complainant": {"name": "张三", "phone": "13800138000", "address": "杭州市西湖区文三路1号"},
        "respondent": {"name": "某某电器有限公司", "address": "杭州市西湖区", "division_code": "330106"},
        "claim": "退货退款",
        "facts": "空调安装后无法制冷，商家拒绝退货",
        "amount": {"value": "3999.00"},
        "evidence": [{"kind": "invoice", "reference": "INV-2026-0001"}]
    })
}

fn assert_reassigned_away(status: StatusCode, problem: &Value) {
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(
        problem["type"], "urn:redress:problem:forbidden",
        "{problem}"
    );
    assert_eq!(
        problem["detail"],
        "the case is assigned to `bob`; a handler works only the cases assigned to them",
        "{problem}"
    );
}

#[tokio::test]
async fn a_handler_action_racing_a_reassignment_is_refused() {
    let server = fixture();
    let id = server.case_assigned_to_alice().await;
    server.reassign_to_bob_before_the_next_write(id);
    let (status, problem) = server
        .post(
            &server.handler,
            &format!("/v1/cases/{id}/events"),
            json!({"type": "note", "text": "called the complainant"}),
        )
        .await;
    assert_reassigned_away(status, &problem);
    assert!(!server.alice_acted(id), "nothing of alice's was recorded");
    let case = server
        .store
        .get(&TenantId::from_static("default"), id)
        .unwrap()
        .unwrap();
    assert_eq!(
        case.assignment.map(|a| a.assignee).as_deref(),
        Some("bob"),
        "the reassignment stands"
    );
}

#[tokio::test]
async fn a_handler_clock_change_racing_a_reassignment_is_refused() {
    let server = fixture();
    let id = server.case_assigned_to_alice().await;
    server.reassign_to_bob_before_the_next_write(id);
    let (status, problem) = server
        .post(
            &server.handler,
            &format!("/v1/cases/{id}/clocks"),
            json!({"type": "pause", "name": "acceptance", "reason": "appraisal"}),
        )
        .await;
    assert_reassigned_away(status, &problem);
    assert!(!server.alice_acted(id), "nothing of alice's was recorded");
}

#[tokio::test]
async fn the_assignee_still_acts() {
    let server = fixture();
    let id = server.case_assigned_to_alice().await;
    let (status, acted) = server
        .post(
            &server.handler,
            &format!("/v1/cases/{id}/events"),
            json!({"type": "note", "text": "called the complainant"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{acted}");
    assert!(server.alice_acted(id));
}
