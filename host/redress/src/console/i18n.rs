//! The console's words: message catalogues `i18n/zh-CN.toml` and `i18n/en.toml`, embedded in
//! the binary. Chinese first: zh-CN is the default; the cookie `redress_lang` (set by the
//! language link on every page) chooses English.
//!
//! A catalogue is TOML tables of strings (`[sign_in] title = "登录"`), read as dotted keys
//! (`sign_in.title`). A value may name arguments in braces (`{name}`), filled by
//! [`Texts::fill`].
//!
//! Invariants: every string a person reads in the console comes from a catalogue; both
//! catalogues have exactly the same keys and the same arguments per key (a unit test fails
//! otherwise); a key missing at run time shows the key itself, never an empty page.

use std::{collections::BTreeMap, sync::LazyLock};

/// The language cookie's name.
pub const LANG_COOKIE: &str = "redress_lang";

const ZH_CN: &str = include_str!("../../i18n/zh-CN.toml");
const EN: &str = include_str!("../../i18n/en.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    ZhCn,
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::ZhCn, Lang::En];

    /// The BCP 47 tag, for `<html lang>` and the cookie.
    pub fn code(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL
            .into_iter()
            .find(|lang| lang.code().eq_ignore_ascii_case(code))
    }

    /// The language from the `redress_lang` cookie, else zh-CN.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Lang {
        super::sessions::cookie(headers, LANG_COOKIE)
            .and_then(Lang::from_code)
            .unwrap_or_default()
    }

    /// The other language, which the switch on every page offers.
    pub fn other(self) -> Lang {
        match self {
            Lang::ZhCn => Lang::En,
            Lang::En => Lang::ZhCn,
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::ZhCn => ZH_CN,
            Lang::En => EN,
        }
    }

    fn catalogue(self) -> &'static Catalogue {
        static ZH: LazyLock<Catalogue> = LazyLock::new(|| Catalogue::parse(Lang::ZhCn.source()));
        static EN: LazyLock<Catalogue> = LazyLock::new(|| Catalogue::parse(Lang::En.source()));
        match self {
            Lang::ZhCn => &ZH,
            Lang::En => &EN,
        }
    }
}

/// Dotted key → text.
#[derive(Debug, Default)]
struct Catalogue(BTreeMap<String, String>);

impl Catalogue {
    /// A catalogue that does not parse is empty (every key then shows itself); the unit tests
    /// parse both strictly, so a broken one never ships.
    fn parse(source: &str) -> Catalogue {
        Catalogue(flatten(source).unwrap_or_default())
    }
}

fn flatten(source: &str) -> Result<BTreeMap<String, String>, String> {
    fn walk(
        prefix: &str,
        table: &toml::Table,
        out: &mut BTreeMap<String, String>,
    ) -> Result<(), String> {
        for (key, value) in table {
            let key = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                toml::Value::String(text) => {
                    out.insert(key, text.clone());
                }
                toml::Value::Table(table) => walk(&key, table, out)?,
                other => return Err(format!("{key}: a {} is not a text", other.type_str())),
            }
        }
        Ok(())
    }
    let table: toml::Table = toml::from_str(source).map_err(|e| e.to_string())?;
    let mut out = BTreeMap::new();
    walk("", &table, &mut out)?;
    Ok(out)
}

/// The words of one language, handed to every template as `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Texts {
    pub lang: Lang,
}

impl Texts {
    pub fn new(lang: Lang) -> Texts {
        Texts { lang }
    }

    /// The text of `key` (the key itself if the catalogue lacks it).
    pub fn t<'a>(&self, key: &'a str) -> &'a str
    where
        'static: 'a,
    {
        self.lang.catalogue().0.get(key).map_or(key, String::as_str)
    }

    /// The text of `key`, if the catalogue has it: for keys made from data (a status, an
    /// action's name), where the page falls back to the data itself.
    pub fn lookup(&self, key: &str) -> Option<&'static str> {
        self.lang.catalogue().0.get(key).map(String::as_str)
    }

    /// The text of `key` with each `{name}` replaced by its value.
    pub fn fill(&self, key: &str, args: &[(&str, &str)]) -> String {
        let mut text = self.t(key).to_owned();
        for (name, value) in args {
            text = text.replace(&format!("{{{name}}}"), value);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::collections::BTreeSet;

    fn arguments(text: &str) -> BTreeSet<String> {
        text.split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}'))
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// Both catalogues parse, hold only texts, have the same keys and the same arguments.
    #[test]
    fn both_catalogues_have_the_same_keys() {
        let zh = flatten(ZH_CN).expect("zh-CN.toml");
        let en = flatten(EN).expect("en.toml");
        let only_zh: Vec<_> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
        let only_en: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
        assert!(
            only_zh.is_empty() && only_en.is_empty(),
            "missing from en.toml: {only_zh:?}; missing from zh-CN.toml: {only_en:?}"
        );
        for (key, text) in &zh {
            assert!(!text.trim().is_empty(), "zh-CN {key} is empty");
            assert!(!en[key].trim().is_empty(), "en {key} is empty");
            assert_eq!(arguments(text), arguments(&en[key]), "arguments of {key}");
        }
        assert!(zh.len() > 30, "{}", zh.len());
    }

    #[test]
    fn chinese_is_the_default_and_a_cookie_chooses() {
        let mut headers = axum::http::HeaderMap::new();
        assert_eq!(Lang::from_headers(&headers), Lang::ZhCn);
        headers.insert(
            axum::http::header::COOKIE,
            axum::http::HeaderValue::from_static("redress_lang=en"),
        );
        assert_eq!(Lang::from_headers(&headers), Lang::En);
        headers.insert(
            axum::http::header::COOKIE,
            axum::http::HeaderValue::from_static("redress_lang=fr"),
        );
        assert_eq!(Lang::from_headers(&headers), Lang::ZhCn);
        assert_eq!(Texts::new(Lang::ZhCn).t("sign_in.title"), "登录");
        assert_eq!(Texts::new(Lang::En).t("sign_in.title"), "Sign in");
        assert_eq!(Texts::new(Lang::En).t("no.such.key"), "no.such.key");
        assert_eq!(
            Texts::new(Lang::En).fill("home.signed_in_as", &[("name", "Li Si")]),
            "Signed in as Li Si"
        );
    }
}
