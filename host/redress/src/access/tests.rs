#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

/// Security review: the `default` tenant's keys acted on every tenant. Only the operator
/// role, on a `default` key, carries the operator's powers.
#[test]
fn default_tenant_keys_are_not_operators_unless_given_the_operator_role() {
    let now = at("2026-12-01T00:00:00Z");
    let mut file = AccessFile::default();
    file.create_tenant(&TenantId::from_static("acme"), "Acme", now)
        .unwrap();
    let principal = |file: &AccessFile, key: &str| file.authenticate(key, now).unwrap();
    for role in Role::ALL {
        let (_, key) = file
            .create_key(
                &TenantId::from_static("default"),
                role,
                "x",
                None,
                None,
                now,
            )
            .unwrap();
        assert_eq!(
            principal(&file, &key).is_operator(),
            role == Role::Operator,
            "{role:?}"
        );
    }
    // A hand-edited file that gives another tenant's key the role gives it no power.
    let (_, key) = file
        .create_key(
            &TenantId::from_static("acme"),
            Role::ComplianceAdmin,
            "x",
            None,
            None,
            now,
        )
        .unwrap();
    file.keys.last_mut().unwrap().role = Role::Operator;
    assert!(!principal(&file, &key).is_operator());
    let open = |tenant: &'static str| Principal {
        tenant: TenantId::from_static(tenant),
        role: None,
        via: Via::Open,
        name: "dev".into(),
        office: None,
    };
    assert!(open("default").is_operator(), "a development server");
    assert!(!open("acme").is_operator());
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn a_key_authenticates_until_revoked_or_expired() {
    let now = at("2026-12-01T00:00:00Z");
    let mut file = AccessFile::default();
    file.create_tenant(&TenantId::from_static("acme-bank"), "Acme Bank", now)
        .unwrap();
    let (record, key) = file
        .create_key(
            &TenantId::from_static("acme-bank"),
            Role::Handler,
            "li.si",
            None,
            Some(at("2027-01-01T00:00:00Z")),
            now,
        )
        .unwrap();
    assert!(
        !serde_json::to_string(&file).unwrap().contains(&key[20..]),
        "only the hash is kept"
    );
    let principal = file.authenticate(&key, now).unwrap();
    assert_eq!(principal.tenant, "acme-bank");
    assert_eq!(principal.role, Some(Role::Handler));
    assert_eq!(
        principal.actor_id(),
        format!("li.si (handler, key {})", record.id)
    );

    let cases: [(&str, AuthError); 4] = [
        (
            "rdk_",
            AuthError::Malformed("not a Redress API key (`rdk_<id>_<secret>`)".into()),
        ),
        (
            "sk_live_123",
            AuthError::Malformed("not a Redress API key (`rdk_<id>_<secret>`)".into()),
        ),
        (&format!("rdk_{}_wrong", record.id), AuthError::Unknown),
        ("rdk_000000000000_abc", AuthError::Unknown),
    ];
    for (token, expected) in cases {
        assert_eq!(
            file.authenticate(token, now).unwrap_err(),
            expected,
            "{token}"
        );
    }
    let expired = file
        .authenticate(&key, at("2027-01-01T00:00:00Z"))
        .unwrap_err();
    assert!(matches!(expired, AuthError::Expired { .. }), "{expired}");
    file.revoke_key(&record.id, now).unwrap();
    assert_eq!(
        file.authenticate(&key, now).unwrap_err(),
        AuthError::Revoked(record.id.clone())
    );
}

