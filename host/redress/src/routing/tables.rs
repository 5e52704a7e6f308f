//! Each tenant's routing table on disk (`<data>/routing/<tenant>.toml`), replaced whole through
//! the API and written durably before it takes effect.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, PoisonError, RwLock},
};

use super::{RoutingError, RoutingTable};

/// Each tenant's routing table, kept as `<dir>/<tenant>.toml` and replaced through the API.
#[derive(Debug, Default)]
pub struct RoutingTables {
    dir: Option<PathBuf>,
    tables: RwLock<BTreeMap<String, (Arc<RoutingTable>, String)>>,
    /// Held by each replacement from its check to its insertion, so that a checked edit
    /// (`put_if_unchanged`) and any other replacement do not interleave; readers (every
    /// routed decision) never wait for a replacement's durable write.
    writer: std::sync::Mutex<()>,
}

impl RoutingTables {
    /// Loads every `<tenant>.toml` of `dir` (created if missing). A table that does not load is
    /// an error: the server does not start routing with part of its tables.
    pub fn load_dir(dir: &Path) -> Result<RoutingTables, RoutingError> {
        let failed = |message: String| RoutingError {
            origin: dir.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        let mut tables = BTreeMap::new();
        for (tenant, path) in
            crate::durable::tenant_files(dir).map_err(|e| failed(e.to_string()))?
        {
            let text = std::fs::read_to_string(&path).map_err(|e| failed(e.to_string()))?;
            let table = RoutingTable::parse(&text, &path.display().to_string())?;
            tables.insert(tenant, (Arc::new(table), text));
        }
        Ok(RoutingTables {
            dir: Some(dir.to_owned()),
            tables: RwLock::new(tables),
            writer: std::sync::Mutex::default(),
        })
    }

    /// One tenant's table as stored in `dir`, if it has one: for the command line, which checks
    /// an office against it without the server.
    pub fn load_one(dir: &Path, tenant: &str) -> Result<Option<RoutingTable>, RoutingError> {
        let path = dir.join(format!("{tenant}.toml"));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(RoutingError {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        };
        RoutingTable::parse(&text, &path.display().to_string()).map(Some)
    }

    pub fn get(&self, tenant: &str) -> Option<Arc<RoutingTable>> {
        self.tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .map(|(table, _)| Arc::clone(table))
    }

    /// The table's text as deployed.
    pub fn text(&self, tenant: &str) -> Option<String> {
        self.tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(tenant)
            .map(|(_, text)| text.clone())
    }

    /// [`RoutingTables::put`], only if the text in force (`None`: there is none) is still the
    /// one the edit started from (`unchanged` says): an edit of a table someone else has
    /// replaced since is refused (`Ok(Err(current))`, with the text now in force), and
    /// changes nothing. Checked and replaced under the writers' lock, so two edits of the
    /// same table cannot both pass the check.
    pub fn put_if_unchanged(
        &self,
        tenant: &str,
        unchanged: impl Fn(Option<&str>) -> bool,
        text: &str,
    ) -> Result<Result<Arc<RoutingTable>, Option<String>>, RoutingError> {
        let table = Arc::new(RoutingTable::parse(text, "table")?);
        let _writing = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.text(tenant);
        if !unchanged(current.as_deref()) {
            return Ok(Err(current));
        }
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{tenant}.toml"));
            crate::durable::write_file(&path, text.as_bytes(), false).map_err(|e| {
                RoutingError {
                    origin: path.display().to_string(),
                    message: format!("the table could not be stored: {e}"),
                }
            })?;
        }
        self.tables
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.to_owned(), (Arc::clone(&table), text.to_owned()));
        Ok(Ok(table))
    }

    /// Checks `text`, stores it durably, then puts it in force for `tenant`. A table that does
    /// not load changes nothing.
    pub fn put(&self, tenant: &str, text: &str) -> Result<Arc<RoutingTable>, RoutingError> {
        let table = Arc::new(RoutingTable::parse(text, "table")?);
        let _writing = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(dir) = &self.dir {
            let path = dir.join(format!("{tenant}.toml"));
            crate::durable::write_file(&path, text.as_bytes(), false).map_err(|e| {
                RoutingError {
                    origin: path.display().to_string(),
                    message: format!("the table could not be stored: {e}"),
                }
            })?;
        }
        self.tables
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(tenant.to_owned(), (Arc::clone(&table), text.to_owned()));
        Ok(table)
    }
}
