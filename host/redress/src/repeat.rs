//! Repeat detection at intake (regulations §7, §8): the complainant key, and which earlier cases
//! a new complaint may repeat, with the basis of each match. The rules decide what follows
//! (merge, reject under the sector's ground, or handle as new facts).
//!
//! - **Complainant key**: HMAC-SHA-256, under the server's `repeat.key` (`data_dir.rs`), of the
//!   normalised phone or, without a phone, of the normalised identity number, domain-separated
//!   by which it is. The plain value is never stored, indexed, logged or shown to a rule: the
//!   store indexes the digest, the `received` event records it.
//! - **Candidates**: the tenant's cases with the same key received within the window before the
//!   new case (newest first, at most [`MAX_CANDIDATES`]), from the store's index. A case is a
//!   candidate only when its respondent is also the same; each carries its basis:
//!   `same_complainant` (always, naming the identifier), `same_respondent` (always),
//!   `similar_issue` when it applies.
//!
//! Everything here is pure except reading the key file.

use std::{collections::BTreeSet, path::Path};

use hmac::{Hmac, Mac};
use redress_domain::{
    Case, CaseIntake, Hash,
    case::Complainant,
    repeat::{ComplainantIdentifier, ComplainantKey, MatchBasis, RepeatCandidate, SimilarBy},
};
use sha2::Sha256;

/// The window when the deciding ruleset does not set `repeat_window_days`: a year, the span
/// §7's repeat-complaint rate is usually counted over.
pub const DEFAULT_WINDOW_DAYS: i64 = 365;
/// The ruleset setting that overrides [`DEFAULT_WINDOW_DAYS`].
pub const WINDOW_SETTING: &str = "repeat_window_days";
/// The most earlier cases the store returns for one complainant key (newest first).
pub const MAX_CANDIDATES: usize = 50;
/// A similar issue by text: at least half of the character bigrams shared (in thousandths).
pub const SIMILAR_TEXT_PERMILLE: u64 = 500;

/// The server's key for complainant keys. `Debug` never shows it.
#[derive(Clone)]
pub struct RepeatKey {
    key: [u8; 32],
}

impl std::fmt::Debug for RepeatKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RepeatKey(<redacted>)")
    }
}

impl RepeatKey {
    /// The key in `path` (`<data>/repeat.key`), created if missing. Losing it means new cases
    /// no longer match the cases keyed before (their keys differ), nothing worse.
    pub fn open(path: &Path) -> std::io::Result<RepeatKey> {
        Ok(RepeatKey {
            key: crate::secret_key::load_or_create(path)?,
        })
    }

    /// A key for this process only (an in-memory application, tests).
    pub fn ephemeral() -> std::io::Result<RepeatKey> {
        Ok(RepeatKey {
            key: crate::secret_key::random()?,
        })
    }

    pub fn from_bytes(key: [u8; 32]) -> RepeatKey {
        RepeatKey { key }
    }

    fn digest(&self, identifier: ComplainantIdentifier, value: &str) -> Hash {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(b"redress-complainant/1\n");
        mac.update(match identifier {
            ComplainantIdentifier::Phone => b"phone\n".as_slice(),
            ComplainantIdentifier::IdentityNumber => b"identity-number\n".as_slice(),
        });
        mac.update(value.as_bytes());
        Hash(mac.finalize().into_bytes().into())
    }

    /// The complainant's key: of the phone when it normalises to a number, else of the identity
    /// number; `None` when neither was given (an agent's identifiers are not the complainant's).
    pub fn complainant_key(&self, complainant: &Complainant) -> Option<ComplainantKey> {
        let phone = complainant
            .phone
            .as_ref()
            .and_then(|p| normalise_phone(p.expose()))
            .map(|p| (ComplainantIdentifier::Phone, p));
        let identity = || {
            complainant
                .identity_document
                .as_ref()
                .and_then(|d| normalise_identity_number(d.number.expose()))
                .map(|n| (ComplainantIdentifier::IdentityNumber, n))
        };
        let (identifier, value) = phone.or_else(identity)?;
        Some(ComplainantKey {
            identifier,
            digest: self.digest(identifier, &value),
        })
    }
}

/// Full-width forms (U+FF01–FF5E) and the ideographic space as their ASCII equivalents.
fn fold_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// Punctuation, ASCII and CJK (the ideographic iteration marks and 〇, which occur in names,
/// are not punctuation).
fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c,
            '\u{00A1}'..='\u{00BF}'          // Latin-1 punctuation and signs (·, «, »)
            | '\u{2010}'..='\u{205E}'        // general punctuation (—, “, ”, …)
            | '\u{2E00}'..='\u{2E7F}'        // supplemental punctuation
            | '\u{3001}'..='\u{3004}'        // 、。〃〄
            | '\u{3008}'..='\u{3020}'        // 〈〉《》「」『』【】〔〕…
            | '\u{3030}' | '\u{303D}'
            | '\u{30FB}'                     // katakana middle dot
            | '\u{FE10}'..='\u{FE1F}'        // vertical forms
            | '\u{FE30}'..='\u{FE6F}'        // CJK compatibility and small forms
            | '\u{FF5F}'..='\u{FF65}') // half-width CJK punctuation
}

