//! Embeds the built-in rulesets and calendars (`rulesets/` at the top of the repository) in the
//! binary, so that `redress serve` works outside a checkout (`src/builtin.rs`). Written by hand
//! rather than with include_dir: a list of `include_bytes!` is all it takes, with no proc macro
//! to compile on every build.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            files(&path, out);
        } else if path.is_file() {
            out.push(path);
        }
    }
}

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let root = manifest_dir.join("../../rulesets");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut found = Vec::new();
    files(&root, &mut found);
    let mut code = String::from("pub(crate) static FILES: &[(&str, &[u8])] = &[\n");
    for path in &found {
        let Ok(relative) = path.strip_prefix(&root) else {
            continue;
        };
        let name = relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let absolute = path.canonicalize().unwrap_or_else(|_| path.clone());
        let _ = writeln!(
            code,
            "    ({name:?}, include_bytes!({:?})),",
            absolute.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out.join("builtin_rulesets.rs"), code) {
        println!("cargo:warning=cannot write the built-in rulesets: {e}");
        std::process::exit(1);
    }
}
