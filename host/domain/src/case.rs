//! The complaint case: what intake records, and the snapshot derived from the event history.

use std::collections::BTreeMap;

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    clock::{CaseClock, ClockChange, ClockError, apply_change},
    contract::{ManualHandling, RulesetRef, RulingState},
    event::{Actor, EventKind, EventRecord, HandlerAction, Hash},
    ids::{CaseId, TrackingCode},
    lifecycle::{self, LifecycleError, Status},
    sensitive::Sensitive,
    validate::{ValidationErrors, text},
};

/// The regulated sector a case belongs to; it selects the ruleset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Sector {
    /// 市场监管 (12315).
    MarketSupervision,
    /// 银行业保险业.
    Banking,
    /// 医疗机构.
    Healthcare,
    /// 物业管理.
    Property,
    /// 12345 government hotline and 信访.
    GovernmentHotline,
}

impl Sector {
    pub const ALL: [Sector; 5] = [
        Sector::MarketSupervision,
        Sector::Banking,
        Sector::Healthcare,
        Sector::Property,
        Sector::GovernmentHotline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Sector::MarketSupervision => "market_supervision",
            Sector::Banking => "banking",
            Sector::Healthcare => "healthcare",
            Sector::Property => "property",
            Sector::GovernmentHotline => "government_hotline",
        }
    }
}

/// Complaint (投诉: a consumer's own dispute), report (举报: a lead about a violation, may be
/// anonymous) or inquiry (咨询).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    #[default]
    Complaint,
    Report,
    Inquiry,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Hotline,
    Web,
    Email,
    Letter,
    WalkIn,
    /// Transferred from another office; `transferred_from` names it.
    Transfer,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityDocument {
    /// e.g. `resident_id_card`, `passport`, `business_license`.
    pub kind: String,
    pub number: Sensitive<String>,
}

/// Someone acting for the complainant (art. 10: original power of attorney and the agent's ID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Agent {
    pub name: Sensitive<String>,
    pub phone: Option<Sensitive<String>>,
    pub identity_document: Option<IdentityDocument>,
    /// Whether the original power of attorney was provided.
    #[serde(default)]
    pub power_of_attorney: bool,
}

/// The person complaining or reporting. Every identifying field is personal data: masked for
/// roles that do not need it and never written to logs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Complainant {
    pub name: Option<Sensitive<String>>,
    pub phone: Option<Sensitive<String>>,
    pub address: Option<Sensitive<String>>,
    pub identity_document: Option<IdentityDocument>,
    /// No identity given (reports may be anonymous; complaints need identity).
    #[serde(default)]
    pub anonymous: bool,
    pub agent: Option<Agent>,
}

/// How a respondent sells online, which decides jurisdiction (market supervision art. 12–13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnlineRole {
    /// Runs the platform itself.
    PlatformOperator,
    /// Sells on someone else's platform.
    PlatformSeller,
    /// Sells through its own website.
    OwnWebsite,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnlinePresence {
    pub role: OnlineRole,
    pub platform_name: Option<String>,
    /// GB/T 2260 code of the platform operator's domicile.
    pub platform_division_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Respondent {
    pub name: String,
    pub address: Option<String>,
    /// GB/T 2260 administrative division code (6 digits: province, city, county).
    pub division_code: Option<String>,
    pub online: Option<OnlinePresence>,
}

/// A sum of money as a decimal string, never a float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Amount {
    /// Decimal, at most two fraction digits, e.g. `"1299.50"`.
    pub value: String,
    /// ISO 4217, e.g. `CNY`.
    #[serde(default = "default_currency")]
    pub currency: String,
}

fn default_currency() -> String {
    "CNY".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Order,
    Invoice,
    Manual,
    WarrantyCard,
    Certificate,
    Other,
}

/// A piece of evidence described by its metadata; the documents themselves live elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub kind: EvidenceKind,
    pub description: Option<String>,
    /// An order number, invoice number or document reference.
    pub reference: Option<String>,
    pub issued_on: Option<jiff::civil::Date>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

pub const DEFAULT_TENANT: &str = "default";
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

fn default_time_zone() -> String {
    DEFAULT_TIME_ZONE.into()
}

fn default_complainant_count() -> u32 {
    1
}

/// Everything recorded when a case is registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseIntake {
    pub sector: Sector,
    #[serde(default)]
    pub kind: CaseKind,
    pub channel: Channel,
    /// The office the case came from, required when `channel` is `transfer`.
    pub transferred_from: Option<String>,
    /// When the competent office received the case (RFC 3339 with offset). Deadlines count from
    /// here. Defaults to the moment the server registers it.
    pub received_at: Option<Timestamp>,
    /// IANA time zone in which the case's days are counted.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    #[serde(default)]
    pub complainant: Complainant,
    /// Joint or group complaints: how many complainants (banking art. 29: 20 or more make a
    /// major complaint; property: 10 or more owners).
    #[serde(default = "default_complainant_count")]
    pub complainant_count: u32,
    pub respondent: Respondent,
    /// What the complainant asks for.
    pub claim: String,
    /// What happened.
    #[serde(default)]
    pub facts: String,
    pub category: Option<String>,
    pub amount: Option<Amount>,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    /// The sender's own reference (hotline ticket number, letter number).
    pub external_ref: Option<String>,
    /// When the complainant knew or should have known of the harm (the 3-year limit of market
    /// supervision art. 15(4) counts from here).
    pub harm_known_on: Option<jiff::civil::Date>,
    /// Why the goods or services were bought (market supervision art. 15(3)).
    pub purpose: Option<Purpose>,
    /// Who filed the complaint (banking art. 18 ¶4).
    pub filed_by: Option<FiledBy>,
    /// Other bodies already dealing with the same dispute (art. 15(2); healthcare; 12345).
    #[serde(default)]
    pub handled_elsewhere: Vec<Proceeding>,
    /// Sector-specific facts the rulesets read (e.g. `departments_involved`,
    /// `owners_committee`, `safety_risk`); values are strings, numbers or booleans.
    #[serde(default)]
    pub attributes: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    PersonalConsumption,
    Business,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FiledBy {
    Complainant,
    LegalRepresentative,
    AuthorisedAgent,
    ThirdParty,
}

