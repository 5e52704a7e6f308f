#!/usr/bin/env python3
"""Independent oracle for the statutory holidays of redress-calendar.

Lists every statutory holiday of 2014..2100 (lunar dates from cnlunar, checked day by day against borax, and from borax alone after cnlunar's tables end in February 2100) under 全国年节及纪念日放假办法 article 2, from
the PyPI package ``cnlunar`` (lunar dates and solar terms from its own tables; it shares no
code or data with the Rust crate ``tyme4rs``), into

* ``host/calendar/tests/fixtures/statutory_days_2014_2100.json``,

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
from borax.calendars.lunardate import LunarDate

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "host/calendar/tests/fixtures/statutory_days_2014_2100.json"
FIRST, LAST = 2014, 2100
# cnlunar's lunar tables end with lunar year 2099; its solar terms go on. borax (another
# author, its own tables) gives the lunar dates of 2100, and must agree with cnlunar on every
# day the two share, so that neither package's table stands unchecked.
CNLUNAR_LAST_LUNAR_DATE = dt.date(2100, 2, 8)
# The one statutory day 2014-2099 on which the two packages differ: the new moon that starts
# lunar month 8 of 2089 falls close to midnight, China time, and borax puts 中秋 a day later.
# cnlunar and the Rust crate (tyme4rs, another author again) agree on 2089-09-18, which the
# fixture keeps. Any other difference fails the check.
KNOWN_DIFFERENCES = {2089: [dt.date(2089, 9, 18), dt.date(2089, 9, 19)]}
AMENDED = 2025  # first year of the 2024 amendment
ORDER = ["元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节"]


def lunar_cnlunar(d: dt.date) -> tuple[int, int, bool]:
    """(lunar month, lunar day, is a leap month) of a Gregorian date, from cnlunar (up to
    2100-02-08, where its lunar tables end)."""
    x = cnlunar.Lunar(dt.datetime(d.year, d.month, d.day, 12, 0))
    return x.lunarMonth, x.lunarDay, bool(x.isLunarLeapMonth)


def lunar_borax(d: dt.date) -> tuple[int, int, bool]:
    """The same from borax (its own tables, another author)."""
    b = LunarDate.from_solar_date(d.year, d.month, d.day)
    return b.month, b.day, bool(b.leap)


def qingming(year: int) -> dt.date:
    # The table lists the 24 terms from 小寒 (January), two per month: 清明 is the 7th.
    days = cnlunar.solar24.getTheYearAllSolarTermsList(year)
    d = dt.date(year, 4, days[6])
    # Cross-check with the per-day API, which names the term of the day (where its lunar
    # tables reach).
    if d <= CNLUNAR_LAST_LUNAR_DATE:
        x = cnlunar.Lunar(dt.datetime(d.year, d.month, d.day, 12, 0))
        if x.todaySolarTerms != "清明":
            sys.exit(f"cnlunar disagrees with itself on 清明 {year}: {d} is {x.todaySolarTerms}")
    return d


def year_days(year: int, lunar) -> dict[dt.date, list[str]]:
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
        from_borax = year_days(year, lunar_borax)
        if dt.date(year, 12, 31) <= CNLUNAR_LAST_LUNAR_DATE:
            # The two packages' tables differ on some days (a new moon close to midnight, e.g.
            # 2057-09-28); on the statutory days they must agree.
            found = year_days(year, lunar_cnlunar)
            differ = sorted(set(found) ^ set(from_borax))
            if differ and differ != KNOWN_DIFFERENCES.get(year):
                sys.exit(f"{year}: cnlunar and borax differ on {differ}")
        else:
            found = from_borax
        for d, names in sorted(found.items()):
            if d.year != year:
                sys.exit(f"{year}: {d} outside the year")
            names = sorted(set(names), key=ORDER.index)
            days.append({"date": d.isoformat(), "holiday": "、".join(names)})
    return {
        "source": "scripts/oracle/statute_oracle.py (cnlunar 0.2.5 and borax 4.1.3)",
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