#[test]
fn keys_need_an_existing_tenant_a_holder_and_a_future_expiry() {
    let now = at("2026-12-01T00:00:00Z");
    let mut file = AccessFile::default();
    let cases = [
        ("nobody", "x", None, "does not exist"),
        ("default", " ", None, "1 to 100 characters"),
        (
            "default",
            "x",
            Some(at("2026-11-30T00:00:00Z")),
            "in the past",
        ),
    ];
    for (tenant, name, expires, message) in cases {
        let error = file
            .create_key(
                &TenantId::from_static(tenant),
                Role::Auditor,
                name,
                None,
                expires,
                now,
            )
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{error}");
    }
    file.create_tenant(&TenantId::from_static("acme"), "Acme", now)
        .unwrap();
    assert!(
        file.create_tenant(&TenantId::from_static("acme"), "Acme", now)
            .is_err()
    );
    let error = file
        .create_key(
            &TenantId::from_static("acme"),
            Role::Operator,
            "x",
            None,
            None,
            now,
        )
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("only to keys of the `default` tenant"),
        "{error}"
    );
    assert!(TenantId::parse("Not Valid!").is_err());
}

#[test]
fn the_header_must_be_a_bearer_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.json");
    let now = at("2026-12-01T00:00:00Z");
    assert!(
        AccessControl::from_file(&path).is_err(),
        "no key: refused, not open"
    );
    let mut file = AccessFile::default();
    let (_, key) = file
        .create_key(
            &TenantId::from_static("default"),
            Role::Auditor,
            "auditor",
            None,
            None,
            now,
        )
        .unwrap();
    file.save(&path).unwrap();
    let control = AccessControl::from_file(&path).unwrap();
    let cases = [
        (None, "an API key is required"),
        (Some("Basic dXNlcjpwYXNz"), "scheme `Basic`"),
        (Some("Bearer"), "expected `Bearer <key>`"),
        (Some("Bearer rdk"), "not a Redress API key"),
    ];
    for (header, message) in cases {
        let error = control
            .authenticate(header, &TenantId::from_static("default"), "x", now)
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{header:?}: {error}");
    }
    let principal = control
        .authenticate(
            Some(&format!("bearer {key}")),
            &TenantId::from_static("other"),
            "x",
            now,
        )
        .unwrap();
    assert_eq!(
        principal.tenant, "default",
        "the key decides the tenant, not a header"
    );
    assert!(!principal.sees_identity());
}

#[test]
fn an_office_is_for_the_roles_that_work_cases_and_old_files_load_unscoped() {
    let now = at("2026-12-01T00:00:00Z");
    let mut file = AccessFile::default();
    let tenant = TenantId::from_static("default");
    for role in Role::ALL {
        let made = file.create_key(&tenant, role, "x", Some("xihu"), None, now);
        assert_eq!(made.is_ok(), OFFICE_ROLES.contains(&role), "{role:?}");
    }
    let error = file
        .create_key(&tenant, Role::Handler, "x", Some("西湖 office"), None, now)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not an office id"), "{error}");
    let (record, key) = file
        .create_key(&tenant, Role::Handler, "li.si", Some("xihu"), None, now)
        .unwrap();
    assert_eq!(record.office.as_deref(), Some("xihu"));
    let principal = file.authenticate(&key, now).unwrap();
    assert_eq!(principal.office.as_deref(), Some("xihu"));
    assert_eq!(
        principal.scope(),
        Some(OfficeScope {
            office: "xihu".into(),
            person: "li.si".into()
        })
    );
    // A file written before offices existed: its keys load, unscoped.
    let old = r#"{"format":"redress-access/1","tenants":[],"keys":[{"id":"0a0b0c0d0e0f",
        "tenant":"default","role":"handler","name":"old","secret_sha256":"00",
        "created_at":"2026-01-01T00:00:00Z","expires_at":null,"revoked_at":null}]}"#;
    let loaded: AccessFile = serde_json::from_str(old).unwrap();
    assert_eq!(loaded.keys[0].office, None);
    assert!(
        !serde_json::to_string(&loaded).unwrap().contains("office"),
        "an unscoped key is written as before"
    );
}

#[test]
fn the_console_records_name_username_role_and_console() {
    let principal = Principal {
        tenant: TenantId::from_static("default"),
        role: Some(Role::Handler),
        via: Via::Console {
            display_name: "李四".into(),
        },
        name: "li.si".into(),
        office: None,
    };
    assert_eq!(principal.actor_id(), "李四 (li.si, handler, console)");
}
