#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use proptest::prelude::*;

const EXPECTED: Expected<'static> = Expected {
    id: "acme-banking",
    version: "1.2.0",
    sector: "banking",
    interface: "1.0.0",
};

fn package() -> Package {
    Package {
        origin: "acme".into(),
        files: BTreeMap::from([
            ("ruleset.toml".into(), "id = \"acme-banking\"\n".into()),
            ("cases/01.yaml".into(), "case: {}\n".into()),
        ]),
        binaries: BTreeMap::from([("plugin.wasm".into(), vec![0, 97, 115, 109, 1, 2, 3])]),
    }
}

fn signed(key: &VendorKey) -> Package {
    let mut package = package();
    let signature = key.sign(&package, &EXPECTED);
    package.files.insert(SIGNATURE_FILE.into(), signature);
    package
}

fn trusting(keys: &[&VendorKey]) -> TrustStore {
    let text: String = keys.iter().map(|k| k.public_toml()).collect();
    TrustStore::parse(&text, "trusted.toml").unwrap()
}

/// Edits one line of the signature file.
fn edit_signature(package: &mut Package, from: &str, to: &str) {
    let text = package.files.get_mut(SIGNATURE_FILE).unwrap();
    assert!(text.contains(from), "{text}");
    *text = text.replacen(from, to, 1);
}

#[test]
fn a_signed_package_verifies_and_names_its_signer() {
    let key = VendorKey::generate("acme").unwrap();
    let signer = trusting(&[&key]).verify(&signed(&key), &EXPECTED).unwrap();
    assert_eq!(
        signer,
        Signer {
            vendor: "acme".into(),
            key_id: key.key_id()
        }
    );
}

#[test]
fn keys_survive_their_files() {
    let key = VendorKey::generate("acme").unwrap();
    let again = VendorKey::parse(&key.secret_toml(), "acme.secret.toml").unwrap();
    assert_eq!(again.key_id(), key.key_id());
    let store = TrustStore::parse(&key.public_toml(), "acme.public.toml").unwrap();
    assert_eq!(store.keys().next().unwrap().key_id, key.key_id());
}

/// Every way a signature can be missing or wrong is refused with its own reason.
#[test]
fn every_unverified_package_is_refused_with_its_reason() {
    let key = VendorKey::generate("acme").unwrap();
    let other = VendorKey::generate("acme").unwrap();
    let store = trusting(&[&key]);
    let value = |p: &Package| {
        let text = &p.files[SIGNATURE_FILE];
        let start = text.find("value = \"").unwrap() + 9;
        text[start..start + 128].to_owned()
    };
    type Edit = Box<dyn Fn(&mut Package)>;
    let table: Vec<(&str, Edit, &str)> = vec![
        (
            "unsigned",
            Box::new(|p| {
                p.files.remove(SIGNATURE_FILE);
            }),
            "not signed",
        ),
        (
            "unknown algorithm",
            Box::new(|p| edit_signature(p, "algorithm = \"ed25519\"", "algorithm = \"rsa\"")),
            "algorithm `rsa`",
        ),
        (
            "empty algorithm",
            Box::new(|p| edit_signature(p, "algorithm = \"ed25519\"", "algorithm = \"\"")),
            "algorithm ``",
        ),
        (
            "missing key id",
            Box::new(|p| {
                let text = p.files.get_mut(SIGNATURE_FILE).unwrap();
                *text = text
                    .lines()
                    .filter(|l| !l.starts_with("key_id"))
                    .map(|l| format!("{l}\n"))
                    .collect();
            }),
            "names no key",
        ),
        (
            "empty signature",
            Box::new(move |p| {
                let v = value(p);
                edit_signature(p, &v, "")
            }),
            "signature is empty",
        ),
        (
            "truncated signature",
            Box::new(move |p| {
                let v = value(p);
                edit_signature(p, &v, &v[..64])
            }),
            "32 bytes; 64 expected",
        ),
        (
            "signature by another key under this key's id",
            {
                let other_signature = value(&signed(&other));
                Box::new(move |p| {
                    let v = value(p);
                    edit_signature(p, &v, &other_signature)
                })
            },
            "does not verify",
        ),
        (
            "statement edited after signing",
            Box::new(|p| edit_signature(p, "version = \"1.2.0\"", "version = \"1.2.1\"")),
            "does not verify",
        ),
        (
            "vendor claimed by a trusted key of another vendor",
            Box::new(|p| edit_signature(p, "vendor = \"acme\"", "vendor = \"bigbank\"")),
            "trusted for vendor `acme`",
        ),
        (
            "binary changed",
            Box::new(|p| p.binaries.get_mut("plugin.wasm").unwrap()[4] ^= 1),
            "changed after it was signed",
        ),
        (
            "fixture added",
            Box::new(|p| {
                p.files.insert("cases/02.yaml".into(), "case: {}\n".into());
            }),
            "changed after it was signed",
        ),
        (
            "unknown field in the signature file",
            Box::new(|p| {
                p.files
                    .get_mut(SIGNATURE_FILE)
                    .unwrap()
                    .push_str("trusted = true\n");
            }),
            "signature.toml:",
        ),
    ];
    for (what, edit, reason) in table {
        let mut package = signed(&key);
        edit(&mut package);
        let error = store.verify(&package, &EXPECTED).unwrap_err().to_string();
        assert!(error.contains(reason), "{what}: {error}");
    }
    // An untrusted key, and a package for something else than what it is deployed as.
    let error = store
        .verify(&signed(&other), &EXPECTED)
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not trust"), "{error}");
    let elsewhere = Expected {
        interface: "2.0.0",
        ..EXPECTED
    };
    let error = store
        .verify(&signed(&key), &elsewhere)
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("interface: signed `1.0.0`, the package is `2.0.0`"),
        "{error}"
    );
}

#[test]
fn bad_trusted_key_files_are_refused_with_the_entry() {
    let key = VendorKey::generate("acme").unwrap();
    let public = key.public_toml();
    let cases = [
        (public.replace(&key.key_id(), "0000"), "does not match"),
        (public.replace("ed25519", "rsa"), "not supported"),
        (format!("{public}{public}"), "listed twice"),
        (
            public.replace("vendor = \"acme\"", "vendor = \" \""),
            "`vendor` is empty",
        ),
        ("[[key]]\nvendor = 1\n".into(), "trusted.toml:2"),
    ];
    for (text, reason) in cases {
        let error = TrustStore::parse(&text, "trusted.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains(reason), "{reason}: {error}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Flipping any bit of the plugin or of any text file breaks the signature.
    #[test]
    fn no_changed_byte_goes_unnoticed(file in 0usize..3, at in 0usize..64, bit in 0u8..8) {
        let key = VendorKey::generate("acme").unwrap();
        let store = trusting(&[&key]);
        let mut package = signed(&key);
        match file {
            0 => {
                let wasm = package.binaries.get_mut("plugin.wasm").unwrap();
                let i = at % wasm.len();
                wasm[i] ^= 1 << bit;
            }
            _ => {
                let name = if file == 1 { "ruleset.toml" } else { "cases/01.yaml" };
                let mut bytes = package.files[name].clone().into_bytes();
                let i = at % bytes.len();
                // Stay within ASCII so the file remains text.
                bytes[i] ^= 1 << (bit % 7);
                package.files.insert(name.into(), String::from_utf8(bytes).unwrap());
            }
        }
        prop_assert!(store.verify(&package, &EXPECTED).is_err());
    }
}
