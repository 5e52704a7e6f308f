//! Hostile input against the real server: oversized and deeply nested bodies, invalid UTF-8 in
//! bodies, headers and paths, path traversal in every file name a request carries, slow clients
//! and many idle connections. The parsers themselves are fuzzed in `fuzz`.

mod fuzz;

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::support::{Server, bare_rulesets, complaint, read, repo_root};

fn address(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_owned()
}

fn connect(server: &Server) -> TcpStream {
    let stream = TcpStream::connect(address(server)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
}

/// Sends `request` as is and reads the whole response (the request should ask for
/// `Connection: close`). Plain sockets: these requests are not what an HTTP client would send.
fn raw(server: &Server, request: &[u8]) -> String {
    let mut stream = connect(server);
    // The server may answer and close before taking all of a request it refuses.
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    // A reset after the response is the server closing a connection it will not read further.
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

fn body_of(response: &str) -> Value {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {response}"))
}

fn is_problem(response: &str) -> bool {
    response
        .to_ascii_lowercase()
        .contains("content-type: application/problem+json")
}

/// The server still registers a case, promptly.
async fn still_serves(server: &Server) {
    let started = Instant::now();
    server.create(&complaint()).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

async fn send_json(server: &Server, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let request = server
        .client
        .request(method.parse().unwrap(), server.url(path))
        .header("content-type", "application/json")
        .header("x-redress-tenant", "default")
        .body(body);
    read(request.send().await.unwrap()).await
}

// ---------------------------------------------------------------------------------------------
// Size and nesting

/// Found: a body declared over the limit was still waited for (and read up to the limit)
/// before the 413, so a client that sends headers first and waits heard nothing. Plain sockets,
/// because an HTTP client that keeps sending after the 413 may lose it to the reset that
/// follows (hyper does not linger after closing).
#[tokio::test]
async fn a_body_declared_over_the_limit_is_a_413_problem_before_any_of_it_is_sent() {
    let server = Server::start();
    let started = Instant::now();
    let response = raw(
        &server,
        b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\nConnection: close\r\n\r\n",
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status_of(&response), 413, "{response}");
    assert!(is_problem(&response), "{response}");
    assert_eq!(body_of(&response)["status"], 413);
    still_serves(&server).await;
}

/// Found by the error-class test once the early 413 landed: the server closed a keep-alive
/// connection after refusing an unread body without saying so, and the client's next request on
/// that connection failed with an incomplete message.
#[tokio::test]
async fn a_refused_unread_body_says_connection_close() {
    let server = Server::start();
    let response = raw(
        &server,
        b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n",
    );
    assert_eq!(status_of(&response), 413, "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{response}"
    );
    still_serves(&server).await;
}

/// Chunked, so no length is declared: the limit applies while reading.
#[tokio::test]
async fn a_chunked_body_over_the_limit_is_a_413_problem() {
    let server = Server::start();
    let chunk = "x".repeat(270 * 1024);
    let request = format!(
        "POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
        chunk.len()
    );
    let response = raw(&server, request.as_bytes());
    assert_eq!(status_of(&response), 413, "{response}");
    assert!(is_problem(&response), "{response}");
    still_serves(&server).await;
}

#[tokio::test]
async fn deeply_nested_json_is_a_clean_400_and_the_server_keeps_serving() {
    let server = Server::start();
    for body in [
        "[".repeat(100_000),
        "{\"a\":".repeat(40_000),
        format!(
            "{{\"sector\": \"market_supervision\", \"facts\": {}",
            "[".repeat(100_000)
        ),
        format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)),
    ] {
        let (status, problem) = send_json(&server, "POST", "/v1/cases", body.into_bytes()).await;
        assert_eq!(status, 400, "{problem}");
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("recursion limit")
                || problem["detail"].as_str().unwrap().contains("EOF"),
            "{problem}"
        );
    }
    still_serves(&server).await;
}

/// TOML and Rhai reach their parsers inside JSON strings, on the server's own threads.
#[tokio::test]
async fn deeply_nested_toml_and_rhai_are_refused_cleanly() {
    let server = Server::start();
    let deep_array = format!("a = {}", "[".repeat(100_000));
    let deep_table = format!("a = {}", "{b = ".repeat(50_000));
    for (path, document) in [
        ("/v1/routing", &deep_array),
        ("/v1/plugin-keys", &deep_table),
    ] {
        let (status, problem) = send_json(
            &server,
            "PUT",
            path,
            serde_json::to_vec(&json!({"toml": document})).unwrap(),
        )
        .await;
        assert_eq!(status, 422, "{path}: {problem}");
        assert!(!problem["detail"].as_str().unwrap().is_empty());
    }
    let manifest = "id = \"hotline-deep\"\nversion = \"1.0.0\"\nname = \"t\"\nsector = \"government_hotline\"\neffective_from = 2020-01-01\nengine = \"rhai\"\n";
    let rules = "fn decide(trigger, the_case, ctx) { [] }";
    let packages: [BTreeMap<&str, String>; 2] = [
        [
            ("ruleset.toml", format!("{manifest}{deep_array}\n")),
            ("rules.rhai", rules.into()),
        ]
        .into(),
        [
            ("ruleset.toml", manifest.into()),
            (
                "rules.rhai",
                format!("fn decide(a, b, c) {{ {} }}", "(".repeat(100_000)),
            ),
        ]
        .into(),
    ];
    for files in packages {
        let (status, problem) = server.post("/v1/rulesets", &json!({"files": files})).await;
        assert_eq!(status, 422, "{problem}");
    }
    still_serves(&server).await;
}

