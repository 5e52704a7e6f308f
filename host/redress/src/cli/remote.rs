//! Asking a running server from the command line (its data directory is locked while it runs):
//! `redress audit verify --server URL`.

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

use crate::store::AuditReport;

/// `POST <server>/v1/audit/verify` with `key` as the bearer token; the server's report.
pub fn verify(server: &str, key: Option<&str>) -> anyhow::Result<AuditReport> {
    let body = post(server, "/v1/audit/verify", key)?;
    serde_json::from_slice(&body).context("the server's answer is not an audit report")
}

/// `http://host:port` only: the server's audit endpoint is for the operator's own network (a
/// TLS terminator in front of it speaks HTTPS to the world).
fn authority(server: &str) -> anyhow::Result<&str> {
    let rest = server.strip_prefix("http://").with_context(|| {
        format!("--server {server}: give an http:// address, e.g. http://127.0.0.1:8080")
    })?;
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        bail!("--server {server}: give the server's address only, e.g. http://127.0.0.1:8080");
    }
    Ok(authority)
}

fn post(server: &str, path: &str, key: Option<&str>) -> anyhow::Result<Bytes> {
    let authority = authority(server)?.to_owned();
    let path = path.to_owned();
    let key = key.map(str::to_owned);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let stream = tokio::net::TcpStream::connect(&authority)
            .await
            .with_context(|| format!("cannot connect to {authority}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .context("HTTP handshake")?;
        tokio::spawn(connection);
        let mut request = hyper::Request::post(&path)
            .header(hyper::header::HOST, &authority)
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(key) = &key {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {key}"));
        }
        let request = request
            .body(Full::new(Bytes::from_static(b"{}")))
            .context("building the request")?;
        let response = sender
            .send_request(request)
            .await
            .with_context(|| format!("POST {path} to {authority}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .context("reading the answer")?
            .to_bytes();
        if !status.is_success() {
            let detail = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["detail"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("{authority} answered {status}: {detail}");
        }
        Ok(body)
    })
}
