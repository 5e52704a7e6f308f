//! Normalisation and similarity, table-driven.
#![allow(clippy::unwrap_used)]

use redress_domain::{
    Actor, CaseId, TrackingCode,
    repeat::{ComplainantIdentifier, MatchBasis, SimilarBy},
};

use super::*;

#[test]
fn phones_normalise_to_their_digits_without_the_country_code_of_a_mobile() {
    for (raw, expected) in [
        ("13800138000", Some("13800138000")),
        ("+86 138-0013-8000", Some("13800138000")),
        ("+86 13800138000", Some("13800138000")),
        ("0086 138 0013 8000", Some("13800138000")),
        ("8613800138000", Some("13800138000")),
        ("(+86) 138 0013 8000", Some("13800138000")),
        ("１３８００１３８０００", Some("13800138000")),
        // A landline keeps its area code; +86 is removed only before an 11-digit mobile.
        ("0571-8888 6666", Some("057188886666")),
        ("+86 571 8888 6666", Some("8657188886666")),
        ("12315", Some("12315")),
        // 86 followed by 11 digits that are not a mobile number is not a country code.
        ("8602112345678", Some("8602112345678")),
        ("1234", None),
        ("", None),
        ("--", None),
    ] {
        assert_eq!(normalise_phone(raw).as_deref(), expected, "{raw:?}");
    }
}

#[test]
fn identity_numbers_keep_letters_and_digits_upper_case() {
    for (raw, expected) in [
        ("11010519491231002x", Some("11010519491231002X")),
        ("110105 19491231 002X", Some("11010519491231002X")),
        (
            "１１０１０５１９４９１２３１００２Ｘ",
            Some("11010519491231002X"),
        ),
        ("E1234-5678", Some("E12345678")),
        ("x-1", None),
    ] {
        assert_eq!(
            normalise_identity_number(raw).as_deref(),
            expected,
            "{raw:?}"
        );
    }
}

#[test]
fn names_compare_without_white_space_punctuation_or_width() {
    for (a, b, same) in [
        ("某某银行（北京）分行", "某某银行(北京)分行", true),
        ("某某银行 北京分行", "某某银行北京分行", true),
        ("某某电器有限公司。", "某某电器有限公司", true),
        ("ＡＢＣ　Ｌｔｄ．", "abc ltd", true),
        ("《某某》物业", "「某某」物业", true),
        ("某某·物业", "某某物业", true),
        ("〇〇七商店", "七商店", false),
        ("某某银行", "某某保险", false),
    ] {
        assert_eq!(normalise_text(a) == normalise_text(b), same, "{a} / {b}");
    }
}

#[test]
fn bigram_jaccard_counts_shared_character_pairs() {
    for (a, b, expected) in [
        // Identical texts.
        (vec!["退货退款"], vec!["退货退款"], Some((3, 3))),
        // 退货 货退 退款 | 退货 货退 退钱: 2 shared of 4.
        (vec!["退货退款"], vec!["退货退钱"], Some((2, 4))),
        // Punctuation and spaces do not count.
        (vec!["退货，退款！"], vec!["退 货 退 款"], Some((3, 3))),
        // Claim and facts are bigrams of each, not across the boundary.
        (vec!["退款", "空调"], vec!["退款空调"], Some((2, 3))),
        (vec!["退款"], vec!["维修"], Some((0, 2))),
        (vec!["退"], vec![""], None),
    ] {
        assert_eq!(bigram_jaccard(&a, &b), expected, "{a:?} / {b:?}");
    }
}

fn intake(
    sector: &str,
    respondent: &str,
    claim: &str,
    facts: &str,
    category: Option<&str>,
) -> CaseIntake {
    serde_json::from_value(serde_json::json!({
        "sector": sector, "channel": "web", "received_at": "2026-02-13T10:00:00+08:00",
        "complainant": {"name": "王五", "phone": "+86 138-0013-8000"},
        "respondent": {"name": respondent}, "claim": claim, "facts": facts, "category": category
    }))
    .unwrap()
}

