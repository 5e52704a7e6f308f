//! Reading a State Council holiday notice (国务院办公厅关于XXXX年部分节假日安排的通知) into a
//! calendar `[[years]]` table.
//!
//! The notice is the primary source of every covered year, so transcribing it by hand is the
//! step most likely to introduce a wrong date. The parser reads the standard forms used from
//! 2015 on, checks every weekday annotation against the date, and refuses any item line it
//! does not understand (naming the line) rather than skipping it: a skipped line would be a
//! missing holiday. Pure: no I/O.

use std::collections::BTreeSet;

use jiff::civil::{Date, Weekday};

use crate::calendar::{Calendar, DayKind};
use crate::statute::StatutoryDay;

/// A notice read into a calendar year.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedNotice {
    /// The year the notice schedules.
    pub year: i16,
    /// The title, followed by the document number in parentheses when the notice carries one.
    pub source: String,
    /// The date under the signature, `YYYY-MM-DD`.
    pub published: Option<String>,
    /// Rest blocks, in the notice's order.
    pub rests: Vec<NoticeRest>,
    /// Make-up working days, in the notice's order.
    pub make_ups: Vec<NoticeMakeUp>,
    /// Things that parse but look wrong (cross-checks against the statute and the stated
    /// totals). They never stop an import: the notice is the authority, not the check.
    pub warnings: Vec<String>,
}

/// One rest block (放假).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRest {
    /// The holiday name as written (e.g. `国庆节、中秋节`).
    pub name: String,
    /// First day of the block.
    pub first: Date,
    /// Last day of the block.
    pub last: Date,
    /// Weekdays of the block that are in-lieu rest days (调休放假), ascending.
    pub in_lieu: Vec<Date>,
    /// The notice line it was read from (1-based).
    pub line: usize,
    /// The total the notice states (`共N天`, `放假N天`), if any.
    pub stated_days: Option<u32>,
}

/// One make-up working day (调休上班).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeMakeUp {
    /// The date worked.
    pub date: Date,
    /// The name of the rest block it makes up for.
    pub for_holiday: String,
    /// The notice line it was read from (1-based).
    pub line: usize,
}

/// A notice line that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: cannot read \"{text}\": {message}")]
pub struct NoticeError {
    /// 1-based line number.
    pub line: usize,
    /// The line as written.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

/// A day whose working/rest status the notice changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayChange {
    /// The date.
    pub date: Date,
    /// What the calendar says today (overrides left out: they apply after the schedule).
    pub before: DayKind,
    /// Whether `before` is the weekly pattern only, because the year is not covered.
    pub before_provisional: bool,
    /// What the notice says.
    pub after: DayKind,
}

impl DayChange {
    /// `2027-01-02 Sat: provisional rest (weekend) → working (make-up day for 元旦)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {}: {}{} → {}",
            self.date,
            weekday_en(self.date.weekday()),
            if self.before_provisional {
                "provisional "
            } else {
                ""
            },
            status_text(&self.before),
            status_text(&self.after)
        )
    }
}

fn status_text(kind: &DayKind) -> String {
    let status = if kind.is_working() { "working" } else { "rest" };
    let why = match kind {
        DayKind::Working => "working day".to_owned(),
        DayKind::MakeUpWorkday { holiday } => format!("make-up day for {holiday}"),
        DayKind::Weekend => "weekend".to_owned(),
        DayKind::Holiday { name } => format!("holiday {name}"),
        DayKind::InLieuRest { holiday } => format!("in-lieu rest day of {holiday}"),
        DayKind::StatutoryHoliday { name, .. } => format!("statutory holiday {name}"),
        DayKind::Override { reason, .. } => format!("override: {reason}"),
    };
    format!("{status} ({why})")
}

fn weekday_en(wd: Weekday) -> &'static str {
    match wd {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    }
}

fn weekday_long(wd: Weekday) -> &'static str {
    match wd {
        Weekday::Monday => "Monday",
        Weekday::Tuesday => "Tuesday",
        Weekday::Wednesday => "Wednesday",
        Weekday::Thursday => "Thursday",
        Weekday::Friday => "Friday",
        Weekday::Saturday => "Saturday",
        Weekday::Sunday => "Sunday",
    }
}

