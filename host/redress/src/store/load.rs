//! Raw durable inserts under concurrency: the ceiling that HTTP intake is compared with.
//!
//! `scripts/load` runs this (`redress store-bench`) in the same run as its HTTP load, on the
//! same disk and with the same case record, so the ratio HTTP / store says how much the server
//! adds on top of the storage engine. It writes what intake writes for a case: one transaction
//! (the received event, the events of the rules' decision as `decided` makes them, snapshot,
//! indexes) and a group-commit fsync before the insert counts.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use rand::Rng;
use redress_domain::{Actor, CaseId, CaseIntake, TrackingCode};

use super::{CaseStore, NewCase, Plan, SledOptions, SledStore, StoreError};

/// What a load phase measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadFigures {
    pub inserts: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl LoadFigures {
    /// Percentiles by rank over every latency observed (no sampling), as wrk reports them.
    pub fn from_latencies(mut latencies: Vec<Duration>, elapsed: Duration) -> LoadFigures {
        latencies.sort_unstable();
        let rank = |q: f64| {
            let index = ((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
            latencies
                .get(index.min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        LoadFigures {
            inserts: latencies.len(),
            elapsed,
            p50: rank(0.50),
            p99: rank(0.99),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }

    pub fn per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.inserts as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Inserts `intake` as new cases from `writers` threads for `duration`, each insert durable
/// before the next one of its thread starts, with the events `decided` adds to a new case (as
/// the server's rules would). `data` must not hold a store in use.
pub fn insert_for(
    data: &Path,
    intake: &CaseIntake,
    decided: Option<Plan>,
    writers: usize,
    duration: Duration,
) -> Result<LoadFigures, StoreError> {
    let store = Arc::new(SledStore::open(data, &SledOptions::default())?);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let threads: Vec<_> = (0..writers.max(1))
        .map(|_| {
            let store = Arc::clone(&store);
            let intake = intake.clone();
            let decided = decided.clone();
            std::thread::spawn(move || -> Result<Vec<Duration>, StoreError> {
                let mut latencies = Vec::new();
                let mut rng = rand::rng();
                while Instant::now() < deadline {
                    let now = jiff::Timestamp::now();
                    let case = NewCase {
                        id: CaseId::from_parts(
                            u64::try_from(now.as_millisecond()).unwrap_or(0),
                            rng.random::<u128>(),
                        ),
                        tracking_code: TrackingCode::from_random(rng.random::<u64>()),
                        tenant: redress_domain::TenantId::default_tenant(),
                        intake: intake.clone(),
                        repeat: Default::default(),
                        actor: Actor::api("store-bench"),
                        now,
                        idempotency_key: None,
                        then: decided.clone(),
                    };
                    let begun = Instant::now();
                    match store.create(case) {
                        Ok(_) => latencies.push(begun.elapsed()),
                        // A random 64-bit tracking code colliding is the store doing its job.
                        Err(StoreError::TrackingCodeTaken(_) | StoreError::IdTaken(_)) => {}
                        Err(other) => return Err(other),
                    }
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for thread in threads {
        let joined = thread
            .join()
            .map_err(|_| StoreError::Backend("a writer thread panicked".into()))?;
        latencies.extend(joined?);
    }
    let elapsed = started.elapsed();
    store.flush()?;
    Ok(LoadFigures::from_latencies(latencies, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ranks_over_every_latency() {
        let latencies = (1..=100).map(Duration::from_millis).collect();
        let figures = LoadFigures::from_latencies(latencies, Duration::from_secs(2));
        assert_eq!(figures.inserts, 100);
        assert_eq!(figures.p50, Duration::from_millis(50));
        assert_eq!(figures.p99, Duration::from_millis(99));
        assert_eq!(figures.max, Duration::from_millis(100));
        assert!((figures.per_second() - 50.0).abs() < 1e-9);
    }

    #[test]
    fn no_latencies_are_zero_figures_not_a_panic() {
        let figures = LoadFigures::from_latencies(Vec::new(), Duration::ZERO);
        assert_eq!(figures.inserts, 0);
        assert_eq!(figures.per_second(), 0.0);
    }
}
