"""SQL that reads one raw file as text and types it to the registry's canonical types.

Everything is one DuckDB query per pass (no Python row loops):

* ``source_sql`` reads the file with every column as VARCHAR (``read_csv`` with an explicit
  column list, so no sniffing; ``store_rejects`` captures lines with a wrong column count or an
  unterminated quote; ``read_parquet`` for Parquet), adding ``_ord``, the ordinal of the row
  among the rows the reader accepted (``row_number() OVER ()``, streamed in file order because
  insertion order is preserved; Parquet uses ``file_row_number``).
* ``checked_sql`` types every registry column in one SELECT and computes ``_q``: ``NULL`` for a
  good row, else the 1-based index of the first failed check in :class:`TypingPlan.checks`
  (type errors in column order, then plausibility checks).

Two ways to read a CSV file feed the same checks:

* the **text path** (``source_sql``): every column as VARCHAR, typed in SQL with the table's
  date format then the :data:`DATE_FALLBACKS`, decimal commas accepted. Exact and general.
* the **typed path** (``typed_source_sql``, the default for CSV): DuckDB's CSV reader casts each
  column itself with the table's date format, in parallel and without materialising text — about
  twice as fast on the wide DCIR tables. A line whose value does not cast (another date format, a
  decimal comma, a type error) is *rejected by the reader* and re-read on the text path, so the
  typed path never changes a result, only the speed: ``checked_sql(..., typed=True)`` then runs
  only the plausibility checks, on the reader's typed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sndslab.engines import quote_ident, quote_path
from sndslab.ingest._discover import RawFile
from sndslab.registry import TableSpec

#: Fallback formats tried after the table's own ``date_format`` (DuckDB ``%b`` matches JAN).
DATE_FALLBACKS: tuple[str, ...] = (
    "%d/%m/%Y",
    "%Y-%m-%d",
    "%d%b%Y:%H:%M:%S",
    "%d%b%Y",
    "%Y-%m-%d %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
)
MIN_DATE = "1900-01-01"
MAX_DATE = "2100-12-31"
#: (table, column) pairs whose 1600-01-01 value is a documented sentinel, not an absurd date.
DATE_SENTINELS: dict[tuple[str, str], str] = {("IR_IMB_R", "IMB_ALD_DTF"): "1600-01-01"}
MIN_BIRTH_YEAR = 1890


@dataclass(frozen=True)
class Check:
    """One quarantine check: the row fails when ``sql`` is true."""

    reason: str
    column: str
    sql: str
    detail: str
    raw: str  # SQL of the raw text value reported


@dataclass
class TypingPlan:
    """How a file's columns map onto its registry table."""

    table: TableSpec
    source_cols: dict[str, str]  # registry column -> source column alias (c0, c1, …)
    unknown: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


def plan_columns(table: TableSpec, header: tuple[str, ...]) -> TypingPlan:
    """Match a header against the registry: kept, unknown (dropped), missing (NULL)."""
    wanted = {c.upper(): c for c in table.column_names}  # registry names may be lower-case
    source: dict[str, str] = {}
    unknown: list[str] = []
    duplicated: list[str] = []
    for i, header_name in enumerate(header):
        name = wanted.get(header_name.upper(), header_name)
        if header_name.upper() in wanted:
            if name in source:
                duplicated.append(name)
            else:
                source[name] = f"c{i}"
        elif name not in unknown:
            unknown.append(name)
    missing = [c for c in table.column_names if c not in source]
    return TypingPlan(table, source, unknown, missing, duplicated)


def date_formats(table: TableSpec) -> list[str]:
    return [table.date_format, *[f for f in DATE_FALLBACKS if f != table.date_format]]


def _reader_typed_expr(plan: TypingPlan, col: str, ctype: str) -> tuple[str, str | None]:
    """(typed SQL, text SQL used by checks) of one column already cast by the CSV reader.

    The text re-renders the typed value in the file's format (dates with the table's
    ``date_format``, SAS month names upper-cased), which is what the file held for every value
    the reader accepted.
    """
    src = plan.source_cols[col]
    if ctype == "string":
        return src, None
    if ctype in ("date", "datetime"):
        fmt = plan.table.date_format
        text = f"strftime({src}, {quote_path(fmt)})"
        text = f"upper({text})" if "%b" in fmt else text
        return (f"CAST({src} AS DATE)" if ctype == "date" else src), text
    return src, f"CAST({src} AS VARCHAR)"


