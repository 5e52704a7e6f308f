//! YAML input (fixture cases, simulation scenarios, case files for the command line), read the
//! same way everywhere: nesting bounded before the parser sees it, errors naming the line and
//! the field.

use serde::de::DeserializeOwned;

/// Deeper than any real document, so no document that could parse is refused; a bound so that
/// a hostile one (100,000 `[`) is refused at once instead of costing seconds of CPU.
pub const MAX_FLOW_DEPTH: usize = 128;

/// Why a YAML document was refused: where, which field, what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}{}: {}{message}", line.map(|l| format!(":{l}")).unwrap_or_default(), if path.is_empty() || path == "." { String::new() } else { format!("at `{path}`: ") })]
pub struct YamlError {
    pub origin: String,
    pub line: Option<u64>,
    /// The field at fault, e.g. `case.intake.respondent.name` (`.` or empty: the document).
    pub path: String,
    pub message: String,
}

/// The line where `[` and `{` first nest deeper than [`MAX_FLOW_DEPTH`]. Brackets inside quoted
/// or plain scalars are counted too: an over-estimate, but one that no crafted quoting can slip
/// past, and no real document has a hundred unclosed brackets.
pub fn too_deeply_nested(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    for byte in text.bytes() {
        match byte {
            b'\n' => line += 1,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Reads one YAML (or JSON, which is YAML) document into `T`. `origin` names the file in errors.
pub fn from_str<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, YamlError> {
    if let Some(line) = too_deeply_nested(text) {
        return Err(YamlError {
            origin: origin.to_owned(),
            line: Some(line as u64),
            path: String::new(),
            message: format!("`[` and `{{` nest deeper than {MAX_FLOW_DEPTH} levels"),
        });
    }
    let mut path = String::new();
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::with_deserializer_from_str_with_options(text, options, |de| {
        serde_path_to_error::deserialize(de).map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
    })
    .map_err(|e| YamlError {
        origin: origin.to_owned(),
        line: e.location().map(|l| l.line()),
        path,
        message: plain_message(&e),
    })
}

/// The error's own words, without the location it repeats (the location is reported apart).
fn plain_message(error: &serde_saphyr::Error) -> String {
    let text = error.to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    match first.rfind(" at line ") {
        Some(at) if first[at..].contains(", column ") => first[..at].to_owned(),
        _ => first.to_owned(),
    }
}

/// Writes a value as YAML (diffs shown to rule authors).
pub fn to_string<T: serde::Serialize>(value: &T) -> String {
    serde_saphyr::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_field() {
        let table = [
            (
                "name: x\ninner:\n  count: many\n",
                "doc.yaml:3: at `inner.count`: ",
            ),
            (
                "name: x\ninner:\n  colour: red\n",
                "doc.yaml:3: at `inner.colour`: unknown field `colour`, expected one of count",
            ),
            ("name: [x\n", "doc.yaml:"),
        ];
        for (text, start) in table {
            let message = from_str::<Doc>(text, "doc.yaml").unwrap_err().to_string();
            assert!(message.starts_with(start), "{message}");
        }
        let deep = format!("name: {}\n", "[".repeat(200));
        assert_eq!(
            from_str::<Doc>(&deep, "doc.yaml").unwrap_err().to_string(),
            "doc.yaml:1: `[` and `{` nest deeper than 128 levels"
        );
        let ok: Doc = from_str("name: x\ninner: {count: 3}\n", "doc.yaml").unwrap();
        assert_eq!(ok.inner.count, 3);
    }
}