/// A proceeding about the same dispute before another body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Proceeding {
    pub body: ProceedingBody,
    pub status: ProceedingStatus,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProceedingBody {
    Court,
    Arbitration,
    AdministrativeAgency,
    ConsumerAssociation,
    Mediator,
    HealthAuthority,
    Petition,
    PublicSecurity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProceedingStatus {
    Accepted,
    Handled,
    Concluded,
}

/// GB/T 2260 province-level prefixes (the first two digits of a division code).
const PROVINCE_PREFIXES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82,
];

/// Checks a GB/T 2260 administrative division code: six digits with a real province prefix.
pub fn check_division_code(code: &str) -> Result<(), String> {
    let digits = code.as_bytes();
    if digits.len() != 6 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(format!("`{code}` is not a 6-digit GB/T 2260 division code"));
    }
    let province = (digits[0] - b'0') * 10 + (digits[1] - b'0');
    if !PROVINCE_PREFIXES.contains(&province) {
        return Err(format!(
            "`{code}` does not start with a GB/T 2260 province code"
        ));
    }
    Ok(())
}

/// A tenant id: lowercase letters, digits, `-` and `_`, 1 to 63 characters.
pub fn check_tenant(tenant: &str) -> Result<(), String> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 63
        && tenant
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && tenant.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{tenant}` is not a tenant id (lowercase letters, digits, `-`, `_`; at most 63)"
        ))
    }
}

fn check_phone(phone: &str) -> bool {
    let digits = phone.bytes().filter(u8::is_ascii_digit).count();
    (5..=20).contains(&digits)
        && phone
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b' ' | b'(' | b')'))
}

fn check_decimal(value: &str) -> bool {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    !whole.is_empty()
        && whole.len() <= 15
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.len() <= 2
        && fraction.bytes().all(|b| b.is_ascii_digit())
        && !(value.contains('.') && fraction.is_empty())
}

/// How far in the future a receipt time may lie, for clocks that are slightly off.
const CLOCK_SKEW_SECONDS: i64 = 300;

/// What a masked identifying value reads as.
pub const MASK: &str = "***";

fn mask(value: &mut Sensitive<String>) {
    value.0 = MASK.to_owned();
}

impl Complainant {
    /// Replaces every identifying value (name, phone, address, identity document number, and
    /// the agent's) with [`MASK`], keeping which ones were given, for roles that must not see
    /// them.
    pub fn mask_identity(&mut self) {
        for value in [&mut self.name, &mut self.phone, &mut self.address]
            .into_iter()
            .flatten()
        {
            mask(value);
        }
        if let Some(document) = &mut self.identity_document {
            mask(&mut document.number);
        }
        if let Some(agent) = &mut self.agent {
            mask(&mut agent.name);
            if let Some(phone) = &mut agent.phone {
                mask(phone);
            }
            if let Some(document) = &mut agent.identity_document {
                mask(&mut document.number);
            }
        }
    }
}

impl CaseIntake {
    /// Every field-level problem, with the JSON pointer of the field. `now` bounds the receipt
    /// time: a case cannot have been received in the future.
    pub fn validate(&self, now: Timestamp) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if jiff::tz::TimeZone::get(&self.time_zone).is_err() {
            errors.push(
                "/time_zone",
                format!("`{}` is not an IANA time zone", self.time_zone),
            );
        }
        if let Some(received) = self.received_at {
            if received.as_second() > now.as_second() + CLOCK_SKEW_SECONDS {
                errors.push(
                    "/received_at",
                    format!("{received} is in the future (now is {now})"),
                );
            }
            if received.as_second() < 946_684_800 {
                errors.push("/received_at", "must not be before 2000-01-01");
            }
        }
        match (self.channel, &self.transferred_from) {
            (Channel::Transfer, None) => errors.push(
                "/transferred_from",
                "is required when channel is `transfer`",
            ),
            (_, Some(from)) => text(&mut errors, "/transferred_from", from, 200),
            _ => {}
        }
        self.validate_complainant(&mut errors);
        if !(1..=1_000_000).contains(&self.complainant_count) {
            errors.push("/complainant_count", "must be between 1 and 1000000");
        }
        text(&mut errors, "/respondent/name", &self.respondent.name, 200);
        if let Some(address) = &self.respondent.address {
            text(&mut errors, "/respondent/address", address, 500);
        }
        if let Some(code) = &self.respondent.division_code
            && let Err(e) = check_division_code(code)
        {
            errors.push("/respondent/division_code", e);
        }
        if let Some(online) = &self.respondent.online {
            if let Some(code) = &online.platform_division_code
                && let Err(e) = check_division_code(code)
            {
                errors.push("/respondent/online/platform_division_code", e);
            }
            if online.role == OnlineRole::PlatformSeller && online.platform_name.is_none() {
                errors.push(
                    "/respondent/online/platform_name",
                    "is required for a platform seller",
                );
            }
        }
        text(&mut errors, "/claim", &self.claim, 10_000);
        if self.facts.chars().count() > 50_000 {
            errors.push("/facts", "must be at most 50000 characters");
        }
        if let Some(category) = &self.category {
            text(&mut errors, "/category", category, 100);
        }
        if let Some(amount) = &self.amount {
            if !check_decimal(&amount.value) {
                errors.push(
                    "/amount/value",
                    "must be a decimal like `1299.50` (at most 2 fraction digits)",
                );
            }
            if amount.currency.len() != 3
                || !amount.currency.bytes().all(|b| b.is_ascii_uppercase())
            {
                errors.push("/amount/currency", "must be an ISO 4217 code like `CNY`");
            }
        }
        if self.evidence.len() > 100 {
            errors.push("/evidence", "at most 100 items");
        }
        for (i, item) in self.evidence.iter().enumerate() {
            if let Some(d) = &item.description {
                text(&mut errors, &format!("/evidence/{i}/description"), d, 2_000);
            }
            if item.metadata.len() > 50 {
                errors.push(format!("/evidence/{i}/metadata"), "at most 50 entries");
            }
        }
        if self.attributes.len() > 50 {
            errors.push("/attributes", "at most 50 entries");
        }
        for (key, value) in &self.attributes {
            let scalar = value.is_string() || value.is_number() || value.is_boolean();
            if !scalar
                || key.is_empty()
                || key.len() > 64
                || value.as_str().is_some_and(|v| v.len() > 1_000)
            {
                errors.push(format!("/attributes/{key}"), "must be a string (at most 1000), number or boolean, with a key of 1 to 64 characters");
            }
        }
        if self.handled_elsewhere.len() > 20 {
            errors.push("/handled_elsewhere", "at most 20 items");
        }
        if let (Some(known), Some(received)) = (self.harm_known_on, self.received_at)
            && let Ok(tz) = jiff::tz::TimeZone::get(&self.time_zone)
            && known > received.to_zoned(tz).date()
        {
            errors.push("/harm_known_on", "must not be after the receipt");
        }
        if let Some(r) = &self.external_ref {
            text(&mut errors, "/external_ref", r, 200);
        }
        errors.into_result()
    }

    fn validate_complainant(&self, errors: &mut ValidationErrors) {
        let c = &self.complainant;
        if c.anonymous {
            for (present, field) in [
                (c.name.is_some(), "name"),
                (c.phone.is_some(), "phone"),
                (c.identity_document.is_some(), "identity_document"),
            ] {
                if present {
                    errors.push(
                        format!("/complainant/{field}"),
                        "must be absent when the complainant is anonymous",
                    );
                }
            }
        }
        if let Some(name) = &c.name {
            text(errors, "/complainant/name", name.expose(), 200);
        }
        if let Some(phone) = &c.phone
            && !check_phone(phone.expose())
        {
            errors.push(
                "/complainant/phone",
                "is not a phone number (5 to 20 digits)",
            );
        }
        if let Some(address) = &c.address {
            text(errors, "/complainant/address", address.expose(), 500);
        }
        if let Some(doc) = &c.identity_document {
            text(errors, "/complainant/identity_document/kind", &doc.kind, 50);
            text(
                errors,
                "/complainant/identity_document/number",
                doc.number.expose(),
                50,
            );
        }
        if let Some(agent) = &c.agent {
            text(errors, "/complainant/agent/name", agent.name.expose(), 200);
            if let Some(phone) = &agent.phone
                && !check_phone(phone.expose())
            {
                errors.push(
                    "/complainant/agent/phone",
                    "is not a phone number (5 to 20 digits)",
                );
            }
        }
    }
}

/// Whether the handling is an investigation or a mediation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Investigation,
    Mediation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Assignment {
    pub assignee: String,
    pub office: Option<String>,
    pub assigned_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    Resolved,
    Rejected,
    Terminated,
    Withdrawn,
}

/// How handling ended (the latest outcome, if the case was reopened since).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub text: Option<String>,
    pub ground: Option<String>,
    pub article: Option<String>,
    pub at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TransferRecord {
    pub to_office: String,
    pub reason: String,
    pub at: Timestamp,
}

/// A case as it stands: always equal to replaying its events (`Case::replay`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Case {
    pub id: CaseId,
    pub tracking_code: TrackingCode,
    pub tenant: crate::TenantId,
    pub sector: Sector,
    pub status: Status,
    pub stage: Option<Stage>,
    /// When the case was received: the intake's `received_at`, or the registration time.
    pub received_at: Timestamp,
    pub intake: CaseIntake,
    pub assignment: Option<Assignment>,
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub transfers: Vec<TransferRecord>,
    #[serde(default)]
    pub reopen_count: u32,
    /// The ruleset version that decides this case, pinned by its first decision.
    pub ruleset: Option<RulesetRef>,
    /// What the rulesets decided beyond the lifecycle: classification, routing, escalations,
    /// notifications owed, information requested.
    #[serde(default)]
    pub ruling: RulingState,
    /// Set when the rules could not decide; cleared only by `clear_manual_handling`.
    pub manual_handling: Option<ManualHandling>,
    /// The statutory clocks, by name.
    #[serde(default)]
    pub clocks: BTreeMap<String, CaseClock>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// The sequence number of the latest event; also an optimistic-concurrency token.
    pub version: u64,
    /// The hash of the latest event: the head of the case's chain.
    pub head_hash: Hash,
    /// The keyed hash of the complainant's phone or identity number, from the `received` event
    /// (what the store's repeat index is keyed on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complainant_key: Option<crate::repeat::ComplainantKey>,
    /// The earlier cases this one may repeat, as found at intake.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeat_of: Vec<crate::repeat::RepeatCandidate>,
    /// The earlier case the rules merged this one into (`merge_into`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<crate::repeat::CaseLink>,
    /// The later cases merged into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<crate::repeat::CaseLink>,
}

/// Why an event cannot be applied to a case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Lifecycle(#[from] LifecycleError),
    #[error("the first event of a case must be `received`")]
    NotReceivedFirst,
    #[error("`received` may only be the first event of a case")]
    ReceivedAgain,
    #[error("event {found} does not follow event {expected_prev}")]
    OutOfOrder { expected_prev: u64, found: u64 },
    #[error("a case's history is empty")]
    Empty,
    #[error(transparent)]
    Clock(#[from] ClockError),
    #[error("the case is closed: reopen it before changing its clocks")]
    ClosedCase,
    /// A deadline could not be computed (unknown calendar, a year the calendar does not cover).
    #[error("{0}")]
    Deadline(String),
    /// A case that was transferred once is not passed on again (market supervision art. 13,
    /// the property and 12345 rules): the receiving office handles it or returns it.
    #[error(
        "the case was already transferred once ({previous}); a transferred case is not transferred again unless a supervisor approves (`supervisor_approved`)"
    )]
    AlreadyTransferred { previous: String },
    /// Moving the case between offices is not allowed by the tenant's offices and routing
    /// (upward referral to an office that is not above, a transfer away from a competent
    /// office that received the case first...).
    #[error("{0}")]
    Jurisdiction(String),
    #[error("the case is not in manual handling: there is nothing to clear")]
    NotInManualHandling,
}

impl Case {
    /// Whether the case is still being worked: received, accepted, transferred, in progress or
    /// reopened (not ended by an outcome, a rejection, a withdrawal or closing).
    pub fn is_open(&self) -> bool {
        matches!(
            self.status,
            Status::Received
                | Status::Accepted
                | Status::Transferred
                | Status::InProgress
                | Status::Reopened
        )
    }

    /// The office that has the case now: the assigning office, else the office of the last
    /// transfer, else the office the rules routed it to.
    pub fn current_office(&self) -> Option<&str> {
        self.assignment
            .as_ref()
            .and_then(|a| a.office.as_deref())
            .or_else(|| self.transfers.last().map(|t| t.to_office.as_str()))
            .or_else(|| {
                self.ruling
                    .routed_to
                    .as_ref()
                    .and_then(|r| r.office.as_deref())
            })
    }

    /// The person the case is assigned to, if anyone.
    pub fn assignee(&self) -> Option<&str> {
        self.assignment.as_ref().map(|a| a.assignee.as_str())
    }

    /// The event that registers a case, and the case it creates.
    pub fn register(
        id: CaseId,
        tracking_code: TrackingCode,
        tenant: crate::TenantId,
        intake: CaseIntake,
        actor: Actor,
        now: Timestamp,
    ) -> Result<(Case, EventRecord), ApplyError> {
        Case::register_with(
            id,
            tracking_code,
            tenant,
            intake,
            crate::repeat::RepeatFacts::default(),
            actor,
            now,
        )
    }

    /// [`Case::register`] with what the host found about repeats (the complainant key and the
    /// earlier cases), recorded on the `received` event.
    pub fn register_with(
        id: CaseId,
        tracking_code: TrackingCode,
        tenant: crate::TenantId,
        intake: CaseIntake,
        repeat: crate::repeat::RepeatFacts,
        actor: Actor,
        now: Timestamp,
    ) -> Result<(Case, EventRecord), ApplyError> {
        let record = EventRecord::seal(
            id,
            1,
            now,
            actor,
            EventKind::Received {
                tracking_code,
                tenant,
                intake: Box::new(intake),
                complainant_key: repeat.complainant_key,
                repeat_of: repeat.repeat_of,
            },
            Hash::GENESIS,
        );
        let case = Case::from_first(&record)?;
        Ok((case, record))
    }

    fn from_first(record: &EventRecord) -> Result<Case, ApplyError> {
        let EventKind::Received {
            tracking_code,
            tenant,
            intake,
            complainant_key,
            repeat_of,
        } = &record.event
        else {
            return Err(ApplyError::NotReceivedFirst);
        };
        if record.seq != 1 {
            return Err(ApplyError::OutOfOrder {
                expected_prev: 0,
                found: record.seq,
            });
        }
        Ok(Case {
            id: record.case_id,
            tracking_code: tracking_code.clone(),
            tenant: tenant.clone(),
            sector: intake.sector,
            status: Status::Received,
            stage: None,
            received_at: intake.received_at.unwrap_or(record.recorded_at),
            intake: intake.as_ref().clone(),
            assignment: None,
            outcome: None,
            transfers: Vec::new(),
            reopen_count: 0,
            ruleset: None,
            ruling: RulingState::default(),
            manual_handling: None,
            clocks: BTreeMap::new(),
            created_at: record.recorded_at,
            updated_at: record.recorded_at,
            version: record.seq,
            head_hash: record.hash,
            complainant_key: complainant_key.clone(),
            repeat_of: repeat_of.clone(),
            merged_into: None,
            merged_from: Vec::new(),
        })
    }

    /// Checks a handler action against the lifecycle and seals the event that records it,
    /// without changing the case (the store applies it inside its transaction).
    pub fn next_event(
        &self,
        action: HandlerAction,
        actor: Actor,
        now: Timestamp,
    ) -> Result<EventRecord, ApplyError> {
        self.check_handler(&action)?;
        Ok(self.seal(EventKind::Handler { action }, actor, now))
    }

    /// The lifecycle table looks only at the status, which forgets a transfer once the receiving
    /// office accepts; the transfer history and the intake's origin remember it. Checked when a
    /// new event is made, not on replay, so that a history recorded before this rule still
    /// replays.
    fn check_not_transferred_before(&self) -> Result<(), ApplyError> {
        if let Some(last) = self.transfers.last() {
            return Err(ApplyError::AlreadyTransferred {
                previous: format!("to {} at {}", last.to_office, last.at),
            });
        }
        if let Some(from) = &self.intake.transferred_from {
            return Err(ApplyError::AlreadyTransferred {
                previous: format!("received by transfer from {from}"),
            });
        }
        if self.intake.channel == Channel::Transfer {
            return Err(ApplyError::AlreadyTransferred {
                previous: "received through the transfer channel".into(),
            });
        }
        Ok(())
    }

    /// Seals `event` as the case's next event (it is checked when applied).
    pub fn seal(&self, event: EventKind, actor: Actor, now: Timestamp) -> EventRecord {
        EventRecord::seal(self.id, self.version + 1, now, actor, event, self.head_hash)
    }

    /// Applies the next event of the history.
    pub fn apply(&mut self, record: &EventRecord) -> Result<(), ApplyError> {
        if record.seq != self.version + 1 {
            return Err(ApplyError::OutOfOrder {
                expected_prev: self.version,
                found: record.seq,
            });
        }
        self.apply_event(&record.event, record.recorded_at)?;
        self.version = record.seq;
        self.head_hash = record.hash;
        Ok(())
    }

    /// Applies `event` as if it were the next event, without sealing it: for working out what
    /// a case would become (checking a decision, the case the rules are asked about), where a
    /// SHA-256 over the event's canonical JSON would be thrown away. The head hash is left as
    /// it was, so a previewed case must never be stored; the store seals and applies for real.
    pub fn preview(&mut self, event: &EventKind, at: Timestamp) -> Result<(), ApplyError> {
        if let EventKind::Handler { action } = event {
            self.check_handler(action)?;
        }
        self.apply_event(event, at)?;
        self.version += 1;
        Ok(())
    }

    /// Checks a new handler action: the lifecycle table, and the rules it cannot express
    /// because they depend on the history. Returns the status the action leads to.
    pub fn check_handler(&self, action: &HandlerAction) -> Result<Status, ApplyError> {
        let next = lifecycle::transition(self.status, action)?;
        if matches!(action, HandlerAction::ClearManualHandling { .. })
            && self.manual_handling.is_none()
        {
            return Err(ApplyError::NotInManualHandling);
        }
        if matches!(
            action,
            HandlerAction::Transfer {
                supervisor_approved: false,
                ..
            }
        ) {
            self.check_not_transferred_before()?;
        }
        Ok(next)
    }

    /// Changes the case by `event`; on error nothing has changed.
    fn apply_event(&mut self, event: &EventKind, at: Timestamp) -> Result<(), ApplyError> {
        let action = match event {
            EventKind::Received { .. } => return Err(ApplyError::ReceivedAgain),
            EventKind::Clock { name, change } => {
                if self.status == Status::Closed && !matches!(change, ClockChange::Stopped { .. }) {
                    return Err(ApplyError::ClosedCase);
                }
                let clock = apply_change(name, self.clocks.get(name).cloned(), change, at)?;
                self.clocks.insert(name.clone(), clock);
                self.updated_at = at;
                return Ok(());
            }
            EventKind::Decision {
                ruleset, actions, ..
            } => {
                if self.ruleset.is_none() {
                    self.ruleset = Some(ruleset.clone());
                }
                self.ruling.apply(actions, at);
                for action in actions {
                    if let crate::contract::Action::MergeInto { case_id, reason } = action {
                        self.merged_into = Some(crate::repeat::CaseLink {
                            case_id: *case_id,
                            reason: reason.clone(),
                            at,
                        });
                    }
                }
                self.updated_at = at;
                return Ok(());
            }
            EventKind::MergedFrom { case_id, reason } => {
                self.merged_from.push(crate::repeat::CaseLink {
                    case_id: *case_id,
                    reason: reason.clone(),
                    at,
                });
                self.updated_at = at;
                return Ok(());
            }
            EventKind::RuleFailure {
                reason, ruleset, ..
            } => {
                let since = self.manual_handling.as_ref().map_or(at, |m| m.since);
                self.manual_handling = Some(ManualHandling {
                    reason: reason.clone(),
                    since,
                    ruleset: ruleset.clone(),
                });
                self.updated_at = at;
                return Ok(());
            }
            EventKind::Handler { action } => action,
        };
        if let HandlerAction::ClearManualHandling { .. } = action {
            self.manual_handling = None;
        }
        let next = lifecycle::transition(self.status, action)?;
        let outcome = |kind,
                       text: Option<&String>,
                       ground: Option<&String>,
                       article: Option<&String>| Outcome {
            kind,
            text: text.cloned(),
            ground: ground.cloned(),
            article: article.cloned(),
            at,
        };
        match action {
            HandlerAction::Reject {
                reason,
                ground,
                article,
            } => {
                self.outcome = Some(outcome(
                    OutcomeKind::Rejected,
                    Some(reason),
                    ground.as_ref(),
                    article.as_ref(),
                ));
            }
            HandlerAction::Transfer {
                to_office, reason, ..
            } => self.transfers.push(TransferRecord {
                to_office: to_office.clone(),
                reason: reason.clone(),
                at,
            }),
            HandlerAction::Assign { assignee, office } => {
                self.assignment = Some(Assignment {
                    assignee: assignee.clone(),
                    office: office.clone(),
                    assigned_at: at,
                });
            }
            HandlerAction::StartInvestigation { .. } => self.stage = Some(Stage::Investigation),
            HandlerAction::StartMediation { .. } => self.stage = Some(Stage::Mediation),
            HandlerAction::Resolve { outcome: text } => {
                self.outcome = Some(outcome(OutcomeKind::Resolved, Some(text), None, None));
            }
            HandlerAction::Terminate { reason, ground } => {
                self.outcome = Some(outcome(
                    OutcomeKind::Terminated,
                    Some(reason),
                    ground.as_ref(),
                    None,
                ));
            }
            HandlerAction::Withdraw { reason } => {
                self.outcome = Some(outcome(OutcomeKind::Withdrawn, reason.as_ref(), None, None));
            }
            HandlerAction::Reopen { .. } => {
                self.reopen_count += 1;
                self.stage = None;
            }
            // Back to intake: no office and no handler until it is routed again.
            HandlerAction::ReturnToIntake { reason } => {
                self.ruling.routed_to = Some(crate::contract::Routing {
                    office: None,
                    division_code: None,
                    tier: None,
                    reason: format!("returned to intake: {reason}"),
                });
                self.assignment = None;
            }
            HandlerAction::ReferUp {
                to_office: office,
                reason,
            }
            | HandlerAction::TakeOver { office, reason } => {
                let how = if matches!(action, HandlerAction::ReferUp { .. }) {
                    "referred up"
                } else {
                    "taken over"
                };
                self.ruling.routed_to = Some(crate::contract::Routing {
                    office: Some(office.clone()),
                    division_code: None,
                    tier: None,
                    reason: format!("{how}: {reason}"),
                });
                self.assignment = None;
            }
            HandlerAction::Accept { .. }
            | HandlerAction::Close { .. }
            | HandlerAction::Note { .. }
            | HandlerAction::StartAppraisal { .. }
            | HandlerAction::FinishAppraisal { .. }
            | HandlerAction::RecordAgreement { .. }
            | HandlerAction::RecordNewFacts { .. }
            | HandlerAction::AcceptMediation { .. }
            | HandlerAction::ClearManualHandling { .. }
            // Facts for the rules (and the history): the state is the lifecycle's business,
            // and `return_for_rework` keeps the stage, the outcome it reworks (until the next
            // one) and the reopen count: the same round of handling goes on.
            | HandlerAction::GiveNotice { .. }
            | HandlerAction::CompetentOfficeReceived { .. }
            | HandlerAction::RequestRecusal { .. }
            | HandlerAction::DecideRecusal { .. }
            | HandlerAction::RecordViolationClue { .. }
            | HandlerAction::AgreeMediationExtension { .. }
            | HandlerAction::RequestDocuments { .. }
            | HandlerAction::RequestReview { .. }
            | HandlerAction::RecordCallback { .. }
            | HandlerAction::ReturnForRework { .. } => {}
        }
        self.status = next;
        self.updated_at = at;
        Ok(())
    }

    /// The clock events that recording `action` implies by the clocks' own declaration
    /// (`ClockSpec::met_by`): each clock that still owes something and is met by this action is
    /// stopped as met. Recorded in the same write as the action and before the rules are asked,
    /// so the obligation is met even when the rules' decision on the action fails. A breached
    /// clock stays breached (answering late does not undo the breach) but owes nothing more.
    ///
    /// An entry names an action (`accept`), or a notice about one thing
    /// (`give_notice:decision_notice`, met only by a `give_notice` with that `about`; a bare
    /// `give_notice` is met by any notice). The reason recorded names the entry that matched.
    pub fn clocks_met_by(&self, action: &HandlerAction) -> Vec<EventKind> {
        self.clocks
            .iter()
            .filter(|(_, clock)| {
                matches!(
                    clock.state,
                    crate::clock::ClockState::Running
                        | crate::clock::ClockState::Paused
                        | crate::clock::ClockState::Breached
                ) && clock.ended_at.is_none()
            })
            .filter_map(|(clock_name, clock)| {
                // Entries were checked when the clock started; one that does not read (which
                // no check lets through) meets nothing.
                let entry = clock.spec.met_by.iter().find(|entry| {
                    crate::clock::MetBy::parse(entry).is_ok_and(|m| m.is_met_by(action))
                })?;
                Some(EventKind::Clock {
                    name: clock_name.clone(),
                    change: ClockChange::Stopped {
                        met: true,
                        reason: Some(format!("met by `{entry}`")),
                    },
                })
            })
            .collect()
    }

    /// Rebuilds a case from its whole history.
    pub fn replay(events: &[EventRecord]) -> Result<Case, ApplyError> {
        let (first, rest) = events.split_first().ok_or(ApplyError::Empty)?;
        let mut case = Case::from_first(first)?;
        for record in rest {
            case.apply(record)?;
        }
        Ok(case)
    }

    /// The time zone the case's days are counted in (validated at intake).
    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.intake.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    pub(crate) fn sample_intake() -> CaseIntake {
        serde_json::from_value(serde_json::json!({
            "sector": "market_supervision",
            "channel": "hotline",
            "received_at": "2026-02-13T10:00:00+08:00",
            "complainant": {"name": "张三", "phone": "13800138000", "address": "杭州市西湖区"},
            "respondent": {"name": "某某电器有限公司", "division_code": "330106"},
            "claim": "退货退款",
            "facts": "空调安装后无法制冷",
            "amount": {"value": "3999.00"}
        }))
        .unwrap()
    }

    fn now() -> Timestamp {
        "2026-02-13T03:00:00Z".parse().unwrap()
    }

    fn record(case: &mut Case, event: EventKind, actor: Actor) -> Result<(), ApplyError> {
        if let EventKind::Handler { action } = &event {
            case.check_handler(action)?;
        }
        let sealed = case.seal(event, actor, now());
        case.apply(&sealed)
    }

    fn failure() -> EventKind {
        EventKind::RuleFailure {
            ruleset: Some(RulesetRef::named(None, "x", "1.0.0")),
            trigger: crate::contract::Trigger::CaseReceived,
            reason: "the rule failed".into(),
        }
    }

    /// Regression (issue #12): a later `note` used to clear the manual-handling mark, so a case
    /// whose rules never decided looked handled.
    #[test]
    fn manual_handling_ends_only_when_a_person_clears_it() {
        let mut case = registered(sample_intake());
        let handler = Actor::api("handler");
        let clear = |reason: &str| EventKind::Handler {
            action: HandlerAction::ClearManualHandling {
                reason: reason.into(),
            },
        };
        assert!(matches!(
            record(&mut case, clear("nothing"), handler.clone()),
            Err(ApplyError::NotInManualHandling)
        ));
        record(&mut case, failure(), Actor::system()).unwrap();
        let mark = case.manual_handling.clone().unwrap();
        assert_eq!(mark.ruleset.as_ref().map(|r| r.id.as_str()), Some("x"));
        let note = EventKind::Handler {
            action: HandlerAction::Note {
                text: "called the complainant".into(),
            },
        };
        record(&mut case, note, handler.clone()).unwrap();
        assert!(case.manual_handling.is_some(), "a note does not clear it");
        record(&mut case, failure(), Actor::system()).unwrap();
        assert_eq!(
            case.manual_handling.as_ref().map(|m| m.since),
            Some(mark.since),
            "a second failure keeps the time the case first needed a person"
        );
        record(&mut case, clear("decided by hand"), handler).unwrap();
        assert_eq!(case.manual_handling, None);
    }

    #[test]
    fn an_action_meets_the_clocks_that_declare_it() {
        let mut case = registered(sample_intake());
        let spec: crate::clock::ClockSpec = serde_json::from_value(serde_json::json!({
            "name": "acceptance", "amount": 7, "unit": "working_days",
            "met_by": ["accept", "reject"]
        }))
        .unwrap();
        let schedule = crate::clock::Schedule {
            due_at: Some(now()),
            warning_at: None,
            provisional: false,
            provisional_years: Vec::new(),
            explanation: std::sync::Arc::new(serde_json::Value::Null),
        };
        let start = EventKind::Clock {
            name: "acceptance".into(),
            change: ClockChange::Started {
                spec,
                started_at: now(),
                schedule,
            },
        };
        record(&mut case, start, Actor::system()).unwrap();
        let note = HandlerAction::Note { text: "x".into() };
        assert!(case.clocks_met_by(&note).is_empty());
        let accept = HandlerAction::Accept { note: None };
        let met = case.clocks_met_by(&accept);
        assert_eq!(met.len(), 1);
        for event in met {
            record(&mut case, event, Actor::api("handler")).unwrap();
        }
        assert_eq!(
            case.clocks["acceptance"].state,
            crate::clock::ClockState::Met
        );
        assert!(case.clocks_met_by(&accept).is_empty(), "met once");
    }

    /// A clock met by a notice about one thing (`give_notice:decision_notice`) is not met by a
    /// notice about something else; a bare `give_notice` entry is met by any notice; entries
    /// naming an action still work beside them.
    #[test]
    fn a_notice_meets_the_clocks_that_name_what_it_is_about() {
        let mut case = registered(sample_intake());
        let start = |name: &str, met_by: serde_json::Value| {
            let spec: crate::clock::ClockSpec = serde_json::from_value(serde_json::json!({
                "name": name, "amount": 15, "unit": "calendar_days", "met_by": met_by
            }))
            .unwrap();
            EventKind::Clock {
                name: name.into(),
                change: ClockChange::Started {
                    spec,
                    started_at: now(),
                    schedule: crate::clock::Schedule {
                        due_at: Some(now()),
                        warning_at: None,
                        provisional: false,
                        provisional_years: Vec::new(),
                        explanation: std::sync::Arc::new(serde_json::Value::Null),
                    },
                },
            }
        };
        for (name, met_by) in [
            (
                "decision",
                serde_json::json!(["give_notice:decision_notice"]),
            ),
            ("any_notice", serde_json::json!(["give_notice"])),
            (
                "acceptance",
                serde_json::json!(["accept", "give_notice:rejection_notice"]),
            ),
        ] {
            record(&mut case, start(name, met_by), Actor::system()).unwrap();
        }
        let notice = |about: &str| HandlerAction::GiveNotice {
            recipient: crate::event::NoticeRecipient::Complainant,
            means: crate::event::NoticeMeans::Sms,
            about: about.into(),
            note: None,
        };
        let met = |case: &Case, action: &HandlerAction| -> Vec<(String, Option<String>)> {
            case.clocks_met_by(action)
                .into_iter()
                .map(|e| match e {
                    EventKind::Clock {
                        name,
                        change: ClockChange::Stopped { reason, .. },
                    } => (name, reason),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(
            met(&case, &notice("extension_notice")),
            vec![("any_notice".into(), Some("met by `give_notice`".into()))]
        );
        assert_eq!(
            met(&case, &HandlerAction::Accept { note: None }),
            vec![("acceptance".into(), Some("met by `accept`".into()))]
        );
        let decision = notice("decision_notice");
        let events = case.clocks_met_by(&decision);
        assert_eq!(
            met(&case, &decision),
            vec![
                ("any_notice".into(), Some("met by `give_notice`".into())),
                (
                    "decision".into(),
                    Some("met by `give_notice:decision_notice`".into())
                ),
            ]
        );
        for event in events {
            record(&mut case, event, Actor::api("handler")).unwrap();
        }
        assert_eq!(case.clocks["decision"].state, crate::clock::ClockState::Met);
        assert!(met(&case, &decision).is_empty(), "met once");
        assert_eq!(
            met(&case, &notice("rejection_notice")),
            vec![(
                "acceptance".into(),
                Some("met by `give_notice:rejection_notice`".into())
            )]
        );
    }

    /// `return_for_rework` takes a resolved case back to handling in the same round: the stage,
    /// the outcome it reworks and the reopen count stay; replay rebuilds the same case.
    #[test]
    fn rework_continues_the_same_round_of_handling() {
        let (mut case, first) = Case::register(
            CaseId::from_parts(1, 9),
            TrackingCode::from_random(9),
            crate::TenantId::default_tenant(),
            sample_intake(),
            Actor::api("intake"),
            now(),
        )
        .unwrap();
        let mut events = vec![first];
        let mut act = |case: &mut Case, value: serde_json::Value| {
            let action: HandlerAction = serde_json::from_value(value).unwrap();
            action.validate().unwrap();
            let record = case.next_event(action, Actor::api("h"), now())?;
            case.apply(&record).unwrap();
            events.push(record);
            Ok::<_, ApplyError>(())
        };
        for value in crate::event::tests::issue_15_actions()
            .into_iter()
            .filter(|v| {
                v["type"] == "competent_office_received" || v["type"] == "request_documents"
            })
        {
            act(&mut case, value).unwrap();
        }
        use serde_json::json;
        act(&mut case, json!({"type": "accept"})).unwrap();
        act(&mut case, json!({"type": "start_investigation"})).unwrap();
        act(&mut case, json!({"type": "resolve", "outcome": "已答复"})).unwrap();
        act(
            &mut case,
            json!({"type": "record_callback", "satisfied": false}),
        )
        .unwrap();
        act(
            &mut case,
            json!({"type": "return_for_rework", "reason": "回访不满意"}),
        )
        .unwrap();
        assert_eq!(case.status, Status::InProgress);
        assert_eq!(case.stage, Some(Stage::Investigation));
        assert_eq!(case.reopen_count, 0);
        assert_eq!(
            case.outcome.as_ref().map(|o| o.kind),
            Some(OutcomeKind::Resolved)
        );
        let err = act(
            &mut case,
            json!({"type": "return_for_rework", "reason": "again"}),
        );
        assert!(matches!(err, Err(ApplyError::Lifecycle(_))), "{err:?}");
        act(&mut case, json!({"type": "resolve", "outcome": "已解决"})).unwrap();
        act(
            &mut case,
            json!({"type": "record_callback", "satisfied": true}),
        )
        .unwrap();
        act(&mut case, json!({"type": "close"})).unwrap();
        let err = act(
            &mut case,
            json!({"type": "record_callback", "satisfied": true}),
        );
        assert!(matches!(err, Err(ApplyError::Lifecycle(_))), "{err:?}");
        act(
            &mut case,
            json!({"type": "request_review", "requested_on": "2026-02-20", "reason": "不服"}),
        )
        .unwrap();
        assert_eq!(case.status, Status::Closed);
        assert_eq!(Case::replay(&events).unwrap(), case);
    }

    #[test]
    fn tenant_ids_are_checked() {
        assert!(check_tenant("acme-bank_01").is_ok());
        for bad in ["", "Acme", "a b", "-x", "a\0b", &"x".repeat(64)] {
            assert!(check_tenant(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_valid_intake_passes_and_defaults_apply() {
        let intake = sample_intake();
        assert_eq!(intake.time_zone, "Asia/Shanghai");
        assert_eq!(intake.kind, CaseKind::Complaint);
        intake.validate(now()).unwrap();
    }

    /// Each row breaks one field and names the pointer that must be reported.
    #[test]
    fn validation_names_each_bad_field() {
        type Breaker = fn(&mut CaseIntake);
        let table: &[(&str, Breaker)] = &[
            ("/time_zone", |i| i.time_zone = "Mars/Olympus".into()),
            ("/received_at", |i| {
                i.received_at = Some("2030-01-01T00:00:00Z".parse().unwrap())
            }),
            ("/transferred_from", |i| i.channel = Channel::Transfer),
            ("/complainant/phone", |i| {
                i.complainant.phone = Some("call me".into())
            }),
            ("/complainant/name", |i| i.complainant.anonymous = true),
            ("/respondent/name", |i| i.respondent.name = "  ".into()),
            ("/respondent/division_code", |i| {
                i.respondent.division_code = Some("990101".into())
            }),
            ("/respondent/division_code", |i| {
                i.respondent.division_code = Some("3301".into())
            }),
            ("/claim", |i| i.claim = String::new()),
            ("/amount/value", |i| {
                i.amount = Some(Amount {
                    value: "12.345".into(),
                    currency: "CNY".into(),
                })
            }),
            ("/amount/currency", |i| {
                i.amount = Some(Amount {
                    value: "1".into(),
                    currency: "yuan".into(),
                })
            }),
            ("/complainant_count", |i| i.complainant_count = 0),
        ];
        for (pointer, breaker) in table {
            let mut intake = sample_intake();
            breaker(&mut intake);
            let errors = intake.validate(now()).expect_err(pointer);
            assert!(
                errors.0.iter().any(|e| e.pointer == *pointer),
                "expected an error at {pointer}, got {errors}"
            );
        }
    }

    #[test]
    fn replay_rebuilds_the_snapshot_and_the_chain_verifies() {
        let id = CaseId::from_parts(1, 2);
        let (mut case, first) = Case::register(
            id,
            TrackingCode::from_random(7),
            crate::TenantId::default_tenant(),
            sample_intake(),
            Actor::api("intake"),
            now(),
        )
        .unwrap();
        let mut events = vec![first];
        for action in [
            HandlerAction::Accept { note: None },
            HandlerAction::Assign {
                assignee: "li.si".into(),
                office: None,
            },
            HandlerAction::StartMediation { note: None },
            HandlerAction::Resolve {
                outcome: "refund agreed".into(),
            },
            HandlerAction::Close { note: None },
        ] {
            let record = case
                .next_event(action, Actor::api("handler"), now())
                .unwrap();
            case.apply(&record).unwrap();
            events.push(record);
        }
        assert_eq!(case.status, Status::Closed);
        assert_eq!(Case::replay(&events).unwrap(), case);
        crate::event::verify_chain(id, &crate::event::as_stored(&events).unwrap()).unwrap();

        let mut tampered = events.clone();
        tampered[3].recorded_at = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(matches!(
            crate::event::verify_chain(id, &crate::event::as_stored(&tampered).unwrap()),
            Err(crate::event::ChainError::HashMismatch { seq: 4, .. })
        ));
        let mut reordered = events.clone();
        reordered.swap(2, 3);
        assert!(
            crate::event::verify_chain(id, &crate::event::as_stored(&reordered).unwrap()).is_err()
        );
        let mut removed = events;
        removed.remove(2);
        assert!(matches!(
            crate::event::verify_chain(id, &crate::event::as_stored(&removed).unwrap()),
            Err(crate::event::ChainError::Sequence {
                expected: 3,
                found: 4
            })
        ));
    }

    #[test]
    fn an_illegal_action_is_refused_before_anything_is_sealed() {
        let (case, _) = Case::register(
            CaseId::from_parts(1, 3),
            TrackingCode::from_random(1),
            crate::TenantId::default_tenant(),
            sample_intake(),
            Actor::api("intake"),
            now(),
        )
        .unwrap();
        let err = case
            .next_event(
                HandlerAction::Resolve {
                    outcome: "x".into(),
                },
                Actor::api("h"),
                now(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("the case is `received`"), "{err}");
    }

    fn registered(intake: CaseIntake) -> Case {
        Case::register(
            CaseId::from_parts(1, 4),
            TrackingCode::from_random(1),
            crate::TenantId::default_tenant(),
            intake,
            Actor::api("intake"),
            now(),
        )
        .unwrap()
        .0
    }

    /// Previewing events gives the case that sealing and applying them gives, but for the
    /// head hash, which a preview does not compute.
    #[test]
    fn a_preview_equals_the_applied_case_but_for_the_hash() {
        let mut applied = registered(sample_intake());
        let mut previewed = applied.clone();
        let actor = Actor::api("h");
        for action in [
            HandlerAction::Accept { note: None },
            HandlerAction::StartMediation { note: None },
            HandlerAction::AcceptMediation { note: None },
            HandlerAction::StartAppraisal {
                reason: "检测".into(),
            },
            HandlerAction::RecordAgreement {
                terms: "退款".into(),
            },
            HandlerAction::Resolve {
                outcome: "退款".into(),
            },
        ] {
            let event = EventKind::Handler { action };
            previewed.preview(&event, now()).unwrap();
            let record = applied.seal(event, actor.clone(), now());
            applied.apply(&record).unwrap();
        }
        assert_ne!(previewed.head_hash, applied.head_hash);
        previewed.head_hash = applied.head_hash;
        assert_eq!(previewed, applied);
    }

    /// Regression: the lifecycle table allowed a second transfer once the receiving office had
    /// accepted (status back to `accepted`), and for a case that arrived by transfer.
    #[test]
    fn a_case_is_transferred_at_most_once() {
        let transfer = || HandlerAction::Transfer {
            to_office: "330106-msa".into(),
            reason: "不属本单位管辖".into(),
            supervisor_approved: false,
        };
        let actor = Actor::api("h");
        let mut case = registered(sample_intake());
        case.check_handler(&transfer()).unwrap();
        for action in [transfer(), HandlerAction::Accept { note: None }] {
            let record = case.next_event(action, actor.clone(), now()).unwrap();
            case.apply(&record).unwrap();
        }
        assert_eq!(case.status, Status::Accepted);
        let err = case
            .next_event(transfer(), actor.clone(), now())
            .unwrap_err();
        assert!(
            matches!(err, ApplyError::AlreadyTransferred { .. }),
            "{err}"
        );
        let err = case
            .preview(&EventKind::Handler { action: transfer() }, now())
            .unwrap_err();
        assert!(
            matches!(err, ApplyError::AlreadyTransferred { .. }),
            "{err}"
        );
        // A supervisor may approve a second transfer.
        let approved = HandlerAction::Transfer {
            to_office: "3301-msa".into(),
            reason: "上级指定".into(),
            supervisor_approved: true,
        };
        case.check_handler(&approved).unwrap();

        let mut intake = sample_intake();
        intake.channel = Channel::Transfer;
        intake.transferred_from = Some("12345".into());
        let case = registered(intake);
        let err = case.check_handler(&transfer()).unwrap_err();
        assert!(
            err.to_string().contains("received by transfer from 12345"),
            "{err}"
        );
    }
}