fn is_weekend(d: Date) -> bool {
    matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday)
}

fn md(d: Date) -> String {
    format!("{}月{}日", d.month(), d.day())
}

/// Full-width digits and ASCII punctuation are both found in published copies; one form
/// keeps the grammar small. Whitespace carries no meaning in Chinese running text.
fn normalize(line: &str) -> String {
    line.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '０'..='９' => {
                char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
            }
            '(' => '（',
            ')' => '）',
            ':' => '：',
            ',' => '，',
            ';' => '；',
            '.' => '。',
            '[' | '［' | '【' => '〔',
            ']' | '］' | '】' => '〕',
            other => other,
        })
        .collect()
}

struct LineErr<'a> {
    line: usize,
    text: &'a str,
}

impl LineErr<'_> {
    fn err(&self, message: impl Into<String>) -> NoticeError {
        NoticeError {
            line: self.line,
            text: self.text.to_owned(),
            message: message.into(),
        }
    }
}

/// Read a notice. See the module documentation for what is accepted.
pub fn parse_notice(text: &str) -> Result<ParsedNotice, NoticeError> {
    parse_with(text, None)
}

/// Like [`parse_notice`], and with the calendar's statute (if it has one) the in-lieu days
/// are the weekdays of each block that are not statutory holidays, and the statutory days
/// are cross-checked. Without it, only days the notice calls 补休 are in lieu.
pub fn parse_notice_for(text: &str, calendar: &Calendar) -> Result<ParsedNotice, NoticeError> {
    parse_with(text, Some(calendar))
}

fn parse_with(text: &str, calendar: Option<&Calendar>) -> Result<ParsedNotice, NoticeError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut title: Option<(usize, String, i16)> = None;
    let mut doc_number: Option<String> = None;
    let mut published: Option<String> = None;
    let mut items: Vec<Item> = Vec::new();
    let mut warnings = Vec::new();

    for (i, raw) in lines.iter().enumerate() {
        let at = LineErr {
            line: i + 1,
            text: raw.trim(),
        };
        let norm = normalize(raw);
        if norm.is_empty() {
            continue;
        }
        if title.is_none() && norm.contains("节假日安排的通知") {
            let year = title_year(&norm).ok_or_else(|| {
                at.err(
                    "expected the year in the title, as in 国务院办公厅关于2026年部分节假日安排的通知",
                )
            })?;
            title = Some((i + 1, norm.trim_end_matches('。').to_owned(), year));
            continue;
        }
        if doc_number.is_none()
            && let Some(n) = find_doc_number(&norm)
        {
            doc_number = Some(n);
            continue;
        }
        if let Some(rest) = item_body(&norm) {
            let Some((_, _, year)) = title else {
                return Err(at.err(
                    "a holiday item before the title; expected the title 国务院办公厅关于XXXX年部分节假日安排的通知 first",
                ));
            };
            items.push(parse_item(rest, year, &at, &mut warnings)?);
            continue;
        }
        if let Some(d) = signature_date(&norm) {
            published = Some(d);
        }
    }

    let Some((title_line, title_text, year)) = title else {
        let first = lines
            .iter()
            .enumerate()
            .find(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, l.trim()))
            .unwrap_or((1, ""));
        return Err(LineErr {
            line: first.0,
            text: first.1,
        }
        .err("expected the title 国务院办公厅关于XXXX年部分节假日安排的通知"));
    };
    if items.is_empty() {
        return Err(LineErr {
            line: title_line,
            text: lines.get(title_line - 1).map_or("", |l| l.trim()),
        }
        .err("no holiday items (一、元旦：…) follow the title"));
    }

    let mut rests: Vec<NoticeRest> = Vec::new();
    let mut make_ups: Vec<NoticeMakeUp> = Vec::new();
    for item in &items {
        let line_text = lines.get(item.line - 1).map_or("", |l| l.trim());
        let at = LineErr {
            line: item.line,
            text: line_text,
        };
        if let Some(other) = rests
            .iter()
            .find(|r| r.first <= item.last && item.first <= r.last)
        {
            return Err(at.err(format!(
                "{} {}..{} overlaps {} {}..{} (line {})",
                item.name,
                md(item.first),
                md(item.last),
                other.name,
                md(other.first),
                md(other.last),
                other.line
            )));
        }
        rests.push(NoticeRest {
            name: item.name.clone(),
            first: item.first,
            last: item.last,
            in_lieu: item.in_lieu.iter().copied().collect(),
            line: item.line,
            stated_days: item.stated_days,
        });
    }
    for item in &items {
        let line_text = lines.get(item.line - 1).map_or("", |l| l.trim());
        let at = LineErr {
            line: item.line,
            text: line_text,
        };
        for &date in &item.make_ups {
            if let Some(r) = rests.iter().find(|r| r.first <= date && date <= r.last) {
                return Err(at.err(format!(
                    "make-up working day {} is inside the rest block {} {}..{}",
                    md(date),
                    r.name,
                    md(r.first),
                    md(r.last)
                )));
            }
            if make_ups.iter().any(|m| m.date == date) {
                return Err(at.err(format!("make-up working day {} is listed twice", md(date))));
            }
            make_ups.push(NoticeMakeUp {
                date,
                for_holiday: item.name.clone(),
                line: item.line,
            });
        }
    }

    let source = match doc_number {
        Some(n) => format!("{title_text} ({n})"),
        None => title_text,
    };
    let mut notice = ParsedNotice {
        year,
        source,
        published,
        rests,
        make_ups,
        warnings,
    };
    cross_check(&mut notice, calendar);
    Ok(notice)
}