#[test]
fn similar_issue_by_category_or_by_text() {
    let similar_text = |score| {
        Some(MatchBasis::SimilarIssue {
            by: SimilarBy::Text,
            score_permille: Some(score),
        })
    };
    let by_category = Some(MatchBasis::SimilarIssue {
        by: SimilarBy::Category,
        score_permille: None,
    });
    for (new, earlier, expected) in [
        // Same category: similar whatever the text.
        (
            intake("banking", "某银行", "退款", "", Some("fees")),
            intake("banking", "某银行", "投诉服务态度", "", Some("fees")),
            by_category.clone(),
        ),
        // Two categories that differ: not similar, however close the text.
        (
            intake("banking", "某银行", "撤销不当扣费", "", Some("fees")),
            intake("banking", "某银行", "撤销不当扣费", "", Some("cards")),
            None,
        ),
        // One category missing: by text.
        (
            intake(
                "banking",
                "某银行",
                "撤销不当扣费",
                "信用卡年费",
                Some("fees"),
            ),
            intake("banking", "某银行", "撤销不当扣费", "信用卡年费", None),
            similar_text(1000),
        ),
        // Half the bigrams shared is enough (2 of 4).
        (
            intake("banking", "某银行", "退货退款", "", None),
            intake("banking", "某银行", "退货退钱", "", None),
            similar_text(500),
        ),
        // Fewer is not (1 of 5: 退货 货退 退款 | 退货 货换 换新).
        (
            intake("banking", "某银行", "退货退款", "", None),
            intake("banking", "某银行", "退货换新", "", None),
            None,
        ),
        // Another sector is never a similar issue.
        (
            intake("banking", "某银行", "撤销不当扣费", "", None),
            intake("healthcare", "某银行", "撤销不当扣费", "", None),
            None,
        ),
    ] {
        assert_eq!(
            similar_issue(&new, &earlier),
            expected,
            "{} / {}",
            new.claim,
            earlier.claim
        );
    }
}

#[test]
fn a_phone_written_differently_gives_the_same_key_and_the_key_hides_it() {
    let key = RepeatKey::from_bytes([1; 32]);
    let a = intake("banking", "某银行", "x", "", None).complainant;
    let mut b = a.clone();
    b.phone = Some("13800138000".into());
    let (ka, kb) = (
        key.complainant_key(&a).unwrap(),
        key.complainant_key(&b).unwrap(),
    );
    assert_eq!(ka, kb);
    assert_eq!(ka.identifier, ComplainantIdentifier::Phone);
    let json = serde_json::to_string(&ka).unwrap();
    assert!(
        !json.contains("13800138000") && !json.contains("138-0013"),
        "{json}"
    );
    // Another server's key gives another digest.
    assert_ne!(
        RepeatKey::from_bytes([2; 32]).complainant_key(&a),
        Some(ka.clone())
    );
    // Without a phone, the identity number; with neither, no key.
    let mut c = a.clone();
    c.phone = None;
    assert_eq!(key.complainant_key(&c), None);
    c.identity_document = Some(redress_domain::case::IdentityDocument {
        kind: "resident_id_card".into(),
        number: "11010519491231002x".into(),
    });
    let kc = key.complainant_key(&c).unwrap();
    assert_eq!(kc.identifier, ComplainantIdentifier::IdentityNumber);
    // A phone and an identity number with the same characters never collide.
    let mut d = a.clone();
    d.phone = None;
    d.identity_document = Some(redress_domain::case::IdentityDocument {
        kind: "passport".into(),
        number: "13800138000".into(),
    });
    assert_ne!(key.complainant_key(&d).unwrap().digest, ka.digest);
}

#[test]
fn a_candidate_needs_the_same_respondent_and_records_every_basis() {
    let key = RepeatKey::from_bytes([1; 32]);
    let earlier_intake = intake(
        "banking",
        "某某银行（北京）分行",
        "撤销不当扣费",
        "信用卡年费",
        None,
    );
    let ck = key.complainant_key(&earlier_intake.complainant).unwrap();
    let register = |intake: CaseIntake, n: u64| {
        let (mut case, _) = Case::register(
            CaseId::from_parts(n, 0),
            TrackingCode::from_random(n),
            redress_domain::TenantId::default_tenant(),
            intake,
            Actor::api("t"),
            "2026-02-13T02:00:00Z".parse().unwrap(),
        )
        .unwrap();
        case.complainant_key = Some(ck.clone());
        case
    };
    let same = register(earlier_intake.clone(), 1);
    let other_respondent = register(intake("banking", "另一银行", "撤销不当扣费", "", None), 2);
    let mut unkeyed = register(earlier_intake, 3);
    unkeyed.complainant_key = None;
    let new = intake(
        "banking",
        "某某银行(北京)分行",
        "撤销不当扣费",
        "信用卡年费",
        None,
    );
    let found = candidates(&new, &ck, &[same.clone(), other_respondent, unkeyed]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].case_id, same.id);
    assert_eq!(
        found[0].basis,
        vec![
            MatchBasis::SameComplainant {
                identifier: ComplainantIdentifier::Phone
            },
            MatchBasis::SameRespondent,
            MatchBasis::SimilarIssue {
                by: SimilarBy::Text,
                score_permille: Some(1000)
            },
        ]
    );
}

#[test]
fn the_window_is_the_rulesets_setting_or_a_year() {
    let settings = |value: toml::Value| [(WINDOW_SETTING.to_owned(), value)].into();
    assert_eq!(window_days(None), DEFAULT_WINDOW_DAYS);
    assert_eq!(window_days(Some(&Default::default())), 365);
    assert_eq!(window_days(Some(&settings(toml::Value::Integer(60)))), 60);
    assert_eq!(window_days(Some(&settings(toml::Value::Integer(0)))), 365);
    assert_eq!(
        window_days(Some(&settings(toml::Value::String("60".into())))),
        365
    );
}