/// The phone's digits, with a leading +86 / 0086 / 86 removed from an 11-digit mobile number
/// (`+86 138-0013-8000` and `13800138000` are the same number). Fewer than 5 digits is no
/// number (intake refuses such a phone anyway).
pub fn normalise_phone(raw: &str) -> Option<String> {
    let digits: String = raw
        .chars()
        .map(fold_width)
        .filter(char::is_ascii_digit)
        .collect();
    let mobile_after = |prefix: &str| {
        digits.len() == prefix.len() + 11
            && digits.starts_with(prefix)
            && digits[prefix.len()..].starts_with('1')
    };
    let number = if mobile_after("0086") {
        &digits[4..]
    } else if mobile_after("86") {
        &digits[2..]
    } else {
        &digits
    };
    (number.len() >= 5).then(|| number.to_owned())
}

/// An identity document's number: its letters and digits, letters upper-cased (the check
/// character `x` of a resident ID), full-width forms folded. Fewer than 5 is no number.
pub fn normalise_identity_number(raw: &str) -> Option<String> {
    let number: String = raw
        .chars()
        .map(fold_width)
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (number.len() >= 5).then_some(number)
}

/// A name or text as compared: full-width forms folded, white space and punctuation removed,
/// lower case. `某某银行（北京）分行` and `某某银行 (北京) 分行` are the same.
pub fn normalise_text(raw: &str) -> String {
    raw.chars()
        .map(fold_width)
        .filter(|c| !c.is_whitespace() && !is_punctuation(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The character bigrams of each text (normalised), as one set.
fn bigrams(texts: &[&str]) -> BTreeSet<(char, char)> {
    let mut set = BTreeSet::new();
    for text in texts {
        let chars: Vec<char> = normalise_text(text).chars().collect();
        set.extend(chars.windows(2).map(|w| (w[0], w[1])));
    }
    set
}

/// The Jaccard index of the two texts' character bigrams as (shared, all); `None` when neither
/// has a bigram.
pub fn bigram_jaccard(a: &[&str], b: &[&str]) -> Option<(u64, u64)> {
    let (a, b) = (bigrams(a), bigrams(b));
    let shared = a.intersection(&b).count() as u64;
    let all = (a.len() + b.len()) as u64 - shared;
    (all > 0).then_some((shared, all))
}

fn category(intake: &CaseIntake) -> Option<String> {
    intake
        .category
        .as_deref()
        .map(normalise_text)
        .filter(|c| !c.is_empty())
}

/// Whether the earlier case is about a similar issue: the same sector and, when both name a
/// category, the same category; otherwise claim and facts sharing at least half of their
/// character bigrams.
pub fn similar_issue(new: &CaseIntake, earlier: &CaseIntake) -> Option<MatchBasis> {
    if new.sector != earlier.sector {
        return None;
    }
    if let (Some(a), Some(b)) = (category(new), category(earlier)) {
        return (a == b).then_some(MatchBasis::SimilarIssue {
            by: SimilarBy::Category,
            score_permille: None,
        });
    }
    let (shared, all) =
        bigram_jaccard(&[&new.claim, &new.facts], &[&earlier.claim, &earlier.facts])?;
    (shared * 1000 >= SIMILAR_TEXT_PERMILLE * all).then(|| MatchBasis::SimilarIssue {
        by: SimilarBy::Text,
        score_permille: Some(((shared * 1000 + all / 2) / all) as u16),
    })
}

/// The basis on which `earlier` (a case with the same complainant key) matches the new intake,
/// or `None` when it is not a candidate (another respondent).
pub fn match_basis(
    new: &CaseIntake,
    key: &ComplainantKey,
    earlier: &Case,
) -> Option<Vec<MatchBasis>> {
    let respondent = normalise_text(&new.respondent.name);
    if respondent.is_empty() || respondent != normalise_text(&earlier.intake.respondent.name) {
        return None;
    }
    let mut basis = vec![
        MatchBasis::SameComplainant {
            identifier: key.identifier,
        },
        MatchBasis::SameRespondent,
    ];
    basis.extend(similar_issue(new, &earlier.intake));
    Some(basis)
}

/// The candidates among `earlier` (the store's answer, newest first), in that order.
pub fn candidates(
    new: &CaseIntake,
    key: &ComplainantKey,
    earlier: &[Case],
) -> Vec<RepeatCandidate> {
    earlier
        .iter()
        .filter(|case| case.complainant_key.as_ref() == Some(key))
        .filter_map(|case| {
            Some(RepeatCandidate {
                case_id: case.id,
                received_at: case.received_at,
                status: case.status,
                basis: match_basis(new, key, case)?,
            })
        })
        .collect()
}

/// The window, in days, from the deciding ruleset's `repeat_window_days` (validated when the
/// package loads) or [`DEFAULT_WINDOW_DAYS`].
pub fn window_days(settings: Option<&std::collections::BTreeMap<String, toml::Value>>) -> i64 {
    settings
        .and_then(|s| s.get(WINDOW_SETTING))
        .and_then(toml::Value::as_integer)
        .filter(|days| (1..=MAX_WINDOW_DAYS).contains(days))
        .unwrap_or(DEFAULT_WINDOW_DAYS)
}

/// The longest window a ruleset may set (ten years).
pub const MAX_WINDOW_DAYS: i64 = 3650;

#[cfg(test)]
mod tests;
