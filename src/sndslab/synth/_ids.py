"""Vectorised generation of SNDS-like identifiers and day arithmetic.

Dates are handled internally as ``int32`` day numbers since 1970-01-01 (the same encoding as
Arrow's ``date32``), so converting to Arrow is a zero-copy cast.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> codes = random_codes(rng, 3, 17)
>>> [len(c) for c in codes.tolist()]
[17, 17, 17]
>>> day_of(2020, 1, 1)
18262
>>> int(month_start(np.array([day_of(2020, 3, 17)]))[0]) == day_of(2020, 3, 1)
True
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_ALPHANUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_EPOCH = dt.date(1970, 1, 1)

#: Day number used for "no date" (e.g. alive at the end of the study): year 2200.
NO_DAY = (dt.date(2200, 1, 1) - _EPOCH).days


def day_of(year: int, month: int = 1, day: int = 1) -> int:
    """Day number (days since 1970-01-01) of a calendar date."""
    return (dt.date(year, month, day) - _EPOCH).days


def random_codes(rng: np.random.Generator, n: int, length: int) -> np.ndarray:
    """``n`` random upper-case alphanumeric codes of ``length`` characters (numpy bytes array)."""
    idx = rng.integers(0, len(_ALPHANUM), size=(n, length), dtype=np.uint8)
    raw = _ALPHANUM[idx]
    return np.ascontiguousarray(raw).view(f"S{length}").reshape(n)


def digits(values: np.ndarray, width: int) -> pa.Array:
    """Zero-padded decimal strings of non-negative integers, as an Arrow string array."""
    arr = pa.array(np.asarray(values, dtype=np.int64))
    return pc.utf8_lpad(pc.cast(arr, pa.string()), width=width, padding="0")


def to_date32(days: np.ndarray, missing: np.ndarray | None = None) -> pa.Array:
    """Day numbers → Arrow ``date32`` (optionally with a null mask)."""
    arr = np.asarray(days, dtype=np.int32)
    return pa.array(arr, type=pa.int32(), mask=missing).cast(pa.date32())


def civil_from_days(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised day number → (year, month, day) (proleptic Gregorian)."""
    d = np.asarray(days, dtype="datetime64[D]")
    years = d.astype("datetime64[Y]")
    months = d.astype("datetime64[M]")
    y = years.astype(np.int64) + 1970
    m = (months - years).astype(np.int64) + 1
    dd = (d - months).astype(np.int64) + 1
    return y, m, dd


def year_of(days: np.ndarray) -> np.ndarray:
    """Calendar year of day numbers."""
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def month_start(days: np.ndarray) -> np.ndarray:
    """Day number of the first day of the month of each day number."""
    d = np.asarray(days, dtype="datetime64[D]")
    return d.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def add_months(days: np.ndarray, months: np.ndarray) -> np.ndarray:
    """First day of the month ``months`` after the month of ``days``."""
    m = np.asarray(days, dtype="datetime64[D]").astype("datetime64[M]")
    shifted = m + np.asarray(months, dtype="timedelta64[M]")
    return shifted.astype("datetime64[D]").astype(np.int64)


def ean13_check_digit(first12: np.ndarray) -> np.ndarray:
    """EAN-13 check digits of 12-digit integers (used by CIP13 codes)."""
    x = np.asarray(first12, dtype=np.int64)
    total = np.zeros_like(x)
    for pos in range(12):  # 12 digit positions, vectorised over all codes
        digit = (x // 10 ** (11 - pos)) % 10
        total += digit * (3 if pos % 2 else 1)
    return (10 - total % 10) % 10


def repeat_index(counts: np.ndarray) -> np.ndarray:
    """Row index repeated ``counts`` times: the parent of each generated child row."""
    return np.repeat(np.arange(len(counts), dtype=np.int64), np.asarray(counts, dtype=np.int64))


def rank_within(groups: np.ndarray) -> np.ndarray:
    """0-based rank of each row within runs of equal consecutive ``groups`` (sorted input)."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.r_[True, groups[1:] != groups[:-1]]
    start_pos = np.flatnonzero(starts)
    run_id = np.cumsum(starts) - 1
    return np.arange(n, dtype=np.int64) - start_pos[run_id]
