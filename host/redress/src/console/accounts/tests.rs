#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn new(username: &str, tenant: &'static str, role: Role) -> NewAccount {
    NewAccount {
        username: username.into(),
        display_name: Some("李四".into()),
        tenant: TenantId::from_static(tenant),
        role,
        office: None,
    }
}

fn store_with(username: &str) -> MemoryAccounts {
    let mut file = AccountsFile::default();
    file.create(
        new(username, "default", Role::Handler),
        "correct horse battery",
        &AccessFile::default(),
        at("2026-12-01T00:00:00Z"),
    )
    .unwrap();
    MemoryAccounts::new(file)
}

#[test]
fn a_password_is_kept_as_an_argon2id_hash_and_verifies() {
    let hash = hash_password("correct horse battery").unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("correct"));
    assert!(verify_password("correct horse battery", &hash));
    assert!(!verify_password("correct horse batterY", &hash));
    assert!(!verify_password("", &hash));
    assert!(!verify_password("x", "not a phc string"));
    assert_ne!(
        hash,
        hash_password("correct horse battery").unwrap(),
        "salted"
    );
    let short = hash_password("short").unwrap_err().to_string();
    assert!(short.contains("at least 10 characters"), "{short}");
    let long = hash_password(&"x".repeat(2000)).unwrap_err().to_string();
    assert!(long.contains("at most 1024 bytes"), "{long}");
}

#[test]
fn accounts_need_a_good_username_an_existing_tenant_and_operator_only_on_default() {
    let now = at("2026-12-01T00:00:00Z");
    let mut access = AccessFile::default();
    access
        .create_tenant(&TenantId::from_static("acme"), "Acme", now)
        .unwrap();
    let mut file = AccountsFile::default();
    let cases = [
        (new("Li.Si", "default", Role::Handler), "is not allowed"),
        (new("", "default", Role::Handler), "is not allowed"),
        (new("li.si", "nobody", Role::Handler), "does not exist"),
        (new("li.si", "acme", Role::Operator), "only to accounts of"),
    ];
    for (account, message) in cases {
        let error = file
            .create(account, "correct horse battery", &access, now)
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{error}");
    }
    let mut with_office = new("li.si", "acme", Role::Handler);
    with_office.office = Some("hz/xihu".into());
    let error = file
        .create(with_office, "correct horse battery", &access, now)
        .unwrap_err()
        .to_string();
    assert!(error.contains("not an office id"), "{error}");
    file.create(
        new("li.si", "acme", Role::Handler),
        "correct horse battery",
        &access,
        now,
    )
    .unwrap();
    let taken = file
        .create(
            new("li.si", "default", Role::Auditor),
            "correct horse battery",
            &access,
            now,
        )
        .unwrap_err()
        .to_string();
    assert!(taken.contains("is taken"), "{taken}");
    assert!(
        !serde_json::to_string(&file).unwrap().contains("horse"),
        "only the hash is kept"
    );
    assert!(!format!("{:?}", file.accounts[0]).contains("argon2"));
}

#[test]
fn five_failures_lock_the_account_for_fifteen_minutes() {
    let store = store_with("li.si");
    let now = at("2026-12-01T08:00:00Z");
    for attempt in 1..MAX_FAILURES {
        assert_eq!(
            sign_in(&store, "li.si", "wrong password", None, now, now),
            Err(SignInError::WrongCredentials),
            "attempt {attempt}"
        );
    }
    let until = at("2026-12-01T08:15:00Z");
    assert_eq!(
        sign_in(&store, "li.si", "wrong password", None, now, now),
        Err(SignInError::Locked { until })
    );
    // Locked: even the right password is not checked.
    assert_eq!(
        sign_in(
            &store,
            "li.si",
            "correct horse battery",
            None,
            at("2026-12-01T08:14:59Z"),
            at("2026-12-01T08:14:59Z")
        ),
        Err(SignInError::Locked { until })
    );
    let account = sign_in(&store, "li.si", "correct horse battery", None, until, until).unwrap();
    assert_eq!(account.failed_attempts, 0);
    assert_eq!(account.locked_until, None);
    // A success resets the count.
    for _ in 1..MAX_FAILURES {
        let _ = sign_in(&store, "li.si", "wrong password", None, until, until);
    }
    sign_in(&store, "li.si", "correct horse battery", None, until, until).unwrap();
    assert_eq!(
        sign_in(&store, "li.si", "wrong password", None, until, until),
        Err(SignInError::WrongCredentials)
    );
}

#[test]
fn unknown_users_and_wrong_passwords_read_alike_and_disabled_accounts_are_refused() {
    let store = store_with("li.si");
    let now = at("2026-12-01T08:00:00Z");
    assert_eq!(
        sign_in(&store, "nobody", "correct horse battery", None, now, now),
        Err(SignInError::WrongCredentials)
    );
    store
        .update("li.si", &mut |a| a.disabled_at = Some(now))
        .unwrap();
    assert_eq!(
        sign_in(&store, "li.si", "wrong password", None, now, now),
        Err(SignInError::WrongCredentials),
        "a wrong password does not learn that the account is disabled"
    );
    assert_eq!(
        sign_in(&store, "li.si", "correct horse battery", None, now, now),
        Err(SignInError::Disabled)
    );
}

