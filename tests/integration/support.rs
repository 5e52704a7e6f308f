//! Starting, killing and restarting the server; a small JSON client.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_redress");

/// A running server and the data directory it owns.
pub struct Server {
    child: Option<Child>,
    /// Simulated time, when the server was started with one.
    pub clock_file: Option<PathBuf>,
    pub base: String,
    pub data: PathBuf,
    pub log: PathBuf,
    /// The ruleset directory the server reads (the repository's, or a test's own copy).
    pub rulesets: PathBuf,
    _dir: Option<tempfile::TempDir>,
    _rulesets: Option<tempfile::TempDir>,
    /// More `serve` arguments, e.g. `--trusted-keys`.
    extra_args: Vec<std::ffi::OsString>,
    pub client: reqwest::Client,
}

impl Server {
    /// Starts a server on a fresh temporary data directory, with the calendars but no rulesets:
    /// every case gets a recorded rule failure ("no active ruleset") and goes to manual
    /// handling, so the host's own mechanics can be tested apart from any rule.
    pub fn start() -> Server {
        Self::start_inner(None, Some(bare_rulesets()))
    }

    /// Starts a server with the repository's built-in rulesets.
    pub fn start_with_rulesets() -> Server {
        Self::start_inner(None, None)
    }

    /// Starts a server on `rulesets` (a directory with `calendars/` and packages).
    pub fn start_with_ruleset_dir(rulesets: tempfile::TempDir) -> Server {
        Self::start_inner(None, Some(rulesets))
    }

    /// Starts a server on `rulesets` with more `serve` arguments.
    pub fn start_with_args(
        rulesets: tempfile::TempDir,
        args: impl IntoIterator<Item = impl Into<std::ffi::OsString>>,
    ) -> Server {
        Self::start_full(
            None,
            Some(rulesets),
            args.into_iter().map(Into::into).collect(),
        )
    }

    /// Starts a server on its own copy of the repository's calendars (no rulesets), which the
    /// test may edit.
    pub fn start_with_own_calendars() -> Server {
        Self::start_inner(None, Some(bare_rulesets()))
    }

    /// Starts a server whose "now" is read from a file, beginning at `now`; the scheduler runs
    /// every 50 ms.
    pub fn start_with_clock(now: &str) -> Server {
        Self::start_inner(Some(now), Some(bare_rulesets()))
    }

    /// Simulated time and the repository's built-in rulesets.
    pub fn start_with_clock_and_rulesets(now: &str) -> Server {
        Self::start_inner(Some(now), None)
    }

    /// Simulated time and the rulesets (and calendars) in `rulesets`, which the test may edit.
    pub fn start_with_clock_and_ruleset_dir(now: &str, rulesets: tempfile::TempDir) -> Server {
        Self::start_inner(Some(now), Some(rulesets))
    }

    /// Simulated time, the rulesets in `rulesets`, and more `serve` arguments.
    pub fn start_with_clock_rulesets_and_args(
        now: &str,
        rulesets: tempfile::TempDir,
        args: impl IntoIterator<Item = impl Into<std::ffi::OsString>>,
    ) -> Server {
        let mut extra: Vec<std::ffi::OsString> = vec!["--open-access".into()];
        extra.extend(args.into_iter().map(Into::into));
        Self::start_full(Some(now), Some(rulesets), extra)
    }

    /// Replaces the extra `serve` arguments (a key, a limit) for the next `launch`.
    pub fn set_extra_args(&mut self, args: impl IntoIterator<Item = std::ffi::OsString>) {
        let keep_open = self.extra_args.iter().any(|a| a == "--open-access");
        self.extra_args = args.into_iter().collect();
        if keep_open {
            self.extra_args.push("--open-access".into());
        }
    }

    /// Moves simulated time.
    pub fn set_time(&self, now: &str) {
        std::fs::write(self.clock_file.as_ref().unwrap(), now).unwrap();
    }

    fn start_inner(now: Option<&str>, rulesets: Option<tempfile::TempDir>) -> Server {
        // The host's mechanics are tested on an open-access server; `access.rs` tests keys.
        Self::start_full(now, rulesets, vec!["--open-access".into()])
    }

    fn start_full(
        now: Option<&str>,
        rulesets: Option<tempfile::TempDir>,
        extra_args: Vec<std::ffi::OsString>,
    ) -> Server {
        Self::start_prepared(now, rulesets, extra_args, |_| ()).0
    }

    /// Starts a server with the calendars and no rulesets (cases go to manual handling), after
    /// `prepare` has set up its (still empty) data directory, e.g. its API keys.
    pub fn start_with_data<T>(prepare: impl FnOnce(&Path) -> T) -> (Server, T) {
        Self::start_prepared(None, Some(bare_rulesets()), Vec::new(), prepare)
    }

    /// As `start_with_data`, with a copy of the built-in rulesets.
    pub fn start_with_rulesets_and_data<T>(prepare: impl FnOnce(&Path) -> T) -> (Server, T) {
        Self::start_prepared(None, Some(rulesets_copy()), Vec::new(), prepare)
    }

