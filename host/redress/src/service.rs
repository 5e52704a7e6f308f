//! The application core: validates requests, chooses ids and time, and calls the store on a
//! blocking thread. The HTTP layer and the CLI are thin shells around it.

use std::sync::Arc;

use rand::Rng;
use redress_domain::{
    Actor, Case, CaseId, CaseIntake, EventRecord, HandlerAction, TrackingCode, ValidationErrors,
};

use crate::{
    clock::Clock,
    store::{Append, AuditReport, CaseStore, Created, ListQuery, NewCase, Page, StoreError},
};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("invalid request: {0}")]
    Invalid(ValidationErrors),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal task failed: {0}")]
    Task(String),
}

/// Handles shared by every request.
#[derive(Debug, Clone)]
pub struct Redress {
    store: Arc<dyn CaseStore>,
    clock: Arc<dyn Clock>,
}

/// How often registration retries after drawing a tracking code that is taken. With 40 random
/// bits a second collision in a row means something else is wrong.
const TRACKING_CODE_ATTEMPTS: usize = 4;

impl Redress {
    pub fn new(store: Arc<dyn CaseStore>, clock: Arc<dyn Clock>) -> Self {
        Redress { store, clock }
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn store(&self) -> &Arc<dyn CaseStore> {
        &self.store
    }

    async fn blocking<T, F>(&self, work: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn CaseStore) -> Result<T, StoreError> + Send + 'static,
    {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(store.as_ref()))
            .await
            .map_err(|e| ServiceError::Task(e.to_string()))?
            .map_err(ServiceError::from)
    }

    pub async fn create_case(
        &self,
        tenant: String,
        intake: CaseIntake,
        actor: Actor,
        idempotency_key: Option<String>,
    ) -> Result<Created, ServiceError> {
        let now = self.clock.now();
        intake.validate(now).map_err(ServiceError::Invalid)?;
        let mut last_error = None;
        for _ in 0..TRACKING_CODE_ATTEMPTS {
            let (id, tracking_code) = {
                let mut rng = rand::rng();
                let ms = u64::try_from(now.as_millisecond()).unwrap_or(0);
                (
                    CaseId::from_parts(ms, rng.random::<u128>()),
                    TrackingCode::from_random(rng.random::<u64>()),
                )
            };
            let new = NewCase {
                id,
                tracking_code,
                tenant: tenant.clone(),
                intake: intake.clone(),
                actor: actor.clone(),
                now,
                idempotency_key: idempotency_key.clone(),
            };
            match self.blocking(move |store| store.create(new)).await {
                Err(ServiceError::Store(
                    e @ (StoreError::TrackingCodeTaken(_) | StoreError::IdTaken(_)),
                )) => {
                    last_error = Some(e);
                }
                other => return other,
            }
        }
        Err(ServiceError::Store(last_error.unwrap_or(
            StoreError::Backend("no id could be drawn".into()),
        )))
    }

    pub async fn act(
        &self,
        tenant: String,
        id: CaseId,
        action: HandlerAction,
        actor: Actor,
        expected_version: Option<u64>,
    ) -> Result<(Case, EventRecord), ServiceError> {
        action.validate().map_err(ServiceError::Invalid)?;
        let now = self.clock.now();
        self.blocking(move |store| {
            store.append(Append {
                tenant,
                id,
                action,
                actor,
                now,
                expected_version,
            })
        })
        .await
    }

    pub async fn get(&self, tenant: String, id: CaseId) -> Result<Option<Case>, ServiceError> {
        self.blocking(move |store| store.get(&tenant, id)).await
    }

    pub async fn events(
        &self,
        tenant: String,
        id: CaseId,
    ) -> Result<Option<Vec<EventRecord>>, ServiceError> {
        self.blocking(move |store| store.events(&tenant, id)).await
    }

    pub async fn list(&self, query: ListQuery) -> Result<Page, ServiceError> {
        self.blocking(move |store| store.list(&query)).await
    }

    pub async fn verify(&self) -> Result<AuditReport, ServiceError> {
        self.blocking(|store| store.verify()).await
    }
}
