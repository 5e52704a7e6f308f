//! Server configuration: command-line flags, then `REDRESS_*` environment variables (both read
//! by clap), then an optional TOML file, then defaults that work from the repository root.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use serde::Deserialize;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA: &str = "data";
pub const DEFAULT_RULESETS: &str = "rulesets";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// The optional configuration file, e.g. `redress.toml`:
///
/// ```toml
/// [server]
/// listen = "127.0.0.1:8080"
/// data = "data"
/// rulesets = "rulesets"
/// plugins = "target/plugins"
/// max_body_bytes = 262144
/// read_timeout_ms = 30000
/// max_connections = 4096
/// rule_timeout_ms = 2000
/// secure_cookies = true
///
/// [plugins]
/// trusted_keys = "trusted-keys.toml"
///
/// [store]
/// cache_capacity_mb = 256
///
/// [log]
/// format = "json"
/// filter = "info"
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub store: StoreSection,
    #[serde(default)]
    pub plugins: PluginsSection,
    #[serde(default)]
    pub log: LogSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsSection {
    /// The vendor keys whose signed plugins this server accepts (`[[key]]` entries). Once one
    /// key is listed, every plugin package must carry a valid signature by a listed key.
    pub trusted_keys: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub rulesets: Option<PathBuf>,
    /// A second directory of packages, e.g. built plugins (`target/plugins`).
    pub plugins: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    /// How long a client has to send a request's headers, and again its body.
    pub read_timeout_ms: Option<u64>,
    /// Connections served at once.
    pub max_connections: Option<usize>,
    /// Wall-clock bound on one rule decision (a Rhai `decide`, a plugin call).
    pub rule_timeout_ms: Option<u64>,
    /// Mark the console's cookies Secure (`serve --secure-cookies`).
    pub secure_cookies: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    pub cache_capacity_mb: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub format: Option<LogFormat>,
    pub filter: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration file")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{origin}: listen address `{value}` is not host:port (e.g. 127.0.0.1:8080)")]
    Listen { origin: String, value: String },
    #[error("{origin}: max_body_bytes must be between 1024 and 67108864, not {value}")]
    BodyLimit { origin: String, value: usize },
    #[error("{origin}: read_timeout_ms must be between 100 and 600000, not {value}")]
    ReadTimeout { origin: String, value: u64 },
    #[error("{origin}: max_connections must be between 1 and 1000000, not {value}")]
    MaxConnections { origin: String, value: usize },
    #[error("{origin}: rule_timeout_ms must be between 10 and 60000, not {value}")]
    RuleTimeout { origin: String, value: u64 },
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().to_owned();
            ConfigError::Parse {
                path: match line {
                    Some(line) => format!("{origin}:{line}"),
                    None => origin.to_owned(),
                },
                message,
            }
        })
    }
}

/// Everything `redress serve` needs, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    pub data: PathBuf,
    pub rulesets: PathBuf,
    pub plugins: Option<PathBuf>,
    pub trusted_keys: Option<PathBuf>,
    pub max_body_bytes: usize,
    pub cache_capacity_bytes: u64,
    pub connections: crate::server::ConnectionLimits,
    /// Wall-clock bound on one rule decision, both engines.
    pub rule_timeout: std::time::Duration,
}

/// Values given on the command line or in the environment (clap merges those two).
#[derive(Debug, Clone, Default)]
pub struct ServeOverrides {
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub rulesets: Option<PathBuf>,
    pub plugins: Option<PathBuf>,
    pub trusted_keys: Option<PathBuf>,
    pub max_body_bytes: Option<usize>,
    pub read_timeout_ms: Option<u64>,
    pub max_connections: Option<usize>,
}

/// A value from the flags or environment, else the file, else the default, with where it came
/// from (for the error that names it).
fn pick<T: Copy>(
    flag: Option<T>,
    file: Option<T>,
    default: T,
    name: &str,
    file_origin: &str,
) -> (T, String) {
    match (flag, file) {
        (Some(value), _) => (
            value,
            format!(
                "--{} / REDRESS_{}",
                name.replace('_', "-"),
                name.to_uppercase()
            ),
        ),
        (None, Some(value)) => (value, format!("{file_origin} [server] {name}")),
        (None, None) => (default, "default".to_owned()),
    }
}

