//! The one `multipart/form-data` body the console reads: the ruleset upload form (a hidden
//! `csrf` field and the package file). Parsed here rather than with axum's `multipart`
//! feature, which brings a streaming parser and its dependencies for a single form whose body
//! is read whole anyway (within the package limit, as `POST /v1/rulesets` reads its body).

use axum::{
    extract::{FromRequest, Request},
    http::header,
};

use super::{Lang, PageError, Texts};
use crate::server::extract::{BodyLimit, BodyReadTimeout, DEFAULT_BODY_LIMIT, PACKAGE_BODY_LIMIT};

/// One part of the form: its field name, its file name if it is a file, its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub data: Vec<u8>,
}

/// Why a body is not a form this parser reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    #[error("not multipart/form-data with a boundary")]
    NotMultipart,
    #[error("the body is not well-formed multipart/form-data")]
    Malformed,
}

/// The boundary of a `multipart/form-data; boundary=…` content type.
pub fn boundary(content_type: &str) -> Result<String, MultipartError> {
    let mut params = content_type.split(';');
    let kind = params.next().unwrap_or_default().trim();
    if !kind.eq_ignore_ascii_case("multipart/form-data") {
        return Err(MultipartError::NotMultipart);
    }
    params
        .filter_map(|p| p.split_once('='))
        .find(|(key, _)| key.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or(MultipartError::NotMultipart)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `name="value"` of a `Content-Disposition` header.
fn disposition_param(header: &str, param: &str) -> Option<String> {
    header.split(';').skip(1).find_map(|p| {
        let (key, value) = p.split_once('=')?;
        (key.trim().eq_ignore_ascii_case(param)).then(|| value.trim().trim_matches('"').to_owned())
    })
}

/// The parts of `body`, delimited by `boundary` (RFC 7578).
pub fn parse(body: &[u8], boundary: &str) -> Result<Vec<Part>, MultipartError> {
    let delimiter = format!("--{boundary}").into_bytes();
    let start = find(body, &delimiter).ok_or(MultipartError::Malformed)?;
    let mut rest = &body[start + delimiter.len()..];
    let next_delimiter = [b"\r\n".as_slice(), &delimiter].concat();
    let mut parts = Vec::new();
    loop {
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or(MultipartError::Malformed)?;
        let head_end = find(rest, b"\r\n\r\n").ok_or(MultipartError::Malformed)?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| MultipartError::Malformed)?;
        let content = &rest[head_end + 4..];
        let end = find(content, &next_delimiter).ok_or(MultipartError::Malformed)?;
        let disposition = head
            .split("\r\n")
            .find_map(|line| {
                let (key, value) = line.split_once(':')?;
                key.trim()
                    .eq_ignore_ascii_case("content-disposition")
                    .then_some(value.trim())
            })
            .ok_or(MultipartError::Malformed)?;
        parts.push(Part {
            name: disposition_param(disposition, "name").ok_or(MultipartError::Malformed)?,
            filename: disposition_param(disposition, "filename"),
            data: content[..end].to_vec(),
        });
        rest = &content[end + next_delimiter.len()..];
    }
}

/// A `multipart/form-data` body read whole, within the package limit (`PACKAGE_BODY_LIMIT`,
/// or the server's body limit if larger) and the body timeout; anything else is a 400 page.
#[derive(Debug)]
pub struct PageMultipart(pub Vec<Part>);

impl<S: Send + Sync> FromRequest<S> for PageMultipart {
    type Rejection = PageError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let texts = Texts::new(Lang::from_headers(request.headers()));
        let path = request.uri().path().to_owned();
        let refused = || PageError::bad_form(texts, &path);
        let boundary = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(refused)
            .and_then(|v| boundary(v).map_err(|_| refused()))?;
        let limit = request
            .extensions()
            .get::<BodyLimit>()
            .map_or(DEFAULT_BODY_LIMIT, |l| l.0)
            .max(PACKAGE_BODY_LIMIT);
        let too_large = || PageError {
            status: axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            texts,
            heading_key: "deploy.too_large_title",
            message: texts.fill("deploy.too_large", &[("mib", &(limit >> 20).to_string())]),
            path: path.clone(),
        };
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }
        let timeout = request
            .extensions()
            .get::<BodyReadTimeout>()
            .map_or(crate::server::connections::DEFAULT_READ_TIMEOUT, |t| t.0);
        let body = tokio::time::timeout(timeout, axum::body::to_bytes(request.into_body(), limit))
            .await
            .map_err(|_| refused())?
            .map_err(|_| too_large())?;
        parse(&body, &boundary)
            .map(PageMultipart)
            .map_err(|_| refused())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_browser_form_is_read_and_a_broken_one_is_refused() {
        let b = boundary("multipart/form-data; boundary=\"----x1\"").unwrap();
        assert_eq!(b, "----x1");
        assert!(boundary("application/x-www-form-urlencoded").is_err());
        let body = b"------x1\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n------x1\r\nContent-Disposition: form-data; name=\"package\"; filename=\"p.json\"\r\nContent-Type: application/json\r\n\r\n{\"files\":{}}\r\n--\r\n------x1--\r\n";
        let parts = parse(body, &b).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "csrf");
        assert_eq!(parts[0].data, b"tok");
        assert_eq!(parts[1].filename.as_deref(), Some("p.json"));
        assert_eq!(parts[1].data, b"{\"files\":{}}\r\n--");
        assert_eq!(
            parse(b"------x1\r\nno headers end", &b),
            Err(MultipartError::Malformed)
        );
        assert_eq!(parse(b"nothing", &b), Err(MultipartError::Malformed));
    }

    proptest::proptest! {
        /// Outside input: whatever the bytes, the parser answers (parts or a refusal), never
        /// panics; and a form as a browser writes it is read back part for part.
        #[test]
        fn any_body_is_answered_and_browser_forms_round_trip(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            fields in proptest::collection::vec(
                ("[a-z_]{1,12}", proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)),
                1..5,
            ),
        ) {
            let boundary = "----redressBoundary7MA4YWxkTrZu0gW";
            let _ = parse(&noise, boundary);
            let mut with_noise = format!("--{boundary}\r\n").into_bytes();
            with_noise.extend_from_slice(&noise);
            let _ = parse(&with_noise, boundary);

            let mut body = Vec::new();
            for (name, data) in &fields {
                body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
                body.extend_from_slice(data);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
            // A part whose data holds the delimiter itself cannot be told apart; browsers
            // choose a boundary that does not occur, and so does this generator.
            let delimiter = format!("\r\n--{boundary}").into_bytes();
            proptest::prop_assume!(fields.iter().all(|(_, d)| !d.windows(delimiter.len()).any(|w| w == delimiter.as_slice())));
            let parts = parse(&body, boundary).unwrap();
            proptest::prop_assert_eq!(parts.len(), fields.len());
            for (part, (name, data)) in parts.iter().zip(&fields) {
                proptest::prop_assert_eq!(&part.name, name);
                proptest::prop_assert_eq!(&part.data, data);
            }
        }
    }
}
