//! `redress calendar …`: maintaining the working-day calendars in `<rulesets>/calendars`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use redress_calendar::notice::{self, ParsedNotice};
use redress_calendar::{Calendar, CalendarSet};

/// The `calendar` subcommands.
#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Read a State Council notice (国务院办公厅关于XXXX年部分节假日安排的通知, plain text)
    /// into a `[[years]]` table; print it, the days it changes and the cross-checks.
    /// Nothing is written without --write.
    ImportNotice {
        /// The notice as plain text, one item (一、元旦：…) per line.
        notice: PathBuf,
        /// The calendar the year is for (for a variant, the calendar it extends gets the year).
        #[arg(long)]
        calendar: String,
        /// Write the year as a new year file `<calendar>-<year>.toml` beside the calendar file,
        /// after checking that the folder loads with it.
        #[arg(long)]
        write: bool,
    },
}

/// Run a `calendar` subcommand against `<rulesets_dir>/calendars`. A notice that cannot be
/// read prints `notice.txt:LINE: message` and exits 1; other failures are errors.
pub fn run(cmd: CalendarCommand, rulesets_dir: &Path) -> anyhow::Result<ExitCode> {
    match cmd {
        CalendarCommand::ImportNotice {
            notice,
            calendar,
            write,
        } => import_notice(&notice, &calendar, write, &rulesets_dir.join("calendars")),
    }
}

fn import_notice(
    path: &Path,
    calendar_id: &str,
    write: bool,
    calendars_dir: &Path,
) -> anyhow::Result<ExitCode> {
    let set = CalendarSet::load_dir(calendars_dir)?;
    let calendar = set.get(calendar_id).with_context(|| {
        format!(
            "no calendar {calendar_id} in {} (known: {})",
            calendars_dir.display(),
            set.ids().collect::<Vec<_>>().join(", ")
        )
    })?;
    // Years live in the calendar that defines them; a variant only adds overrides.
    let base = base_of(&set, calendar)?;
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let parsed = match notice::parse_notice_for(&text, base) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{}:{}: {}", path.display(), e.line, e.message);
            eprintln!("    {}", e.text);
            return Ok(ExitCode::from(1));
        }
    };
    let toml = notice::to_toml(&parsed);
    print!("{toml}");
    println!();
    print_diff(base, &parsed);
    if !parsed.warnings.is_empty() {
        println!();
        println!("Warnings:");
        for w in &parsed.warnings {
            println!("  {w}");
        }
    }
    if write {
        write_year(base, &parsed, &toml, calendars_dir)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn base_of<'a>(set: &'a CalendarSet, mut calendar: &'a Calendar) -> anyhow::Result<&'a Calendar> {
    while let Some(parent) = calendar.extends() {
        calendar = set
            .get(parent)
            .with_context(|| format!("calendar {} extends unknown {parent}", calendar.id()))?;
    }
    Ok(calendar)
}

fn print_diff(base: &Calendar, parsed: &ParsedNotice) {
    let changes = notice::diff_against(base, parsed);
    let against = if base.covers(parsed.year) {
        format!("the published {} of {} (amendment)", parsed.year, base.id())
    } else {
        format!("the provisional {} of {}", parsed.year, base.id())
    };
    if changes.is_empty() {
        println!("No day changes its working/rest status against {against}.");
        return;
    }
    println!(
        "{} days change their working/rest status against {against}:",
        changes.len()
    );
    for change in &changes {
        println!("  {}", change.describe());
    }
}

/// Write the year as a year file (`years_for = "<id>"`), `<id>-<year>.toml` beside the
/// calendar's file: the calendar's own file is never edited. Refused when the year is already
/// covered (an amendment is edited by hand where the year is), when the file exists, or when
/// the folder would not load with it.
fn write_year(
    base: &Calendar,
    parsed: &ParsedNotice,
    toml: &str,
    calendars_dir: &Path,
) -> anyhow::Result<()> {
    if let Some(year) = base.year_source(parsed.year) {
        let defined_in = year.file.as_deref().unwrap_or(base.source_file());
        bail!(
            "{defined_in} already has [[years]] year = {}: not written. For an amendment, edit that table by hand (the changes are listed above).",
            parsed.year
        );
    }
    let dir = Path::new(base.source_file())
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(calendars_dir);
    let name = format!("{}-{}.toml", base.id(), parsed.year);
    let file = dir.join(&name);
    if std::fs::symlink_metadata(&file).is_ok() {
        bail!(
            "{} already exists: not written. Move it away or fix it by hand.",
            file.display()
        );
    }
    let text = year_file_text(base.id(), parsed, toml);

    // Validate the whole folder as it will be (variants included) before touching it.
    let scratch = ScratchDir::new()?;
    copy_dir(calendars_dir, scratch.path())?;
    std::fs::write(scratch.path().join(&name), &text)?;
    if let Err(e) = CalendarSet::load_dir(scratch.path()) {
        bail!(
            "not written: with year {} the calendars would not load:\n{e}",
            parsed.year
        );
    }
    crate::durable::write_file(&file, text.as_bytes(), false)
        .with_context(|| format!("{}: cannot write", file.display()))?;
    println!();
    println!(
        "Wrote year {} ({} rest blocks, {} make-up days) of {} to {}.",
        parsed.year,
        parsed.rests.len(),
        parsed.make_ups.len(),
        base.id(),
        file.display()
    );
    Ok(())
}

/// The year file: a comment naming the notice, `years_for`, then the `[[years]]` table.
fn year_file_text(calendar_id: &str, parsed: &ParsedNotice, toml: &str) -> String {
    let source = parsed.source.replace(['\r', '\n'], " ");
    let table = toml
        .strip_prefix("# ")
        .and_then(|t| t.split_once('\n'))
        .filter(|(rule, _)| rule.chars().all(|c| c == '-'))
        .map_or(toml, |(_, rest)| rest);
    format!(
        "# {source}\n# Year {} of {calendar_id}, added by `redress calendar import-notice`; format: README.md in this folder.\nyears_for = \"{calendar_id}\"\n\n{table}",
        parsed.year
    )
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in
        std::fs::read_dir(from).with_context(|| format!("{}: cannot read", from.display()))?
    {
        let path = entry?.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        let target = to.join(name);
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target)
                .with_context(|| format!("{}: cannot copy", path.display()))?;
        }
    }
    Ok(())
}

/// A temporary directory removed on drop.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "redress-calendar-check-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        Ok(ScratchDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