impl ServeConfig {
    pub fn resolve(
        overrides: ServeOverrides,
        file: &FileConfig,
        file_origin: &str,
    ) -> Result<Self, ConfigError> {
        let (listen, origin) = match overrides.listen {
            Some(l) => (l, "--listen / REDRESS_LISTEN".to_owned()),
            None => match &file.server.listen {
                Some(l) => (l.clone(), format!("{file_origin} [server] listen")),
                None => (DEFAULT_LISTEN.to_owned(), "default".to_owned()),
            },
        };
        let listen = listen.parse().map_err(|_| ConfigError::Listen {
            origin,
            value: listen.clone(),
        })?;
        let max_body_bytes = overrides
            .max_body_bytes
            .or(file.server.max_body_bytes)
            .unwrap_or(crate::server::extract::DEFAULT_BODY_LIMIT);
        if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
            return Err(ConfigError::BodyLimit {
                origin: "max_body_bytes".into(),
                value: max_body_bytes,
            });
        }
        let (read_timeout_ms, origin) = pick(
            overrides.read_timeout_ms,
            file.server.read_timeout_ms,
            crate::server::connections::DEFAULT_READ_TIMEOUT.as_millis() as u64,
            "read_timeout_ms",
            file_origin,
        );
        if !(100..=600_000).contains(&read_timeout_ms) {
            return Err(ConfigError::ReadTimeout {
                origin,
                value: read_timeout_ms,
            });
        }
        let (max_connections, origin) = pick(
            overrides.max_connections,
            file.server.max_connections,
            crate::server::connections::DEFAULT_MAX_CONNECTIONS,
            "max_connections",
            file_origin,
        );
        if !(1..=1_000_000).contains(&max_connections) {
            return Err(ConfigError::MaxConnections {
                origin,
                value: max_connections,
            });
        }
        let rule_timeout_ms = file.server.rule_timeout_ms.unwrap_or(2_000);
        if !(10..=60_000).contains(&rule_timeout_ms) {
            return Err(ConfigError::RuleTimeout {
                origin: format!("{file_origin} [server] rule_timeout_ms"),
                value: rule_timeout_ms,
            });
        }
        Ok(ServeConfig {
            rule_timeout: std::time::Duration::from_millis(rule_timeout_ms),
            connections: crate::server::ConnectionLimits {
                read_timeout: std::time::Duration::from_millis(read_timeout_ms),
                max_connections,
            },
            listen,
            data: overrides
                .data
                .or_else(|| file.server.data.clone())
                .unwrap_or_else(|| DEFAULT_DATA.into()),
            rulesets: overrides
                .rulesets
                .or_else(|| file.server.rulesets.clone())
                .unwrap_or_else(|| DEFAULT_RULESETS.into()),
            plugins: overrides.plugins.or_else(|| file.server.plugins.clone()),
            trusted_keys: overrides
                .trusted_keys
                .or_else(|| file.plugins.trusted_keys.clone()),
            max_body_bytes,
            cache_capacity_bytes: file.store.cache_capacity_mb.unwrap_or(256) * 1024 * 1024,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file = FileConfig::parse(
            "[server]\nlisten = \"127.0.0.1:9000\"\ndata = \"/srv/redress\"\n",
            "r.toml",
        )
        .unwrap();
        let from_file = ServeConfig::resolve(ServeOverrides::default(), &file, "r.toml").unwrap();
        assert_eq!(from_file.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(from_file.data, PathBuf::from("/srv/redress"));
        assert_eq!(from_file.rulesets, PathBuf::from("rulesets"));
        let overridden = ServeConfig::resolve(
            ServeOverrides {
                listen: Some("127.0.0.1:7000".into()),
                ..Default::default()
            },
            &file,
            "r.toml",
        )
        .unwrap();
        assert_eq!(overridden.listen.to_string(), "127.0.0.1:7000");
        let defaults =
            ServeConfig::resolve(ServeOverrides::default(), &FileConfig::default(), "-").unwrap();
        assert_eq!(defaults.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(defaults.data, PathBuf::from(DEFAULT_DATA));
    }

    #[test]
    fn file_errors_name_the_file_and_line() {
        let err =
            FileConfig::parse("[server]\nlisten = \"x\"\nport = 3\n", "redress.toml").unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("redress.toml:3: "), "{message}");
        assert!(message.contains("port"), "{message}");
        let err = ServeConfig::resolve(
            ServeOverrides::default(),
            &FileConfig::parse("[server]\nlisten = \"nowhere\"\n", "r.toml").unwrap(),
            "r.toml",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "r.toml [server] listen: listen address `nowhere` is not host:port (e.g. 127.0.0.1:8080)"
        );
    }

    /// The connection limits were flags only; a deployment configured by file could not set
    /// them. Now they resolve like every other setting, and out-of-range values name their
    /// origin.
    #[test]
    fn connection_limits_come_from_flags_then_file_then_defaults() {
        let file = FileConfig::parse(
            "[server]\nread_timeout_ms = 5000\nmax_connections = 64\n",
            "r.toml",
        )
        .unwrap();
        let from_file = ServeConfig::resolve(ServeOverrides::default(), &file, "r.toml").unwrap();
        assert_eq!(
            from_file.connections,
            crate::server::ConnectionLimits {
                read_timeout: std::time::Duration::from_secs(5),
                max_connections: 64,
            }
        );
        let flagged = ServeConfig::resolve(
            ServeOverrides {
                max_connections: Some(8),
                ..Default::default()
            },
            &file,
            "r.toml",
        )
        .unwrap();
        assert_eq!(flagged.connections.max_connections, 8);
        assert_eq!(
            flagged.connections.read_timeout,
            std::time::Duration::from_secs(5)
        );
        let defaults =
            ServeConfig::resolve(ServeOverrides::default(), &FileConfig::default(), "-").unwrap();
        assert_eq!(
            defaults.connections,
            crate::server::ConnectionLimits::default()
        );
        let err = ServeConfig::resolve(
            ServeOverrides::default(),
            &FileConfig::parse("[server]\nmax_connections = 0\n", "r.toml").unwrap(),
            "r.toml",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "r.toml [server] max_connections: max_connections must be between 1 and 1000000, not 0"
        );
        let err = ServeConfig::resolve(
            ServeOverrides {
                read_timeout_ms: Some(5),
                ..Default::default()
            },
            &FileConfig::default(),
            "-",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "--read-timeout-ms / REDRESS_READ_TIMEOUT_MS: read_timeout_ms must be between 100 and 600000, not 5"
        );
    }
}
