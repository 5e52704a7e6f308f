#!/usr/bin/env python3
"""Independent oracle for redress-calendar.

Builds the mainland-China working-day status of 2024-01-01..2026-12-31 from two PyPI
packages that do not share data with the Rust crate or its TOML files:

* ``chinesecalendar`` (``import chinese_calendar``), and
* ``holidays`` (country ``CN``, ``is_working_day``),

fails if they disagree on any day of 2025 or 2026, and counts deadlines with its own,
deliberately simple, Python code (not a port of the Rust code) into

* ``host/calendar/tests/fixtures/workdays_2024_2026.json`` and
* ``host/calendar/tests/fixtures/deadline_vectors.json``,

which ``host/calendar/tests/oracle.rs`` compares with the Rust crate.

Usage (from the repository root)::

    pip install -r scripts/oracle/requirements.txt
    python3 scripts/oracle/calendar_oracle.py          # rewrite the fixtures
    python3 scripts/oracle/calendar_oracle.py --check  # exit 1 if they are stale

Output is deterministic: a fixed random seed, sorted keys, no timestamps.
"""

from __future__ import annotations

import argparse
import datetime as dt
import filecmp
import json
import random
import sys
import tempfile
from pathlib import Path

import chinese_calendar
import holidays

FIRST = dt.date(2024, 1, 1)
LAST = dt.date(2026, 12, 31)
MUST_AGREE = {2025, 2026}
SEED = 20260213
TZ = dt.timezone(dt.timedelta(hours=8))  # Asia/Shanghai has had no DST since 1991.
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path("host/calendar/tests/fixtures")
WORKDAYS_FILE = "workdays_2024_2026.json"
VECTORS_FILE = "deadline_vectors.json"
ONE_DAY = dt.timedelta(days=1)


class NotCovered(Exception):
    """A date outside FIRST..LAST: the oracle, like the crate, refuses to guess."""

    def __init__(self, date: dt.date):
        super().__init__(str(date))
        self.date = date


def days_in_range():
    d = FIRST
    while d <= LAST:
        yield d
        d += ONE_DAY


def build_day_table():
    """Day -> working (bool), from chinesecalendar, cross-checked with holidays."""
    cn = holidays.country_holidays("CN", years=range(FIRST.year, LAST.year + 1))
    table = {}
    rows = []
    disagreements = []
    for d in days_in_range():
        a = bool(chinese_calendar.is_workday(d))
        b = bool(cn.is_working_day(d))
        # `working` is what the Rust test checks: chinesecalendar's answer, which must equal
        # holidays' on 2025-2026 (a 2024 disagreement would be recorded, not hidden).
        row = {"date": d.isoformat(), "working": a, "chinesecalendar": a, "holidays": b}
        if a != b:
            disagreements.append(d)
        table[d] = a
        rows.append(row)
    bad = [d for d in disagreements if d.year in MUST_AGREE]
    if bad:
        sys.exit(
            "chinesecalendar and holidays disagree on "
            + ", ".join(d.isoformat() for d in bad)
        )
    for year in (2025, 2026):
        n = sum(1 for d, w in table.items() if d.year == year and w)
        if n != 248:
            sys.exit(f"{year} has {n} working days in the packages, regulations.md says 248")
    return table, rows, disagreements


