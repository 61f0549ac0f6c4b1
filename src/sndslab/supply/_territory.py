"""The territory table of the supply-versus-consumption analysis: one row per territory.

Columns: ``territory`` (text code: département ``"001"``, région ``"84"``…), ``consultations``
(GP consultations and visits in the year), ``population`` (affiliated persons: covered and
alive in the year, or the population protégée), ``practitioners`` (GPs of the territory), then
control columns (numbers; the age-structure controls are named ``age_share_<band>``).
Derived: ``consultations_per_affiliate`` and ``practitioners_per_100k``.

A table the user brings (``--table FILE.csv``, ``;`` or ``,`` separated, UTF-8) is read with
:func:`read_territory_table`; every problem is one :class:`TerritoryTableError` naming the
column or the line.

>>> import pyarrow as pa
>>> t = territory_table(pa.table({"territory": ["a", "b"], "consultations": [40.0, 60.0],
...     "population": [10.0, 12.0], "practitioners": [1.0, 2.0]}), where="demo")
>>> t.column("consultations_per_affiliate").to_pylist()
[4.0, 5.0]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sndslab.errors import SndslabError

__all__ = [
    "AGE_SHARE_PREFIX",
    "REQUIRED_COLUMNS",
    "TerritoryTableError",
    "read_territory_table",
    "territory_table",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("territory", "consultations", "population", "practitioners")
#: Prefix of the age-structure control columns (share of the population in an age band).
AGE_SHARE_PREFIX = "age_share_"


class TerritoryTableError(SndslabError):
    """A territory table lacks a column or has a bad row (the message names it)."""


def _numeric(table: pa.Table, name: str, where: str) -> np.ndarray:
    col = table.column(name)
    if pa.types.is_null(col.type):
        raise TerritoryTableError(f"{where}: line 2: column {name!r} is empty on every row")
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        text = pc.utf8_trim_whitespace(col)
        text = pc.replace_substring(text, ",", ".")  # French decimal comma
        try:
            col = pc.cast(text, pa.float64())
        except pa.ArrowInvalid:
            values = text.to_pylist()
            for i, v in enumerate(values):
                try:
                    float(v) if v not in (None, "") else None
                except ValueError:
                    raise TerritoryTableError(
                        f"{where}: line {i + 2}: column {name!r}: {v!r} is not a number"
                    ) from None
            raise
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        raise TerritoryTableError(f"{where}: column {name!r} must be numeric, not {col.type}")
    arr = col.to_numpy(zero_copy_only=False).astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise TerritoryTableError(
            f"{where}: line {int(bad[0]) + 2}: column {name!r} is empty or not a finite number "
            f"({bad.size} such row(s))"
        )
    return arr


def territory_table(table: pa.Table, *, where: str = "territory table") -> pa.Table:
    """Validate a territory table and add the derived columns (see the module docstring).

    Errors: a missing required column, a duplicate or empty territory, a non-numeric or
    missing value, negative counts, a population of zero or less.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise TerritoryTableError(
            f"{where}: missing column(s) {missing}; a territory table has "
            f"{', '.join(REQUIRED_COLUMNS)} and optional control columns"
        )
    if table.num_rows == 0:
        raise TerritoryTableError(f"{where}: no territory row")
    terr = pc.cast(table.column("territory"), pa.string())
    terr = pc.utf8_trim_whitespace(terr)
    values = terr.to_pylist()
    empty = [i for i, v in enumerate(values) if not v]
    if empty:
        raise TerritoryTableError(f"{where}: line {empty[0] + 2}: empty territory")
    seen: dict[str, int] = {}
    for i, v in enumerate(values):  # one pass over territories (a few hundred rows)
        if v in seen:
            raise TerritoryTableError(
                f"{where}: line {i + 2}: territory {v!r} already on line {seen[v] + 2}"
            )
        seen[v] = i
    out: dict[str, pa.Array | np.ndarray | list[str]] = {"territory": values}
    for name in table.column_names:
        if name == "territory":
            continue
        arr = _numeric(table, name, where)
        if name in ("consultations", "practitioners", "population"):
            neg = np.flatnonzero(arr < 0)
            if neg.size:
                raise TerritoryTableError(
                    f"{where}: line {int(neg[0]) + 2}: {name} is negative ({arr[neg[0]]:g})"
                )
        if name == "population":
            zero = np.flatnonzero(arr <= 0)
            if zero.size:
                raise TerritoryTableError(
                    f"{where}: line {int(zero[0]) + 2}: population must be positive "
                    f"(territory {values[int(zero[0])]!r})"
                )
        out[name] = arr
    pop = np.asarray(out["population"], dtype=np.float64)
    out["consultations_per_affiliate"] = np.asarray(out["consultations"], np.float64) / pop
    out["practitioners_per_100k"] = np.asarray(out["practitioners"], np.float64) / pop * 1e5
    return pa.table(out)


def read_territory_table(path: str | Path) -> pa.Table:
    """Read a territory table from a CSV file (``;`` or ``,``) and validate it."""
    p = Path(path)
    try:
        head = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise TerritoryTableError(f"{p}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise TerritoryTableError(f"{p}: not UTF-8 text") from exc
    if not head:
        raise TerritoryTableError(f"{p}: empty file")
    delimiter = ";" if head[0].count(";") >= head[0].count(",") else ","
    try:
        table = pacsv.read_csv(
            p,
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types={"territory": pa.string()}, strings_can_be_null=True
            ),
        )
    except pa.ArrowInvalid as exc:
        raise TerritoryTableError(f"{p}: not a valid CSV table ({exc})") from exc
    return territory_table(table, where=str(p))
