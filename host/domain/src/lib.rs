//! The complaint case, its lifecycle and its hash-chained event history.
//!
//! This crate is pure: it knows nothing of HTTP, storage or the wall clock. Every instant it
//! needs is handed to it, so that replaying a case's events always rebuilds the same snapshot.

pub mod case;
pub mod clock;
pub mod contract;
pub mod event;
pub mod ids;
pub mod lifecycle;
pub mod repeat;
pub mod sensitive;
pub mod validate;

pub use case::{Case, CaseIntake};
pub use event::{Actor, EventKind, EventRecord, HandlerAction, Hash};
pub use ids::{CaseId, TenantId, TrackingCode};
pub use lifecycle::{LifecycleError, Status};
pub use sensitive::Sensitive;
pub use validate::{FieldError, ValidationErrors};