fn title_year(norm: &str) -> Option<i16> {
    let end = norm.find("年部分节假日")?;
    let digits: String = norm[..end]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if digits.len() != 4 {
        return None;
    }
    digits.parse().ok()
}

fn find_doc_number(norm: &str) -> Option<String> {
    let start = norm.find("国办发")?;
    let tail = &norm[start..];
    let end = tail.find('号')?;
    let number = &tail[..end + '号'.len_utf8()];
    number.contains('〔').then(|| number.to_owned())
}

/// `国务院办公厅2025年11月4日` or `2025年11月4日` alone on a line.
fn signature_date(norm: &str) -> Option<String> {
    let rest = norm.strip_prefix("国务院办公厅").unwrap_or(norm);
    let mut s = Scanner::new(rest);
    let y = s.number()?;
    s.eat("年").then_some(())?;
    let m = s.number()?;
    s.eat("月").then_some(())?;
    if s.done() {
        // "2025年11月": some copies give the month only.
        let month = Date::new(i16::try_from(y).ok()?, i8::try_from(m).ok()?, 1).ok()?;
        return Some(format!("{:04}-{:02}", month.year(), month.month()));
    }
    let d = s.number()?;
    s.eat("日").then_some(())?;
    if !s.done() {
        return None;
    }
    let date = Date::new(
        i16::try_from(y).ok()?,
        i8::try_from(m).ok()?,
        i8::try_from(d).ok()?,
    )
    .ok()?;
    Some(date.to_string())
}

/// The text after `一、` (any Chinese ordinal up to 二十), or `None` for other lines.
fn item_body(norm: &str) -> Option<&str> {
    let prefix_len: usize = norm
        .chars()
        .take_while(|c| "一二三四五六七八九十".contains(*c))
        .map(char::len_utf8)
        .sum();
    if prefix_len == 0 {
        return None;
    }
    norm[prefix_len..].strip_prefix('、')
}