/// libyaml takes quadratic time over nested flow collections: this fixture kept a blocking
/// thread busy for 30 s before serde_yaml's depth limit refused it.
#[tokio::test]
async fn deeply_nested_fixture_yaml_is_refused_at_once_not_after_seconds_of_cpu() {
    let server = Server::start();
    let manifest = "id = \"hotline-deep\"\nversion = \"1.0.0\"\nname = \"t\"\nsector = \"government_hotline\"\neffective_from = 2020-01-01\nengine = \"rhai\"\n";
    let files: BTreeMap<&str, String> = [
        ("ruleset.toml", manifest.into()),
        (
            "rules.rhai",
            "fn decide(trigger, the_case, ctx) { [] }".into(),
        ),
        (
            "cases/01.yaml",
            format!("description: x\nnow: {}", "[".repeat(100_000)),
        ),
    ]
    .into();
    let started = Instant::now();
    let (status, problem) = server.post("/v1/rulesets", &json!({"files": files})).await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains("cases/01.yaml:2") && detail.contains("nest deeper than 128"),
        "{detail}"
    );
    still_serves(&server).await;
}

// ---------------------------------------------------------------------------------------------
// Invalid UTF-8

#[tokio::test]
async fn invalid_utf8_in_body_headers_and_path_is_a_400_problem() {
    let server = Server::start();
    let (status, problem) = send_json(
        &server,
        "POST",
        "/v1/cases",
        b"{\"sector\": \"market_supervision\", \"claim\": \"\xff\xfe\"}".to_vec(),
    )
    .await;
    assert_eq!(status, 400, "{problem}");

    // Header values may carry bytes above 0x7f on the wire (obs-text).
    let response = raw(
        &server,
        b"GET /v1/cases HTTP/1.1\r\nHost: x\r\nX-Redress-Tenant: \xc3\x28\xff\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&response), 400, "{response}");
    assert!(is_problem(&response), "{response}");
    assert_eq!(
        body_of(&response)["errors"][0]["pointer"],
        "/x-redress-tenant"
    );

    // Percent-encoded invalid UTF-8 in the path and the query.
    let (status, problem) = server.get("/v1/cases/%FF%FE").await;
    assert_eq!(status, 400, "{problem}");
    assert_eq!(problem["errors"][0]["pointer"], "/id");
    let (status, problem) = server.get("/v1/cases?status=%FF%FE").await;
    assert_eq!(status, 400, "{problem}");

    // Raw bytes above 0x7f in the request line are not HTTP; the connection is refused
    // without taking the server down.
    let response = raw(
        &server,
        b"GET /v1/cases/\xff\xfe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        response.is_empty() || status_of(&response) == 400,
        "{response}"
    );
    still_serves(&server).await;
}

// ---------------------------------------------------------------------------------------------
// Path traversal

#[tokio::test]
async fn path_traversal_in_package_file_names_is_refused_and_writes_nothing() {
    let server = Server::start();
    let outside = server.data.parent().unwrap().to_owned();
    let before = std::fs::read_dir(&outside).unwrap().count();
    let manifest = "id = \"hotline-x\"\nversion = \"1.0.0\"\nname = \"t\"\nsector = \"government_hotline\"\neffective_from = 2020-01-01\nengine = \"rhai\"\n";
    let rules = "fn decide(trigger, the_case, ctx) { [] }";
    for (member, name) in [
        ("files", "../x.toml"),
        ("files", "../../x.toml"),
        ("files", "cases/../../x.yaml"),
        ("files", "cases/../x.rhai"),
        ("files", "/tmp/x.toml"),
        ("files", "..\\x.toml"),
        ("files", "cases//x.yaml"),
        ("files", "./ruleset.toml"),
        ("files", "cases/.x.yaml"),
        ("files", "x.toml\0.rhai"),
        ("files", "%2e%2e/x.toml"),
        ("binaries", "../x.wasm"),
        ("binaries", "/tmp/x.wasm"),
        ("binaries", "cases/../../x.wasm"),
    ] {
        let mut package = json!({"files": {"ruleset.toml": manifest, "rules.rhai": rules}});
        package[member][name] = json!(if member == "binaries" {
            "AGFzbQEAAAA="
        } else {
            "x"
        });
        let (status, problem) = server.post("/v1/rulesets", &package).await;
        assert_eq!(status, 422, "{name}: {problem}");
        let pointer = format!("/{member}/{}", name.replace('~', "~0").replace('/', "~1"));
        assert_eq!(problem["errors"][0]["pointer"], pointer, "{problem}");
    }
    // A manifest cannot name a file outside the package either.
    for (field, value) in [
        ("id", "../x"),
        ("version", "1.0.0/../../x"),
        ("entry", "../x.rhai"),
    ] {
        let text = format!("{manifest}{field} = \"{value}\"\n").replace(
            &format!(
                "{field} = \"{}\"\n",
                if field == "id" { "hotline-x" } else { "1.0.0" }
            ),
            "",
        );
        let files = json!({"ruleset.toml": text, "rules.rhai": rules});
        let (status, problem) = server.post("/v1/rulesets", &json!({"files": files})).await;
        assert_eq!(status, 422, "{field}: {problem}");
    }
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), before);
    still_serves(&server).await;
}

