//! Case identifiers: a sortable internal id and a short code a complainant can read out.

use std::{fmt, str::FromStr};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A case id: a ULID, so ids sort by creation time and listing by id lists by age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub ulid::Ulid);

impl JsonSchema for CaseId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CaseId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Case id: a ULID (26 characters, Crockford base32, sortable by creation time).",
            "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$",
            "examples": ["01JD3Q5Z8W4K2M7N9P0R6S1T3V"]
        })
    }
}

impl CaseId {
    pub fn from_parts(unix_ms: u64, random: u128) -> Self {
        CaseId(ulid::Ulid::from_parts(unix_ms, random))
    }

    /// The 16 big-endian bytes used as the storage key, so that key order is id order.
    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        CaseId(ulid::Ulid::from_bytes(bytes))
    }
}

impl fmt::Display for CaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a case id (expected a 26-character ULID)")]
pub struct BadCaseId(pub String);

impl FromStr for CaseId {
    type Err = BadCaseId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ulid::Ulid::from_string(s)
            .map(CaseId)
            .map_err(|_| BadCaseId(s.to_owned()))
    }
}

/// A tracking code a complainant can read over the phone: `RD-` and 8 characters of Crockford
/// base32 (no I, L, O, U), e.g. `RD-7K3M-9QXP`. 40 random bits: guessing one is not a way in,
/// and self-service access needs the secret given at intake as well.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrackingCode(String);

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl TrackingCode {
    /// Builds a code from 40 random bits.
    pub fn from_random(bits: u64) -> Self {
        let mut chars = Vec::with_capacity(8);
        for i in 0..8 {
            let index = ((bits >> (35 - 5 * i)) & 0x1f) as usize;
            chars.push(CROCKFORD[index] as char);
        }
        let s: String = chars.iter().collect();
        TrackingCode(format!("RD-{}-{}", &s[..4], &s[4..]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A code as a person typed or read it: any case, with or without `RD` and the hyphens,
    /// spaces allowed, and Crockford's look-alikes (`O` for 0, `I` and `L` for 1). `None` if
    /// it cannot be a tracking code.
    pub fn normalise(input: &str) -> Option<TrackingCode> {
        let upper = input.trim().to_ascii_uppercase();
        let body = upper.strip_prefix("RD").unwrap_or(&upper);
        let mut chars = String::with_capacity(8);
        for c in body.chars().filter(|c| !matches!(c, '-' | ' ')) {
            let c = match c {
                'O' => '0',
                'I' | 'L' => '1',
                c if c.is_ascii() && CROCKFORD.contains(&(c as u8)) => c,
                _ => return None,
            };
            chars.push(c);
        }
        (chars.len() == 8).then(|| TrackingCode(format!("RD-{}-{}", &chars[..4], &chars[4..])))
    }
}

impl JsonSchema for TrackingCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TrackingCode".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Human-readable tracking code given to the complainant.",
            "pattern": "^RD-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$",
            "examples": ["RD-7K3M-9QXP"]
        })
    }
}

impl fmt::Display for TrackingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_codes_are_readable_and_distinct() {
        let a = TrackingCode::from_random(0);
        let b = TrackingCode::from_random(0xff_ffff_ffff);
        assert_eq!(a.as_str(), "RD-0000-0000");
        assert_eq!(b.as_str(), "RD-ZZZZ-ZZZZ");
    }

    #[test]
    fn a_code_read_over_the_phone_is_understood() {
        for typed in [
            "RD-7K3M-9QXP",
            "rd-7k3m-9qxp",
            "7K3M9QXP",
            "rd 7k3m 9qxp",
            " RD7K3M-9QXP ",
        ] {
            assert_eq!(
                TrackingCode::normalise(typed).map(|c| c.0),
                Some("RD-7K3M-9QXP".to_owned()),
                "{typed}"
            );
        }
        assert_eq!(
            TrackingCode::normalise("RD-O1IL-0000").map(|c| c.0),
            Some("RD-0111-0000".to_owned())
        );
        for bad in [
            "",
            "RD-7K3M-9QX",
            "RD-7K3M-9QXPA",
            "RD-7K3M-9QXU",
            "RD-7K3M-9Q😀P",
        ] {
            assert_eq!(TrackingCode::normalise(bad), None, "{bad}");
        }
    }

    #[test]
    fn case_ids_round_trip_through_text_and_bytes() {
        let id = CaseId::from_parts(1_763_000_000_000, 42);
        assert_eq!(id.to_string().parse::<CaseId>().ok(), Some(id));
        assert_eq!(CaseId::from_bytes(id.to_bytes()), id);
        assert!("not-an-id".parse::<CaseId>().is_err());
    }
}

/// A tenant (an organisation) id: lowercase letters, digits, `-` and `_`, 1 to 63 characters,
/// starting with a letter or digit. Checked once, where it enters (a key, a header, a
/// manifest, a command line); everything past that point holds a `TenantId` and never
/// re-checks a string. On the wire and in stored events it is the plain string.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// The operator's own tenant, which always exists.
    pub const DEFAULT: &'static str = "default";

    pub fn parse(text: &str) -> Result<TenantId, String> {
        crate::case::check_tenant(text)?;
        Ok(TenantId(text.to_owned()))
    }

    /// A tenant id written in the code (a constant, a test's literal): an invalid one is a
    /// programmer's error, like `http::HeaderName::from_static`'s. Never for input.
    #[track_caller]
    pub fn from_static(text: &'static str) -> TenantId {
        match TenantId::parse(text) {
            Ok(tenant) => tenant,
            Err(e) => panic!("{e}"),
        }
    }

    /// The operator's tenant, `default`.
    pub fn default_tenant() -> TenantId {
        TenantId(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }
}

impl TryFrom<String> for TenantId {
    type Error = String;

    fn try_from(text: String) -> Result<TenantId, String> {
        crate::case::check_tenant(&text)?;
        Ok(TenantId(text))
    }
}

impl From<TenantId> for String {
    fn from(tenant: TenantId) -> String {
        tenant.0
    }
}

impl FromStr for TenantId {
    type Err = String;

    fn from_str(text: &str) -> Result<TenantId, String> {
        TenantId::parse(text)
    }
}

impl std::ops::Deref for TenantId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for TenantId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for TenantId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TenantId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The plain string schema, as before the type existed: the OpenAPI document and the
/// committed schemas do not change.
impl JsonSchema for TenantId {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        "String".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

impl PartialEq<String> for TenantId {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

impl PartialEq<TenantId> for str {
    fn eq(&self, other: &TenantId) -> bool {
        self == other.0
    }
}

impl PartialEq<TenantId> for &str {
    fn eq(&self, other: &TenantId) -> bool {
        *self == other.0
    }
}

impl PartialEq<TenantId> for String {
    fn eq(&self, other: &TenantId) -> bool {
        *self == other.0
    }
}