struct Item {
    line: usize,
    name: String,
    first: Date,
    last: Date,
    in_lieu: BTreeSet<Date>,
    make_ups: Vec<Date>,
    stated_days: Option<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Range {
    first: Date,
    last: Date,
}

fn parse_item(
    body: &str,
    year: i16,
    at: &LineErr<'_>,
    warnings: &mut Vec<String>,
) -> Result<Item, NoticeError> {
    let (name, text) = body.split_once('：').ok_or_else(|| {
        at.err("expected the holiday name followed by ：, as in 一、元旦：1月1日放假")
    })?;
    if name.is_empty() {
        return Err(at.err("expected the holiday name before ："));
    }
    let mut rest_ranges: Vec<Range> = Vec::new();
    let mut make_ups: Vec<Date> = Vec::new();
    let mut lieu: Vec<Date> = Vec::new();
    let mut stated: Option<u32> = None;
    let mut weekend_join = false;

    for clause in split_clauses(text) {
        let mut s = Scanner::new(&clause);
        let ranges = date_list(&mut s, year, at)?;
        let tail = s.rest();
        if ranges.is_empty() {
            if let Some(n) = total(&clause) {
                stated = Some(n);
            } else if clause == "不调休" {
            } else if clause == "与周末连休" {
                weekend_join = true;
            } else if clause.starts_with("放假") || clause.contains("上班") {
                return Err(at.err(format!(
                    "expected a date such as 1月1日 before \"{clause}\""
                )));
            } else {
                return Err(at.err(format!(
                    "expected dates followed by 放假, 上班 or 补休, or 共N天, 不调休, 与周末连休; found \"{clause}\""
                )));
            }
            continue;
        }
        let keyword = ["放假调休", "调休放假", "放假", "上班", "补休"]
            .into_iter()
            .find(|k| tail.starts_with(k));
        let after = keyword.map_or(tail, |k| &tail[k.len()..]);
        match keyword {
            Some("放假调休" | "调休放假" | "放假") => {
                if !after.is_empty() {
                    let n = after
                        .strip_suffix('天')
                        .and_then(|n| n.parse::<u32>().ok())
                        .ok_or_else(|| {
                            at.err(format!(
                                "expected nothing or N天 after 放假, found \"{after}\""
                            ))
                        })?;
                    stated = Some(n);
                }
                rest_ranges.extend(ranges);
            }
            Some(k @ ("上班" | "补休")) => {
                if !after.is_empty() {
                    return Err(at.err(format!("expected nothing after {k}, found \"{after}\"")));
                }
                for r in ranges {
                    if r.first != r.last {
                        return Err(at.err(format!(
                            "expected single days before {k}, found the range {}至{}",
                            md(r.first),
                            md(r.last)
                        )));
                    }
                    if k == "上班" {
                        make_ups.push(r.first);
                    } else {
                        lieu.push(r.first);
                    }
                }
            }
            _ => {
                return Err(at.err(format!(
                    "expected 放假, 上班 or 补休 after the dates, found \"{tail}\""
                )));
            }
        }
    }

    let (mut first, mut last) = match rest_ranges.as_slice() {
        [] if make_ups.is_empty() && lieu.is_empty() => {
            return Err(at.err("expected a date such as 1月1日: the item gives no date"));
        }
        [] => {
            return Err(at.err(
                "expected a rest period (…放假); the item gives only make-up or in-lieu days",
            ));
        }
        [r] => (r.first, r.last),
        _ => return Err(at.err("expected one rest period per item, found several")),
    };
    for &d in &lieu {
        first = first.min(d);
        last = last.max(d);
    }
    if weekend_join {
        while let Ok(prev) = first.yesterday() {
            if !is_weekend(prev) {
                break;
            }
            first = prev;
        }
        while let Ok(next) = last.tomorrow() {
            if !is_weekend(next) {
                break;
            }
            last = next;
        }
    }
    for d in [first, last] {
        if d.year() != year {
            warnings.push(format!(
                "line {}: {name} reaches {d}, outside {year}; the calendar file accepts only dates of the years it lists",
                at.line
            ));
        }
    }
    for &d in &make_ups {
        if d.year() != year {
            warnings.push(format!(
                "line {}: make-up day {d} is outside {year}; the calendar file accepts only dates of the years it lists",
                at.line
            ));
        }
    }
    Ok(Item {
        line: at.line,
        name: name.to_owned(),
        first,
        last,
        in_lieu: lieu.into_iter().collect(),
        make_ups,
        stated_days: stated,
    })
}

fn total(clause: &str) -> Option<u32> {
    clause
        .strip_prefix('共')?
        .strip_suffix('天')?
        .parse::<u32>()
        .ok()
}

/// Split at `，` `。` `；` outside parentheses (annotations hold `、` and could hold `，`).
fn split_clauses(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0u32;
    for c in text.chars() {
        match c {
            '（' => {
                depth += 1;
                cur.push(c);
            }
            '）' => {
                depth = depth.saturating_sub(1);
                cur.push(c);
            }
            '，' | '。' | '；' if depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct Scanner<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn done(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.rest().starts_with(s) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn number(&mut self) -> Option<u32> {
        let n = self.rest().bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 4 {
            return None;
        }
        let v = self.rest()[..n].parse().ok()?;
        self.pos += n;
        Some(v)
    }

    /// Text up to the matching `）`, after an opening `（`.
    fn annotation(&mut self) -> Option<&'a str> {
        if !self.eat("（") {
            return None;
        }
        let rest = self.rest();
        let end = rest.find('）')?;
        self.pos += end + '）'.len_utf8();
        Some(&rest[..end])
    }
}

/// A date as written: optional year, optional month (a range end may omit it), day, and an
/// optional `日` (omitted after some range ends).
#[derive(Debug, Clone, Copy)]
struct Written {
    year: Option<i16>,
    month: Option<i8>,
    day: i8,
}

fn written(s: &mut Scanner<'_>) -> Option<Written> {
    let save = s.pos;
    let mut year = None;
    let mut month = None;
    let Some(mut n) = s.number() else {
        s.pos = save;
        return None;
    };
    if s.eat("年") {
        year = i16::try_from(n).ok();
        let Some(m) = s.number() else {
            s.pos = save;
            return None;
        };
        n = m;
        if !s.eat("月") {
            s.pos = save;
            return None;
        }
        month = i8::try_from(n).ok();
        let Some(d) = s.number() else {
            s.pos = save;
            return None;
        };
        n = d;
    } else if s.eat("月") {
        month = i8::try_from(n).ok();
        let Some(d) = s.number() else {
            s.pos = save;
            return None;
        };
        n = d;
    }
    s.eat("日");
    Some(Written {
        year,
        month,
        day: i8::try_from(n).unwrap_or(i8::MAX),
    })
}

fn resolve(
    w: Written,
    year: i16,
    month: Option<i8>,
    at: &LineErr<'_>,
) -> Result<Date, NoticeError> {
    let m = w
        .month
        .or(month)
        .ok_or_else(|| at.err(format!("expected a month before {}日", w.day)))?;
    let y = w.year.unwrap_or(year);
    Date::new(y, m, w.day).map_err(|_| at.err(format!("{y}年{m}月{}日 is not a date", w.day)))
}

/// Check a `（农历除夕、周二）` annotation's weekday against the date.
fn check_annotation(note: &str, date: Date, at: &LineErr<'_>) -> Result<(), NoticeError> {
    for part in note.split(['、', '，']) {
        let wd = ["星期", "礼拜", "周"]
            .iter()
            .find_map(|p| part.strip_prefix(p));
        let Some(wd) = wd else { continue };
        let said = match wd {
            "一" => Weekday::Monday,
            "二" => Weekday::Tuesday,
            "三" => Weekday::Wednesday,
            "四" => Weekday::Thursday,
            "五" => Weekday::Friday,
            "六" => Weekday::Saturday,
            "日" | "天" => Weekday::Sunday,
            _ => {
                return Err(at.err(format!(
                    "expected a weekday in \"{part}\" after {}",
                    md(date)
                )));
            }
        };
        if said != date.weekday() {
            return Err(at.err(format!(
                "{} is a {}, the notice says {part}",
                md(date),
                weekday_long(date.weekday())
            )));
        }
    }
    Ok(())
}

/// `D1（…）至D2（…）、D3（…）…` at the start of a clause; empty if it does not start with
/// a date.
fn date_list(s: &mut Scanner<'_>, year: i16, at: &LineErr<'_>) -> Result<Vec<Range>, NoticeError> {
    let mut out = Vec::new();
    loop {
        let save = s.pos;
        let Some(w) = written(s) else {
            s.pos = save;
            break;
        };
        if w.month.is_none() {
            return Err(at.err(format!("expected a month before {}日", w.day)));
        }
        let first_written = w;
        let mut first = resolve(w, year, None, at)?;
        if let Some(note) = s.annotation() {
            check_annotation(note, first, at)?;
        }
        let mut last = first;
        if s.eat("至") {
            let Some(e) = written(s) else {
                return Err(at.err(format!("expected a date after {}至", md(first))));
            };
            let end_year = e.year.unwrap_or_else(|| {
                if e.month.is_some_and(|m| m < first.month()) {
                    first.year().saturating_add(1)
                } else {
                    first.year()
                }
            });
            // "12月30日至2016年1月1日": a start without a year belongs to the end's year or
            // the one before.
            if first_written.year.is_none() && e.year.is_some() {
                let m = e.month.unwrap_or(first.month());
                let y = if (first.month(), first.day()) <= (m, e.day) {
                    end_year
                } else {
                    end_year.saturating_sub(1)
                };
                first = resolve(first_written, y, None, at)?;
            }
            last = resolve(
                Written {
                    year: Some(end_year),
                    ..e
                },
                end_year,
                Some(first.month()),
                at,
            )?;
            if let Some(note) = s.annotation() {
                check_annotation(note, last, at)?;
            }
            if last < first {
                return Err(at.err(format!(
                    "the range {}至{} ends before it starts",
                    md(first),
                    md(last)
                )));
            }
        }
        out.push(Range { first, last });
        if !s.eat("、") {
            break;
        }
    }
    Ok(out)
}

fn cross_check(notice: &mut ParsedNotice, calendar: Option<&Calendar>) {
    let mut warnings = Vec::new();
    for r in &notice.rests {
        let days = u32::try_from((r.last - r.first).get_days() + 1).unwrap_or(0);
        if let Some(n) = r.stated_days
            && n != days
        {
            warnings.push(format!(
                "line {}: {} says 共{n}天 but {}..{} is {days} days",
                r.line, r.name, r.first, r.last
            ));
        }
    }
    for m in &notice.make_ups {
        if !is_weekend(m.date) {
            warnings.push(format!(
                "line {}: make-up day {} for {} is a {}, not a Saturday or Sunday",
                m.line,
                m.date,
                m.for_holiday,
                weekday_long(m.date.weekday())
            ));
        }
    }
    match calendar.and_then(Calendar::statute) {
        Some(statute) => match statute.holidays(notice.year) {
            Ok(days) => statute_check(notice, &days, &mut warnings),
            Err(e) => warnings.push(format!(
                "not checked against the statute, and in-lieu days are only those the notice calls 补休: {e}"
            )),
        },
        None => warnings.push(
            "the calendar has no statute: not checked against the statutory holidays, and in-lieu days are only those the notice calls 补休"
                .to_owned(),
        ),
    }
    notice.warnings.append(&mut warnings);
}

/// A weekday of a block that the statute does not make a holiday is either a substitute for
/// a statutory day falling on a weekend (补假, art. 6 of the 放假办法) or an in-lieu rest day
/// paid for by a make-up working day (调休). The notice does not say which is which; by
/// convention (and in every published year checked) the substitutes come first, so the
/// in-lieu days are the last k such weekdays, k being the block's make-up days.
fn statute_check(notice: &mut ParsedNotice, days: &[StatutoryDay], warnings: &mut Vec<String>) {
    let statutory: BTreeSet<Date> = days.iter().map(|d| d.date).collect();
    for d in days {
        if !notice
            .rests
            .iter()
            .any(|r| r.first <= d.date && d.date <= r.last)
        {
            warnings.push(format!(
                "statutory holiday {} {} ({}) is in no rest block of the notice",
                d.holiday, d.date, d.article
            ));
        }
    }
    for r in &mut notice.rests {
        let make_ups = notice
            .make_ups
            .iter()
            .filter(|m| m.for_holiday == r.name)
            .count();
        let mut weekend_statutory = 0usize;
        let mut has_statutory = false;
        let mut free_weekdays = Vec::new();
        let mut d = r.first;
        while d <= r.last {
            if statutory.contains(&d) {
                has_statutory = true;
                if is_weekend(d) {
                    weekend_statutory += 1;
                }
            } else if !is_weekend(d) {
                free_weekdays.push(d);
            }
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
        if !has_statutory {
            warnings.push(format!(
                "line {}: rest block {} {}..{} contains no statutory holiday",
                r.line, r.name, r.first, r.last
            ));
        }
        if free_weekdays.len() != weekend_statutory + make_ups {
            warnings.push(format!(
                "line {}: rest block {} has {} weekdays that are not statutory holidays, but {} statutory days on weekends and {} make-up days to account for them; check its in-lieu days",
                r.line,
                r.name,
                free_weekdays.len(),
                weekend_statutory,
                make_ups
            ));
        }
        let skip = free_weekdays.len().saturating_sub(make_ups);
        for &d in free_weekdays.iter().skip(skip) {
            if !r.in_lieu.contains(&d) {
                r.in_lieu.push(d);
            }
        }
        r.in_lieu.sort();
    }
}

/// The `[[years]]` table in the style of `rulesets/calendars/cn-mainland.toml`, to append
/// to the calendar file.
pub fn to_toml(notice: &ParsedNotice) -> String {
    let mut out = String::new();
    out.push_str("# ---------------------------------------------------------------------------\n");
    out.push_str("[[years]]\n");
    out.push_str(&format!("year = {}\n", notice.year));
    out.push_str(&format!("source = {}\n", quote(&notice.source)));
    if let Some(p) = &notice.published {
        out.push_str(&format!("published = {}\n", quote(p)));
    }
    for r in &notice.rests {
        out.push_str("\n[[years.rest]]\n");
        out.push_str(&format!("name = {}\n", quote(&r.name)));
        out.push_str(&format!("first = {}\n", r.first));
        out.push_str(&format!("last = {}\n", r.last));
        if !r.in_lieu.is_empty() {
            let list: Vec<String> = r.in_lieu.iter().map(Date::to_string).collect();
            out.push_str(&format!("in_lieu = [{}]\n", list.join(", ")));
        }
    }
    for m in &notice.make_ups {
        out.push_str("\n[[years.make_up]]\n");
        out.push_str(&format!("date = {}\n", m.date));
        out.push_str(&format!("for = {}\n", quote(&m.for_holiday)));
    }
    out
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// What the notice says about `date`, or `None` if it says nothing (weekly pattern).
fn notice_kind(notice: &ParsedNotice, date: Date) -> Option<DayKind> {
    if let Some(r) = notice
        .rests
        .iter()
        .find(|r| r.first <= date && date <= r.last)
    {
        return Some(if r.in_lieu.contains(&date) {
            DayKind::InLieuRest {
                holiday: r.name.clone(),
            }
        } else {
            DayKind::Holiday {
                name: r.name.clone(),
            }
        });
    }
    notice
        .make_ups
        .iter()
        .find(|m| m.date == date)
        .map(|m| DayKind::MakeUpWorkday {
            holiday: m.for_holiday.clone(),
        })
}

/// The days whose working/rest status the notice changes, compared with what `calendar`
/// computes today: the weekly pattern (provisional) when the year is not covered, or the
/// published schedule when it is (the notice is then an amendment). Overrides are left out
/// on both sides: they apply after the schedule and the notice does not touch them.
pub fn diff_against(calendar: &Calendar, notice: &ParsedNotice) -> Vec<DayChange> {
    let mut dates: BTreeSet<Date> = BTreeSet::new();
    if let (Ok(mut d), Ok(end)) = (Date::new(notice.year, 1, 1), Date::new(notice.year, 12, 31)) {
        while d <= end {
            dates.insert(d);
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
    }
    for r in &notice.rests {
        let mut d = r.first;
        while d <= r.last {
            dates.insert(d);
            match d.tomorrow() {
                Ok(n) => d = n,
                Err(_) => break,
            }
        }
    }
    dates.extend(notice.make_ups.iter().map(|m| m.date));

    let pattern = |d: Date| {
        if calendar.is_working_weekday(d.weekday()) {
            DayKind::Working
        } else {
            DayKind::Weekend
        }
    };
    let mut out = Vec::new();
    for date in dates {
        let covered = calendar.covers(date.year());
        let before = if covered {
            match calendar.covered_kind(date) {
                DayKind::Override { replaces, .. } => *replaces,
                k => k,
            }
        } else {
            // The calendar's own provisional answer (weekends and statutory holidays) where
            // it gives one; a calendar that refuses uncovered years is compared with its
            // weekly pattern.
            calendar
                .day(date)
                .map_or_else(|_| pattern(date), |day| day.kind)
        };
        let after = notice_kind(notice, date).unwrap_or_else(|| pattern(date));
        if before.is_working() != after.is_working() {
            out.push(DayChange {
                date,
                before,
                before_provisional: !covered,
                after,
            });
        }
    }
    out
}