#[tokio::test]
async fn a_tenant_id_that_is_a_path_is_refused_before_it_becomes_a_file_name() {
    let server = Server::start();
    let routing =
        std::fs::read_to_string(repo_root().join("tests/routing/zhejiang-msa.toml")).unwrap();
    for tenant in [
        "../../etc",
        "..",
        ".",
        "a/../../b",
        "a\\..\\b",
        "%2e%2e",
        "/etc",
        "-x",
        "",
    ] {
        for (path, body) in [
            ("/v1/routing", json!({"toml": routing})),
            ("/v1/plugin-keys", json!({"toml": ""})),
        ] {
            let response = server
                .client
                .put(server.url(path))
                .header("x-redress-tenant", tenant)
                .json(&body)
                .send()
                .await
                .unwrap();
            let (status, problem) = read(response).await;
            assert_eq!(status, 400, "{tenant:?} {path}: {problem}");
            assert_eq!(problem["errors"][0]["pointer"], "/x-redress-tenant");
        }
    }
    let root = server.data.parent().unwrap();
    for dir in [root.to_owned(), server.data.clone()] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name();
            assert!(
                !name.to_string_lossy().ends_with(".toml"),
                "{name:?} in {}",
                dir.display()
            );
        }
    }
    still_serves(&server).await;
}

// ---------------------------------------------------------------------------------------------
// Slow clients and many connections

/// A server that cuts slow clients off after one second.
fn impatient_server(extra: &[&str]) -> Server {
    let mut args = vec!["--open-access", "--read-timeout-ms", "1000"];
    args.extend_from_slice(extra);
    Server::start_with_args(bare_rulesets(), args)
}

/// Whether the server closes `stream` (a read returns end of file or an error) within `limit`.
fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                );
            }
        }
    }
}

#[tokio::test]
async fn a_client_dribbling_its_headers_is_cut_off_and_others_are_served() {
    let server = impatient_server(&[]);
    let mut slow = connect(&server);
    slow.write_all(b"GET /v1/cases HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = Instant::now();
    let dribbler = std::thread::spawn(move || {
        // One header line every 200 ms, for up to 10 s: never a complete head.
        slow.set_nonblocking(true).unwrap();
        for i in 0..50 {
            if slow
                .write_all(format!("X-Slow-{i}: y\r\n").as_bytes())
                .is_err()
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
            if matches!(slow.read(&mut [0u8; 64]), Ok(0)) {
                break;
            }
        }
        started.elapsed()
    });
    still_serves(&server).await;
    let held = dribbler.join().unwrap();
    assert!(held < Duration::from_secs(4), "held for {held:?}");
}

#[tokio::test]
async fn a_client_dribbling_its_body_gets_a_408_problem() {
    let server = impatient_server(&[]);
    let mut slow = connect(&server);
    slow.write_all(
        b"POST /v1/cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    )
    .unwrap();
    let started = Instant::now();
    let mut writer = slow.try_clone().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = std::sync::Arc::clone(&stop);
    let dribbler = std::thread::spawn(move || {
        while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            if writer.write_all(b" ").is_err() {
                break;
            }
        }
    });
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&response).contains('}') {
        match slow.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&buf[..n]),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    dribbler.join().unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(status_of(&response), 408, "{response}");
    assert!(is_problem(&response), "{response}");
    let problem = body_of(&response);
    assert!(
        problem["type"]
            .as_str()
            .unwrap()
            .ends_with("request-timeout"),
        "{problem}"
    );
    still_serves(&server).await;
}

#[tokio::test]
async fn a_thousand_idle_connections_do_not_keep_a_client_waiting() {
    let server = impatient_server(&[]);
    let mut idle: Vec<TcpStream> = (0..1_000).map(|_| connect(&server)).collect();
    still_serves(&server).await;
    // And they do not stay: each is closed once the read timeout has passed.
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    for stream in idle.iter_mut().take(50) {
        assert!(closed_within(stream, Duration::from_secs(2)));
    }
}

#[tokio::test]
async fn at_the_connection_cap_a_new_client_waits_only_until_idle_ones_are_shed() {
    let server = impatient_server(&["--max-connections", "8"]);
    let _idle: Vec<TcpStream> = (0..8).map(|_| connect(&server)).collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let (status, _) = server.get("/v1/cases").await;
    assert_eq!(status, 200);
    // Not before the idle connections time out (1 s), but promptly after.
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(700), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}