class Oracle:
    def __init__(self, table):
        self.table = table

    def working(self, calendar: str, d: dt.date) -> bool:
        if d not in self.table:
            raise NotCovered(d)
        w = self.table[d]
        if calendar == "cn-financial":
            # Exchanges never open on a Saturday or Sunday, make-up days included.
            return w and d.weekday() < 5
        return w

    def due_date(self, v) -> dt.date:
        """The due date of vector ``v``, by the rules of regulations.md §1."""
        cal = v["calendar"]
        unit = v["period"]["unit"]
        n = v["period"]["amount"]
        roll = v["period"].get("roll_forward", True) if unit == "calendar_days" else n == 0
        start_instant = dt.datetime.fromisoformat(v["start"])
        start = start_instant.astimezone(TZ).date()
        if v.get("deemed_received_next_working_day") and not self.working(cal, start):
            start += ONE_DAY
            while not self.working(cal, start):
                start += ONE_DAY
            start_instant = dt.datetime.combine(start, dt.time(0, 0), TZ)

        def count(skips):
            # Days after the start date, minus paused ranges (pause date, resume date].
            d = start
            counted = 0
            while counted < n:
                d += ONE_DAY
                if any(a < d <= b for a, b in skips):
                    continue
                if unit == "calendar_days" or self.working(cal, d):
                    counted += 1
            if roll and not self.working(cal, d):
                d += ONE_DAY
                while any(a < d <= b for a, b in skips) or not self.working(cal, d):
                    d += ONE_DAY
            return d

        skips = []
        due = count(skips)
        for p in sorted(v.get("pauses", []), key=lambda p: dt.datetime.fromisoformat(p["from"])):
            p_from = dt.datetime.fromisoformat(p["from"])
            p_until = dt.datetime.fromisoformat(p["until"])
            breach = dt.datetime.combine(due + ONE_DAY, dt.time(0, 0), TZ)
            if p_until <= start_instant or p_from >= breach:
                continue  # ended before the clock started / the clock was already breached
            paused_on = max(p_from, start_instant).astimezone(TZ).date()
            skips.append((paused_on, p_until.astimezone(TZ).date()))
            due = count(skips)
        return due

    def expect(self, v):
        try:
            return {"due_date": self.due_date(v).isoformat()}
        except NotCovered as e:
            return {"not_covered": e.date.isoformat()}


def rest_blocks(table):
    """Runs of rest days that contain a weekday, i.e. holiday blocks (with their weekends)."""
    blocks = []
    run = []
    for d in days_in_range():
        if not table[d]:
            run.append(d)
            continue
        if run and any(x.weekday() < 5 for x in run):
            blocks.append((run[0], run[-1]))
        run = []
    if run and any(x.weekday() < 5 for x in run):
        blocks.append((run[0], run[-1]))
    return blocks


def make_up_days(table):
    return [d for d in days_in_range() if table[d] and d.weekday() >= 5]


def instant(d: dt.date, hour: int, minute: int) -> str:
    return dt.datetime.combine(d, dt.time(hour, minute), TZ).isoformat()


def vector(start, unit, amount, note, calendar="cn-mainland", roll=None, deemed=False, pauses=()):
    period = {"unit": unit, "amount": amount}
    if unit == "calendar_days":
        period["roll_forward"] = True if roll is None else roll
    v = {
        "calendar": calendar,
        "start": start,
        "period": period,
        "note": note,
    }
    if deemed:
        v["deemed_received_next_working_day"] = True
    if pauses:
        v["pauses"] = list(pauses)
    return v


