#!/usr/bin/env python3
"""Independent oracle for the statutory holidays of redress-calendar.

Lists every statutory holiday of 2014..2099 (cnlunar's tables end with lunar year 2099) under 全国年节及纪念日放假办法 article 2, from
the PyPI package ``cnlunar`` (lunar dates and solar terms from its own tables; it shares no
code or data with the Rust crate ``tyme4rs``), into

* ``host/calendar/tests/fixtures/statutory_days_2014_2099.json``,

which ``host/calendar/tests/oracle.rs`` compares with ``Statute::holidays`` for every year.
The rules below are written from the statute's text, not ported from the Rust code or read
from ``rulesets/calendars/statutes/cn-national-holidays.toml``:

* 2014-2024 (2013 version, 国务院令第644号): 元旦 01-01; 春节 正月初一..初三; 清明节 the day
  of the 清明 solar term; 劳动节 05-01; 端午节 五月初五; 中秋节 八月十五; 国庆节 10-01..10-03.
* 2025- (2024 version, 国务院令第795号): the same, plus 除夕 (the day before 正月初一) in
  春节 and 05-02 in 劳动节.

Names of two holidays on one day are joined with 、 in that order (中秋节、国庆节).
cnlunar's solar-term table gives days in China time (UTC+8), as the statute means them.

Usage (from the repository root)::

    pip install -r scripts/oracle/requirements.txt
    python3 scripts/oracle/statute_oracle.py          # rewrite the fixture
    python3 scripts/oracle/statute_oracle.py --check  # exit 1 if it is stale

Output is deterministic: sorted, no timestamps.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import cnlunar

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "host/calendar/tests/fixtures/statutory_days_2014_2099.json"
FIRST, LAST = 2014, 2099  # cnlunar's lunar tables end with lunar year 2099
AMENDED = 2025  # first year of the 2024 amendment
ORDER = ["元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"]


def lunar(d: dt.date) -> tuple[int, int, bool]:
    """(lunar month, lunar day, is a leap month) of a Gregorian date."""
    x = cnlunar.Lunar(dt.datetime(d.year, d.month, d.day, 12, 0))
    return x.lunarMonth, x.lunarDay, x.isLunarLeapMonth


def qingming(year: int) -> dt.date:
    # The table lists the 24 terms from 小寒 (January), two per month: 清明 is the 7th.
    days = cnlunar.solar24.getTheYearAllSolarTermsList(year)
    d = dt.date(year, 4, days[6])
    # Cross-check with the per-day API, which names the term of the day.
    x = cnlunar.Lunar(dt.datetime(d.year, d.month, d.day, 12, 0))
    if x.todaySolarTerms != "清明":
        sys.exit(f"cnlunar disagrees with itself on 清明 {year}: {d} is {x.todaySolarTerms}")
    return d


def year_days(year: int) -> dict[dt.date, list[str]]:
    amended = year >= AMENDED
    out: dict[dt.date, list[str]] = {}

    def add(d: dt.date, name: str) -> None:
        out.setdefault(d, []).append(name)

    add(dt.date(year, 1, 1), "元旦")
    # Lunar holidays fall between 20 January and mid October; scanning that span with the
    # day-by-day conversion avoids relying on any lunar-to-solar helper.
    d = dt.date(year, 1, 15)
    end = dt.date(year, 10, 20)
    while d <= end:
        m, day, leap = lunar(d)
        if not leap:
            if m == 1 and day in (1, 2, 3):
                add(d, "春节")
            if amended and m == 1 and day == 1:
                add(d - dt.timedelta(days=1), "春节")
            if m == 5 and day == 5:
                add(d, "端午节")
            if m == 8 and day == 15:
                add(d, "中秋节")
        d += dt.timedelta(days=1)
    add(qingming(year), "清明节")
    add(dt.date(year, 5, 1), "劳动节")
    if amended:
        add(dt.date(year, 5, 2), "劳动节")
    for k in (1, 2, 3):
        add(dt.date(year, 10, k), "国庆节")
    return out


def build() -> dict:
    days = []
    for year in range(FIRST, LAST + 1):
        for d, names in sorted(year_days(year).items()):
            if d.year != year:
                sys.exit(f"{year}: {d} outside the year")
            names = sorted(set(names), key=ORDER.index)
            days.append({"date": d.isoformat(), "holiday": "、".join(names)})
    return {
        "source": "scripts/oracle/statute_oracle.py (cnlunar %s)" % getattr(cnlunar, "__version__", "0.2.5"),
        "first_year": FIRST,
        "last_year": LAST,
        "days": days,
    }


def render(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="fail if the committed fixture differs from a fresh one")
    args = ap.parse_args()
    text = render(build())
    if args.check:
        old = FIXTURE.read_text(encoding="utf-8") if FIXTURE.exists() else ""
        if old != text:
            print(f"{FIXTURE.relative_to(ROOT)} is stale: run python3 scripts/oracle/statute_oracle.py", file=sys.stderr)
            return 1
        print(f"{FIXTURE.relative_to(ROOT)} is up to date")
        return 0
    FIXTURE.write_text(text, encoding="utf-8")
    print(f"wrote {FIXTURE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
