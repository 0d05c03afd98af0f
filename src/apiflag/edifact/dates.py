"""Dates and times as EDIFACT feeds write them, with two-digit years resolved.

Two-digit years are resolved against the message's own date (UNB preparation date), never
the wall clock, so a message parses the same way on any day:

* a **birth or issue date** is the latest candidate on or before the reference date;
* an **expiry date** is ``20YY`` unless that is more than 20 years after the reference date,
  then ``19YY`` (an old, expired document);
* a **flight, booking or transaction date** takes the century closest to the reference.

Every malformed value raises :class:`~apiflag.errors.ParseError` ``E_BAD_DATE`` naming the
segment and the value's class (``6 digits``), never the value: it may be a birth date.
"""

from __future__ import annotations

import datetime as dt

from apiflag.edifact.loss import value_class
from apiflag.errors import ParseError

__all__ = [
    "MONTHS",
    "expiry",
    "near",
    "near_datetime",
    "past",
    "time_of",
]

MONTHS = {
    "JAN": 1,
    "FEB": 2,
    "MAR": 3,
    "APR": 4,
    "MAY": 5,
    "JUN": 6,
    "JUL": 7,
    "AUG": 8,
    "SEP": 9,
    "OCT": 10,
    "NOV": 11,
    "DEC": 12,
}


def _bad(value: str, what: str, segment: int) -> ParseError:
    return ParseError("E_BAD_DATE", f"{what}: {value_class(value)} value is not a date", segment)


def _parts(value: str, order: str, what: str, segment: int) -> tuple[int | None, int, int, int]:
    """Split ``value`` into (full year or None, two-digit year, month, day).

    ``order`` is ``"ymd"`` (YYMMDD / CCYYMMDD) or ``"dmy"`` (DDMMYY / DDMMMYY / DDMMCCYY).
    """
    v = value.strip().upper()
    try:
        if order == "ymd":
            if len(v) == 8 and v.isdigit():
                return int(v[:4]), int(v[2:4]), int(v[4:6]), int(v[6:8])
            if len(v) == 6 and v.isdigit():
                return None, int(v[:2]), int(v[2:4]), int(v[4:6])
        else:
            if len(v) == 7 and v[2:5] in MONTHS and v[:2].isdigit() and v[5:].isdigit():
                return None, int(v[5:]), MONTHS[v[2:5]], int(v[:2])
            if len(v) == 9 and v[2:5] in MONTHS and v[:2].isdigit() and v[5:].isdigit():
                return int(v[5:]), int(v[7:]), MONTHS[v[2:5]], int(v[:2])
            if len(v) == 6 and v.isdigit():
                return None, int(v[4:6]), int(v[2:4]), int(v[:2])
            if len(v) == 8 and v.isdigit():
                return int(v[4:]), int(v[6:]), int(v[2:4]), int(v[:2])
    except ValueError:
        pass
    raise _bad(value, what, segment)


def _make(year: int, month: int, day: int, value: str, what: str, segment: int) -> dt.date:
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise _bad(value, what, segment) from None


def _past_uncached(
    value: str, ref: dt.date, segment: int, *, order: str = "ymd", what: str = "date"
) -> dt.date:
    """Return a birth or issue date: the latest century that puts it on or before ``ref``."""
    full, yy, month, day = _parts(value, order, what, segment)
    if full is not None:
        return _make(full, month, day, value, what, segment)
    century = ref.year // 100 * 100
    for year in (century + yy, century - 100 + yy):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            continue  # 29 February in a non-leap candidate year
        if candidate <= ref:
            return candidate
    raise _bad(value, what, segment)


def _expiry_uncached(
    value: str, ref: dt.date, segment: int, *, order: str = "ymd", what: str = "expiry date"
) -> dt.date:
    """Return an expiry date: ``20YY`` unless more than 20 years after ``ref``, then ``19YY``."""
    full, yy, month, day = _parts(value, order, what, segment)
    if full is not None:
        return _make(full, month, day, value, what, segment)
    century = ref.year // 100 * 100
    year = century + yy
    if year > ref.year + 20:
        year -= 100
    elif year < ref.year - 80:
        year += 100
    return _make(year, month, day, value, what, segment)


