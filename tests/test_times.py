"""Times and ranges: every accepted form, the errors, and the formats shown to people."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ohlcv_workbench.errors import InputError, InvalidTimeRangeError
from ohlcv_workbench.times import (
    format_age,
    format_duration,
    iso,
    ms_to_datetime,
    parse_iso_time,
    parse_time_text,
    time_range,
    to_ms,
)

T = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NOW = 1_800_000_000_000  # 2027-01-15T08:00:00Z


def test_to_ms_accepts_every_form_as_utc():
    forms: list[Any] = [
        T,
        np.int64(T),
        "2026-01-01",
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00+01:00",
        datetime(2026, 1, 1),  # naive: UTC
        datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        pd.Timestamp("2026-01-01", tz="UTC"),
        np.datetime64("2026-01-01T00:00:00"),
    ]
    assert [to_ms(f) for f in forms] == [T] * len(forms)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (True, "is not a time"),
        ("yesterday", "is not ISO time text"),
        (np.datetime64("NaT"), r"is not a time \(NaT\)"),
        (pd.NaT, r"is not a time \(NaT\)"),
        (1.5, "is not a time"),
    ],
)
def test_to_ms_names_the_bad_value_and_the_forms(value, why):
    with pytest.raises(InputError, match=rf"since=.* {why}: expected UTC milliseconds"):
        to_ms(value, "since")


def test_time_range_is_half_open_and_checked():
    assert time_range(None, None) == (None, None)
    assert time_range("2026-01-01", T + 60_000) == (T, T + 60_000)
    assert time_range(T, T) == (T, T)  # empty, not an error
    with pytest.raises(InvalidTimeRangeError, match=r"end 2025-12-31T00:00:00Z is before start"):
        time_range("2026-01-01", "2025-12-31")


def test_parse_time_text():
    assert parse_time_text("", "since", NOW) is None
    assert parse_time_text("  now ", "since", NOW) == NOW
    assert parse_time_text("-90m", "since", NOW) == NOW - 90 * 60_000
    assert parse_time_text("-2h", "since", NOW) == NOW - 2 * 3_600_000
    assert parse_time_text("- 1.5d", "since", NOW) == NOW - 36 * 3_600_000
    assert parse_time_text("2026-01-01", "since", NOW) == T
    assert parse_time_text("2026-01-01 12:00", "since", NOW) == T + 43_200_000
    assert parse_time_text("2026-01-01T12:00:00Z", "since", NOW) == T + 43_200_000
    for bad in ("yesterday", "+2h", "-2y", "2026-13-01"):
        with pytest.raises(InputError, match=r"since '.*' is not a time: expected ISO"):
            parse_time_text(bad, "since", NOW)


def test_parse_iso_time_reads_what_others_may_have_written():
    assert parse_iso_time("2026-01-01T00:00:00.5+00:00") == datetime(
        2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC
    )
    assert parse_iso_time("2026-01-01T01:00:00+01:00") == datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_iso_time("2026-01-01T00:00:00") == datetime(2026, 1, 1, tzinfo=UTC)  # naive
    for junk in (None, 17, "", "soon"):
        assert parse_iso_time(junk) is None


def test_formats():
    assert iso(T) == "2026-01-01T00:00:00Z" and iso(T + 180_250) == "2026-01-01T00:03:00.250Z"
    assert ms_to_datetime(T) == datetime(2026, 1, 1, tzinfo=UTC)
    assert [format_duration(s) for s in (0, 12.4, 185, 3720, -3)] == [
        "0s", "12s", "3m05s", "1h02m", "0s",
    ]  # fmt: skip
    assert [format_age(s) for s in (0.44, 12.4, 185, 7260)] == ["0.4 s", "12 s", "3m05s", "2h01m"]