def _typed_expr(plan: TypingPlan, col: str, ctype: str) -> tuple[str, str | None]:
    """(typed SQL, raw-text SQL used by checks) of one registry column read from ``raw``."""
    src = plan.source_cols.get(col)
    if src is None:
        sql_type = {
            "string": "VARCHAR",
            "integer": "BIGINT",
            "number": "DOUBLE",
            "date": "DATE",
            "datetime": "TIMESTAMP",
        }[ctype]
        return f"CAST(NULL AS {sql_type})", None
    if ctype == "string":
        return f"NULLIF({src}, '')", None
    raw = f"NULLIF(trim({src}), '')"
    if ctype == "integer":
        return f"TRY_CAST({raw} AS BIGINT)", raw
    if ctype == "number":
        return f"TRY_CAST(replace({raw}, ',', '.') AS DOUBLE)", raw
    fmts = "[" + ", ".join(quote_path(f) for f in date_formats(plan.table)) + "]"
    target = "DATE" if ctype == "date" else "TIMESTAMP"
    return f"CAST(try_strptime({raw}, {fmts}) AS {target})", raw


#: DuckDB type the CSV reader casts a canonical type to (dates read as timestamps, so one
#: ``timestampformat`` serves date and datetime columns; the SELECT casts them back to DATE).
READER_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "integer": "BIGINT",
    "number": "DOUBLE",
    "date": "TIMESTAMP",
    "datetime": "TIMESTAMP",
}


def _csv_options(rf: RawFile, columns: str, encoding: str | None) -> list[str]:
    return [
        f"delim = {quote_path(rf.delimiter)}",
        "quote = '\"'",
        "escape = '\"'",
        "header = true",
        "auto_detect = false",
        f"columns = {columns}",
        f"encoding = {quote_path(encoding or rf.encoding)}",
        f"compression = {quote_path(rf.compression or 'none')}",
    ]


def _rejects_options(rejects: tuple[str, str]) -> list[str]:
    return [
        "store_rejects = true",
        f"rejects_table = {quote_path(rejects[0])}",
        f"rejects_scan = {quote_path(rejects[1])}",
    ]


def typed_source_sql(
    rf: RawFile,
    plan: TypingPlan,
    *,
    encoding: str | None = None,
    rejects: tuple[str, str] | None = None,
) -> str:
    """SELECT of a CSV file's rows cast by the reader: ``_ord`` then ``c0 … cN``.

    Registry columns get the reader type of their canonical type (:data:`READER_TYPES`), with
    the table's ``date_format`` as the timestamp format; unknown columns stay VARCHAR. Lines the
    reader cannot cast land in the ``rejects`` tables with error type ``CAST``, to be re-read on
    the text path (see the module doc). Without ``rejects``, ``ignore_errors``: beware that
    DuckDB may then keep a line whose value does not cast, with a NULL.
    """
    by_alias = {alias: col for col, alias in plan.source_cols.items()}
    kinds = {c.name: c.type for c in plan.table.columns}
    types = [
        READER_TYPES[kinds[by_alias[f"c{i}"]]] if f"c{i}" in by_alias else "VARCHAR"
        for i in range(len(rf.columns))
    ]
    columns = "{" + ", ".join(f"'c{i}': '{t}'" for i, t in enumerate(types)) + "}"
    opts = _csv_options(rf, columns, encoding)
    opts.append(f"timestampformat = {quote_path(plan.table.date_format)}")
    opts += _rejects_options(rejects) if rejects is not None else ["ignore_errors = true"]
    path = quote_path(str(rf.path))
    cs = ", ".join(f"c{i}" for i in range(len(rf.columns)))
    return f"SELECT row_number() OVER () AS _ord, {cs} FROM read_csv({path}, {', '.join(opts)})"


def source_sql(
    rf: RawFile,
    *,
    encoding: str | None = None,
    rejects: tuple[str, str] | None = None,
) -> str:
    """SELECT of the file's rows as text: ``_ord`` then ``c0 … cN`` (header order)."""
    path = quote_path(str(rf.path))
    if rf.format == "parquet":
        import pyarrow.parquet as pq

        names = pq.read_schema(rf.path).names
        cols = ", ".join(f"CAST({quote_ident(n)} AS VARCHAR) AS c{i}" for i, n in enumerate(names))
        return (
            f"SELECT file_row_number + 1 AS _ord, {cols} "
            f"FROM read_parquet({path}, file_row_number = true)"
        )
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(rf.columns))) + "}"
    opts = _csv_options(rf, columns, encoding)
    if rejects is not None:
        opts += _rejects_options(rejects)
    else:
        opts.append("ignore_errors = true")
    cs = ", ".join(f"c{i}" for i in range(len(rf.columns)))
    return f"SELECT row_number() OVER () AS _ord, {cs} FROM read_csv({path}, {', '.join(opts)})"