    /// Simulated time from `now`, a copy of the built-in rulesets, open access to the API (the
    /// test makes its cases through it), after `prepare` has set up the data directory (console
    /// accounts): for the browser tests of session expiry.
    pub fn start_with_clock_rulesets_and_data<T>(
        now: &str,
        prepare: impl FnOnce(&Path) -> T,
    ) -> (Server, T) {
        Self::start_prepared(
            Some(now),
            Some(rulesets_copy()),
            vec!["--open-access".into()],
            prepare,
        )
    }

    fn start_prepared<T>(
        now: Option<&str>,
        rulesets: Option<tempfile::TempDir>,
        extra_args: Vec<std::ffi::OsString>,
        prepare: impl FnOnce(&Path) -> T,
    ) -> (Server, T) {
        let dir = tempfile::tempdir().unwrap();
        let clock_file = now.map(|now| {
            let path = dir.path().join("now");
            std::fs::write(&path, now).unwrap();
            path
        });
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let mut server = Server {
            child: None,
            clock_file,
            rulesets: rulesets
                .as_ref()
                .map_or_else(|| repo_root().join("rulesets"), |d| d.path().to_owned()),
            _rulesets: rulesets,
            extra_args,
            base: String::new(),
            data,
            log,
            _dir: Some(dir),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        std::fs::create_dir_all(&server.data).unwrap();
        let prepared = prepare(&server.data);
        server.launch();
        (server, prepared)
    }

    /// Starts the server (again, after `kill9`) on the same data directory.
    pub fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(BIN);
        command.args([
            "--log-format",
            "json",
            "--log",
            "debug,sled=info,hyper=info",
            "serve",
        ]);
        if let Some(clock) = &self.clock_file {
            command
                .arg("--clock-file")
                .arg(clock)
                .args(["--scheduler-interval-ms", "50"]);
        }
        let mut child = command
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(&self.data)
            .arg("--rulesets")
            .arg(&self.rulesets)
            .args(&self.extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        let started = Instant::now();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let address = line
            .trim()
            .strip_prefix("redress listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}; log: {}", self.log_text()));
        assert!(started.elapsed() < Duration::from_secs(30));
        self.base = address.to_owned();
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown, no flush; whatever was acknowledged must survive.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_as("default", path, body).await
    }

    /// A POST on behalf of `tenant`.
    pub async fn post_as(&self, tenant: &str, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("x-redress-tenant", tenant)
            .json(body)
            .send()
            .await
            .unwrap();
        read(response).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        let request = self.client.put(self.url(path)).json(body);
        read(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as("default", path).await
    }

    pub async fn get_as(&self, tenant: &str, path: &str) -> (u16, Value) {
        let request = self
            .client
            .get(self.url(path))
            .header("x-redress-tenant", tenant);
        read(request.send().await.unwrap()).await
    }

    pub async fn create(&self, body: &Value) -> Value {
        self.create_as("default", body).await
    }

    pub async fn create_as(&self, tenant: &str, body: &Value) -> Value {
        let (status, case) = self.post_as(tenant, "/v1/cases", body).await;
        assert_eq!(status, 201, "{case}");
        case
    }

    pub async fn act(&self, id: &str, action: Value) -> (u16, Value) {
        self.post(&format!("/v1/cases/{id}/events"), &action).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.unwrap();
    if status >= 400 {
        assert_eq!(
            content_type, "application/problem+json",
            "status {status}: {text}"
        );
    }
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// A ruleset directory holding a copy of the repository's calendars (and the statutes they
/// cite) and nothing else.
pub fn bare_rulesets() -> tempfile::TempDir {
    let rulesets = tempfile::tempdir().unwrap();
    copy_tree(
        &repo_root().join("rulesets/calendars"),
        &rulesets.path().join("calendars"),
    );
    rulesets
}

/// A copy of the repository's whole ruleset directory (packages and calendars), which a test
/// may edit.
pub fn rulesets_copy() -> tempfile::TempDir {
    let rulesets = tempfile::tempdir().unwrap();
    copy_tree(&repo_root().join("rulesets"), rulesets.path());
    rulesets
}

pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A market-supervision complaint with every art. 9 field present.
pub fn complaint() -> Value {
    json!({
        "sector": "market_supervision",
        "channel": "hotline",
        "received_at": "2026-02-13T10:00:00+08:00",
        "complainant": {"name": "张三", "phone": "13800138000", "address": "杭州市西湖区文三路1号"},
        "respondent": {"name": "某某电器有限公司", "address": "杭州市西湖区", "division_code": "330106"},
        "claim": "退货退款",
        "facts": "空调安装后无法制冷，商家拒绝退货",
        "amount": {"value": "3999.00"},
        "evidence": [{"kind": "invoice", "reference": "INV-2026-0001"}]
    })
}

pub fn audit(data: &Path) -> (i32, String) {
    let output = Command::new(BIN)
        .args(["audit", "verify", "--data"])
        .arg(data)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}