#[test]
fn a_second_factor_is_asked_when_enabled_and_a_code_works_once() {
    let store = store_with("li.si");
    let mut file = store.file.write().unwrap().clone();
    let secret = file.enable_totp("li.si").unwrap();
    *store.file.write().unwrap() = file;
    let now = at("2026-12-01T08:00:00Z");
    let seconds = u64::try_from(now.as_second()).unwrap();
    let code = totp_code(&secret, seconds).unwrap();
    assert_eq!(code.len(), 6);
    let password = "correct horse battery";
    for wrong in [None, Some("12345"), Some("abcdef")] {
        assert_eq!(
            sign_in(&store, "li.si", password, wrong, now, now),
            Err(SignInError::WrongCredentials),
            "{wrong:?}"
        );
    }
    let other = if code == "000000" { "000001" } else { "000000" };
    assert_eq!(
        sign_in(&store, "li.si", password, Some(other), now, now),
        Err(SignInError::WrongCredentials)
    );
    // Four failures so far; a success resets them.
    sign_in(&store, "li.si", password, Some(&code), now, now).unwrap();
    assert_eq!(
        sign_in(&store, "li.si", password, Some(&code), now, now),
        Err(SignInError::WrongCredentials),
        "a code is accepted once"
    );
    let later = now.saturating_add(SignedDuration::from_secs(30)).unwrap();
    let next = totp_code(&secret, seconds + 30).unwrap();
    assert_eq!(
        sign_in(&store, "li.si", "wrong password", Some(&next), later, later),
        Err(SignInError::WrongCredentials),
        "the right code does not help a wrong password"
    );
    let spaced = format!("{} {}", &next[..3], &next[3..]);
    sign_in(&store, "li.si", password, Some(&spaced), later, later).unwrap();
    // One step of skew either way.
    assert!(check_totp(&secret, &code, seconds + 30).is_some());
    assert!(check_totp(&secret, &code, seconds + 90).is_none());
    let uri = totp_uri(&secret, "li.si", &TenantId::from_static("default"));
    assert!(
        uri.starts_with("otpauth://totp/Redress%3Ali.si%40default?secret="),
        "{uri}"
    );
}

#[test]
fn the_file_store_sees_edits_made_by_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.json");
    let store = FileAccounts::open(&path).unwrap();
    assert!(store.is_empty());
    let now = at("2026-12-01T08:00:00Z");
    let mut file = AccountsFile::load(&path).unwrap();
    file.create(
        new("li.si", "default", Role::Handler),
        "correct horse battery",
        &AccessFile::default(),
        now,
    )
    .unwrap();
    file.save(&path).unwrap();
    assert!(store.find("li.si").unwrap().is_some());
    let _ = sign_in(&store, "li.si", "wrong password", None, now, now);
    assert_eq!(
        AccountsFile::load(&path).unwrap().accounts[0].failed_attempts,
        1
    );
    // A broken edit is refused; the accounts in force stay.
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&path, "{not json").unwrap();
    assert!(store.find("li.si").unwrap().is_some());
    #[cfg(unix)]
    {
        file.save(&path).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn a_made_password_is_long_unambiguous_and_passes_the_rules() {
    let first = generate_password().unwrap();
    let second = generate_password().unwrap();
    assert_ne!(first, second);
    for password in [&first, &second] {
        assert_eq!(password.len(), 23, "{password}");
        assert_eq!(password.split('-').count(), 4, "{password}");
        assert!(!password.chars().any(|c| "0O1lI".contains(c)), "{password}");
        check_password(password).unwrap();
    }
}

#[test]
fn an_edit_that_fails_stores_nothing_and_a_sign_in_is_remembered() {
    let store = store_with("li.si");
    let now = at("2026-12-01T01:00:00Z");
    let error = store
        .edit(&mut |file| {
            file.disable("li.si", now)?;
            file.create(
                new("li.si", "default", Role::Handler),
                "correct horse battery",
                &AccessFile::default(),
                now,
            )
            .map(|_| ())
        })
        .unwrap_err();
    assert!(
        matches!(
            error,
            AccountError::Field {
                field: "username",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!store.find("li.si").unwrap().unwrap().is_disabled());
    assert_eq!(store.list().unwrap().len(), 1);
    let account = sign_in(&store, "li.si", "correct horse battery", None, now, now).unwrap();
    assert_eq!(account.last_sign_in_at, Some(now));
}

#[test]
fn a_code_is_checked_at_the_authenticators_time_not_the_servers() {
    let store = store_with("li.si");
    let mut file = store.file.write().unwrap().clone();
    let secret = file.enable_totp("li.si").unwrap();
    *store.file.write().unwrap() = file;
    // A server on a simulated clock (`--clock-file`) nine months behind the phone.
    let simulated = at("2026-03-02T02:00:00Z");
    let wall = at("2026-12-01T08:00:00Z");
    let code = totp_code(&secret, u64::try_from(wall.as_second()).unwrap()).unwrap();
    let password = "correct horse battery";
    assert_eq!(
        sign_in(&store, "li.si", password, Some(&code), simulated, simulated),
        Err(SignInError::WrongCredentials),
        "checked at the simulated time, the phone's code does not match"
    );
    sign_in(&store, "li.si", password, Some(&code), simulated, wall).unwrap();
}