def checked_sql(plan: TypingPlan, source: str, *, typed: bool = False) -> str:
    """Typed rows plus ``_q`` (first failed check, 1-based) from ``source`` (see module doc).

    Columns: ``_ord``, every registry column (canonical type, registry order), ``_q``, and
    ``_raw_<i>`` (raw text of check i's column) for quarantine reporting. ``typed=True`` when
    ``source`` is :func:`typed_source_sql` (the reader cast the values: no type checks).
    """
    table = plan.table
    typed_cols: list[str] = []
    raws: dict[str, str] = {}
    checks: list[Check] = []
    for col in table.columns:
        if typed and col.name in plan.source_cols:
            expr, raw = _reader_typed_expr(plan, col.name, col.type)
            typed_cols.append(f"{expr} AS {quote_ident(col.name)}")
            if raw is not None:
                raws[col.name] = raw
            continue
        expr, raw = _typed_expr(plan, col.name, col.type)
        typed_cols.append(f"{expr} AS {quote_ident(col.name)}")
        if raw is not None:
            raws[col.name] = raw
            checks.append(
                Check(
                    "type_error",
                    col.name,
                    f"(_raw_{len(checks) + 1} IS NOT NULL AND {quote_ident(col.name)} IS NULL)",
                    f"not a valid {col.type}",
                    raw,
                )
            )
    for col in table.columns:
        if col.name not in raws:
            continue
        q = quote_ident(col.name)
        raw = raws[col.name]
        if col.type in ("date", "datetime"):
            cond = f"({q} < DATE '{MIN_DATE}' OR {q} > DATE '{MAX_DATE}')"
            sentinel = DATE_SENTINELS.get((table.name, col.name))
            if sentinel:
                cond = f"({cond} AND {q} <> DATE '{sentinel}')"
            checks.append(
                Check("absurd_date", col.name, cond, f"outside {MIN_DATE}..{MAX_DATE}", raw)
            )
        elif col.name == "BEN_NAI_ANN":
            cond = f"({q} > year(current_date) OR {q} < {MIN_BIRTH_YEAR})"
            checks.append(
                Check(
                    "absurd_birth_year",
                    col.name,
                    cond,
                    f"birth year in the future or before {MIN_BIRTH_YEAR}",
                    raw,
                )
            )
        elif col.name == "SEJ_NBJ":
            checks.append(
                Check("negative_length_of_stay", col.name, f"({q} < 0)", "negative stay", raw)
            )
    plan.checks = checks
    cols = ", ".join(quote_ident(c) for c in table.column_names)
    if checks:
        q_expr = (
            "CASE "
            + " ".join(f"WHEN {c.sql} THEN {i}" for i, c in enumerate(checks, start=1))
            + " END"
        )
        raw_cols = ", " + ", ".join(f"{c.raw} AS _raw_{i}" for i, c in enumerate(checks, 1))
        raw_cols_out = ", " + ", ".join(f"_raw_{i}" for i in range(1, len(checks) + 1))
    else:
        q_expr, raw_cols, raw_cols_out = "CAST(NULL AS INTEGER)", "", ""
    return (
        f"WITH src AS ({source}), "
        f"typed AS (SELECT _ord, {', '.join(typed_cols)}{raw_cols} FROM src) "
        f"SELECT _ord, {cols}, {q_expr} AS _q{raw_cols_out} FROM typed"
    )


def staged_sql(plan: TypingPlan, checked: str, file_name: str, year: int | None) -> str:
    """Rows that passed every check, in the stg layout: registry columns (canonical types,
    registry order), then ``_source_file``, ``_source_line`` and ``_year`` (INTEGER, the file's
    year, NULL for a file without one: readers need no hive partitioning)."""
    cols = ", ".join(quote_ident(c) for c in plan.table.column_names)
    yr = "NULL" if year is None else str(int(year))
    return (
        f"SELECT {cols}, {quote_path(file_name)} AS _source_file, _ord AS _source_line, "
        f"CAST({yr} AS INTEGER) AS _year FROM ({checked}) WHERE _q IS NULL"
    )


def quarantined_sql(plan: TypingPlan, checked: str, file_name: str, line_expr: str) -> str:
    """Rows that failed a check, in the quarantine layout."""
    checks = plan.checks
    reasons = "[" + ", ".join(quote_path(c.reason) for c in checks) + "]"
    columns = "[" + ", ".join(quote_path(c.column) for c in checks) + "]"
    details = "[" + ", ".join(quote_path(c.detail) for c in checks) + "]"
    raw = "CASE _q " + " ".join(f"WHEN {i} THEN _raw_{i}" for i in range(1, len(checks) + 1))
    raw += " END"
    return (
        f"SELECT {quote_path(file_name)} AS _source_file, {line_expr} AS _source_line, "
        f"{reasons}[_q] AS reason, {columns}[_q] AS {quote_ident('column')}, "
        f"CAST({raw} AS VARCHAR) AS raw_value, {details}[_q] AS detail "
        f"FROM ({checked}) WHERE _q IS NOT NULL"
    )