def build_vectors(table):
    rng = random.Random(SEED)
    vs = []
    # regulations.md §1 worked examples; checked below against the stated answers.
    worked = [
        (vector(instant(dt.date(2026, 2, 13), 9, 0), "working_days", 7, "regulations.md worked example"), "2026-03-02"),
        (vector(instant(dt.date(2026, 9, 30), 10, 0), "working_days", 7, "regulations.md: receipt Wed 2026-09-30"), "2026-10-15"),
        (vector(instant(dt.date(2026, 10, 3), 10, 0), "working_days", 7, "regulations.md: receipt Sat 2026-10-03"), "2026-10-15"),
    ]
    vs += [v for v, _ in worked]

    starts = []
    for a, b in rest_blocks(table):
        name = chinese_calendar.get_holiday_detail(max(a, b))[1] or "rest block"
        for d, where in ((a - ONE_DAY, "day before"), (a, "first day of"), (b, "last day of"), (b + ONE_DAY, "day after")):
            starts.append((d, f"{where} {name} {a}..{b}"))
    for m in make_up_days(table):
        starts.append((m - ONE_DAY, f"day before make-up day {m}"))
        starts.append((m, f"make-up day {m}"))
    for y in (2024, 2025, 2026):
        for md in ((12, 29), (12, 30), (12, 31)):
            starts.append((dt.date(y, *md), "year end"))
    starts.append((dt.date(2024, 1, 1), "first covered day"))
    starts = sorted(set(s for s in starts if FIRST <= s[0] <= LAST))

    for d, why in starts:
        t = instant(d, rng.randrange(0, 24), rng.choice((0, 15, 30, 45)))
        for n in (1, 7, rng.randint(2, 60)):
            vs.append(vector(t, "working_days", n, f"hand-picked: {why}"))
        vs.append(vector(t, "calendar_days", rng.randint(1, 60), f"hand-picked: {why}", roll=True))
        vs.append(vector(t, "calendar_days", rng.randint(1, 60), f"hand-picked: {why}", roll=False))
        vs.append(vector(t, "working_days", rng.randint(1, 15), f"hand-picked, financial: {why}", calendar="cn-financial"))

    span = (LAST - FIRST).days
    for i in range(400):
        d = FIRST + dt.timedelta(days=rng.randrange(span + 1))
        t = instant(d, rng.randrange(0, 24), rng.randrange(0, 60))
        unit = rng.choice(("working_days", "calendar_days"))
        kw = {}
        if unit == "calendar_days":
            kw["roll"] = rng.random() < 0.6
        if rng.random() < 0.15:
            kw["calendar"] = "cn-financial"
        if rng.random() < 0.1:
            kw["deemed"] = True
        amount = rng.randint(0, 60) if rng.random() < 0.05 else rng.randint(1, 60)
        if rng.random() < 0.15:
            pauses = []
            for _ in range(rng.randint(1, 2)):
                p_from = dt.datetime.combine(
                    d + dt.timedelta(days=rng.randint(-2, 40)), dt.time(rng.randrange(0, 24), 0), TZ
                )
                p_until = p_from + dt.timedelta(minutes=rng.randrange(0, 12 * 24 * 60, 30))
                pauses.append({"from": p_from.isoformat(), "until": p_until.isoformat(), "reason": "appraisal"})
            kw["pauses"] = pauses
        vs.append(vector(t, unit, amount, f"random #{i}", **kw))

    oracle = Oracle(table)
    for v, want in worked:
        got = oracle.expect(v)
        if got != {"due_date": want}:
            sys.exit(f"oracle gives {got} for {v['note']}, regulations.md says {want}")
    for i, v in enumerate(vs):
        v["id"] = f"v{i:04d}"
        v["expect"] = oracle.expect(v)
    return vs


def dump_lines(items):
    # One item per line: stable, and diffs show exactly which vector changed.
    body = ",\n".join(json.dumps(x, ensure_ascii=False, sort_keys=True) for x in items)
    return "[\n" + body + "\n]\n"


def write(out_dir: Path):
    table, rows, disagreements = build_day_table()
    vectors = build_vectors(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    header = {
        "generated_by": "scripts/oracle/calendar_oracle.py",
        "sources": "PyPI chinesecalendar (chinese_calendar.is_workday) and holidays (CN, is_working_day); versions in scripts/oracle/requirements.txt",
        "first": FIRST.isoformat(),
        "last": LAST.isoformat(),
        "disagreements_outside_2025_2026": [d.isoformat() for d in disagreements],
    }
    (out_dir / WORKDAYS_FILE).write_text(
        json.dumps(header, ensure_ascii=False, sort_keys=True)[:-1]
        + ',"days":'
        + dump_lines(rows).rstrip("\n")
        + "}\n",
        encoding="utf-8",
    )
    (out_dir / VECTORS_FILE).write_text(dump_lines(vectors), encoding="utf-8")
    return len(rows), len(vectors)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="regenerate to a temporary folder and fail if the committed fixtures differ")
    ap.add_argument("--out", type=Path, default=ROOT / FIXTURES, help="fixture folder (default: %(default)s)")
    args = ap.parse_args()
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            days, vectors = write(Path(tmp))
            stale = [
                name
                for name in (WORKDAYS_FILE, VECTORS_FILE)
                if not (args.out / name).exists() or not filecmp.cmp(Path(tmp) / name, args.out / name, shallow=False)
            ]
        if stale:
            print(f"stale oracle fixtures in {args.out}: {', '.join(stale)}; run scripts/oracle/calendar_oracle.py", file=sys.stderr)
            return 1
        print(f"oracle fixtures up to date: {days} days, {vectors} deadline vectors")
        return 0
    days, vectors = write(args.out)
    print(f"wrote {days} days and {vectors} deadline vectors to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