def _near_uncached(
    value: str, ref: dt.date, segment: int, *, order: str = "ymd", what: str = "date"
) -> dt.date:
    """Return a flight, booking or transaction date in the century closest to ``ref``."""
    full, yy, month, day = _parts(value, order, what, segment)
    if full is not None:
        return _make(full, month, day, value, what, segment)
    century = ref.year // 100 * 100
    year = min(
        (century - 100 + yy, century + yy, century + 100 + yy), key=lambda y: abs(y - ref.year)
    )
    return _make(year, month, day, value, what, segment)


def _time_of_uncached(value: str, segment: int, what: str = "time") -> dt.time:
    """Return ``HHMM`` (or ``HHMMSS``) as a time; ``2400`` is refused."""
    v = value.strip()
    if len(v) in (4, 6) and v.isdigit():
        hh, mm = int(v[:2]), int(v[2:4])
        ss = int(v[4:6]) if len(v) == 6 else 0
        if hh < 24 and mm < 60 and ss < 60:
            return dt.time(hh, mm, ss)
    raise ParseError(
        "E_BAD_DATE", f"{what}: {value_class(value)} value is not an HHMM time", segment
    )


def near_datetime(value: str, ref: dt.date, segment: int, what: str = "date/time") -> dt.datetime:
    """Parse a DTM value: ``YYMMDDHHMM`` (201), ``CCYYMMDDHHMM`` (203), ``YYMMDD``, ``CCYYMMDD``."""
    v = value.strip()
    if not v.isdigit():
        raise _bad(value, what, segment)
    if len(v) == 10:
        day, clock = v[:6], v[6:]
    elif len(v) == 12:
        day, clock = v[:8], v[8:]
    elif len(v) in (6, 8):
        day, clock = v, "0000"
    else:
        raise _bad(value, what, segment)
    date = near(day, ref, segment, what=what)
    return dt.datetime.combine(date, time_of(clock, segment, what))


# ---------------------------------------------------------------- memoised public API
# Flight, booking and expiry dates repeat thousands of times in a night's files; resolving
# each distinct (value, reference, order) once is what keeps dates off the parser's profile.


_CACHE: dict[tuple[str, str, dt.date, str], dt.date] = {}
_CACHE_MAX = 65536


def _resolve(kind: str, value: str, ref: dt.date, segment: int, order: str, what: str) -> dt.date:
    key = (kind, value, ref, order)
    got = _CACHE.get(key)
    if got is None:
        got = _RESOLVERS[kind](value, ref, segment, order=order, what=what)  # raises if bad
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = got
    return got


_RESOLVERS = {"past": _past_uncached, "expiry": _expiry_uncached, "near": _near_uncached}


def past(
    value: str, ref: dt.date, segment: int, *, order: str = "ymd", what: str = "date"
) -> dt.date:
    """Return a birth or issue date: the latest century that puts it on or before ``ref``."""
    got = _CACHE.get(("past", value, ref, order))
    return got if got is not None else _resolve("past", value, ref, segment, order, what)


def expiry(
    value: str, ref: dt.date, segment: int, *, order: str = "ymd", what: str = "expiry date"
) -> dt.date:
    """Return an expiry date: ``20YY`` unless more than 20 years after ``ref``, then ``19YY``."""
    got = _CACHE.get(("expiry", value, ref, order))
    return got if got is not None else _resolve("expiry", value, ref, segment, order, what)


def near(
    value: str, ref: dt.date, segment: int, *, order: str = "ymd", what: str = "date"
) -> dt.date:
    """Return a flight, booking or transaction date in the century closest to ``ref``."""
    got = _CACHE.get(("near", value, ref, order))
    return got if got is not None else _resolve("near", value, ref, segment, order, what)


_TIMES: dict[str, dt.time] = {}


def time_of(value: str, segment: int, what: str = "time") -> dt.time:
    """Return ``HHMM`` (or ``HHMMSS``) as a time; ``2400`` is refused."""
    got = _TIMES.get(value)
    if got is None:
        got = _time_of_uncached(value, segment, what)  # raises, naming the segment
        if len(_TIMES) >= 8192:
            _TIMES.clear()
        _TIMES[value] = got
    return got
