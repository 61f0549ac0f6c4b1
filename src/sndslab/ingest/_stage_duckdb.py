"""The DuckDB staging reader (:data:`sndslab.ingest._stage.STAGERS` ``duckdb``).

DuckDB-specific by design: it uses DuckDB's CSV reader options (typed columns, ``store_rejects``)
and prepared parameters on ``con.raw`` (the ``duckdb`` connection of a
:class:`~sndslab.engines.DuckDBConnection`). DuckDB lakes are local, so a part rewritten to fix
its line numbers is written to a temporary sibling directory and renamed into place.

The staged part is written once in reader order (``preserve_insertion_order``: file order) with
``_source_line`` = the reader's ordinal of the row; when the file had blank, malformed or
re-read lines, a second write maps the ordinal to the data line number (and appends the re-read
rows, the part then sorted by ``_source_line``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import cast

import duckdb

from sndslab.engines import Connection, DuckDBConnection, quote_ident, quote_path
from sndslab.errors import SndslabError
from sndslab.ingest._accounting import FileAccount
from sndslab.ingest._discover import RawFile
from sndslab.ingest._read import (
    TypingPlan,
    checked_sql,
    quarantined_sql,
    source_sql,
    staged_sql,
    typed_source_sql,
)
from sndslab.ingest._stage import place_parts, plan_file, quarantine_reasons, refused_account
from sndslab.lake import LakePaths

__all__ = ["read_file"]

_SOURCE_LINE = ("_source_line",)


def read_file(
    con: Connection, rf: RawFile, paths: LakePaths, scratch: str, acc: FileAccount
) -> FileAccount:
    """Stage ``rf`` with DuckDB's readers (see :data:`sndslab.ingest._stage.STAGERS`)."""
    dcon = cast(DuckDBConnection, con)
    try:
        _stage_into(dcon, rf, paths, Path(scratch), acc)
    except duckdb.OutOfMemoryException as exc:  # the run's limit, not the file's content
        raise SndslabError(
            f"{rf.name}: out of memory while staging ({str(exc).splitlines()[0]}); raise the "
            "engine's memory_limit or lower its threads"
        ) from exc
    except (duckdb.InterruptException, duckdb.ConnectionException):  # the run is stopping
        raise  # (interrupted, or its connection closed): never the file's fault
    except duckdb.Error as exc:  # unreadable content: refuse the file, one clear line
        return refused_account(rf, exc)
    return acc


def _line_expr(con: DuckDBConnection, gaps: list[int], name: str) -> str:
    """SQL mapping ``_ord`` (accepted-row ordinal) to the data line number, given the sorted
    data lines that are not rows (blank or rejected). Creates temp table ``name``."""
    if not gaps:
        return "_ord"
    # Row k sits after every gap j whose "accepted rows before it" g_j = gap_j - j is < k.
    g = [line - j for j, line in enumerate(gaps, start=1)]
    con.raw.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT g, max(j) AS j FROM "
        "(SELECT unnest(?::BIGINT[]) AS g, unnest(?::BIGINT[]) AS j) GROUP BY g",
        [g, list(range(1, len(gaps) + 1))],
    )
    return f"(_ord + coalesce((SELECT max(j) FROM {name} WHERE g < _ord), 0))"


def _read_rejects(
    con: DuckDBConnection, table: str, scan: str
) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]], bool]:
    """The lines the CSV reader rejected: malformed lines (data line, raw text, error; a value
    left open by an unterminated quote yields one entry per physical line it swallowed), lines
    whose only errors are casts (data line, text: to re-read as text), and whether an encoding
    error was among them."""
    rows = con.fetchall(
        # a structural error (wrong column count, quote) is the line's error, before any cast
        f"SELECT line, any_value(csv_line), min_by(error_type || ': ' || error_message, "
        f"[CAST(error_type = 'CAST' AS INTEGER), coalesce(column_idx, 0)]), "
        f"bool_or(error_type = 'INVALID ENCODING'), "
        f"bool_and(error_type = 'CAST') FROM {table} GROUP BY line ORDER BY line"
    )
    malformed: list[tuple[int, str, str]] = []
    cast_lines: list[tuple[int, str]] = []
    seen: set[int] = set()
    bad_encoding = False
    for line, csv_line, err, enc, only_cast in rows:
        bad_encoding = bad_encoding or bool(enc)
        # the reader's text may start with the blank lines before the row: not part of it
        text_all = (csv_line or "").lstrip("\r\n").removesuffix("\n").removesuffix("\r")
        if only_cast and not enc:
            cast_lines.append((int(line) - 1, text_all))
            continue
        for k, text in enumerate(text_all.split("\n")):
            data_line = int(line) - 1 + k
            if data_line in seen or data_line < 1:
                continue
            seen.add(data_line)
            detail = err if k == 0 else f"inside the value opened at line {int(line) - 1}: {err}"
            malformed.append((data_line, text.rstrip("\r"), detail))
    con.drop(table)
    con.drop(scan)
    return malformed, cast_lines, bad_encoding


def _stage_into(
    con: DuckDBConnection, rf: RawFile, paths: LakePaths, scratch: Path, acc: FileAccount
) -> None:
    plan = plan_file(rf, acc)
    if plan is None:
        return
    assert rf.table is not None
    tag = uuid.uuid4().hex[:8]
    part = paths.stg_part(rf.table.name, rf.year, rf.name, rf.sha256)
    qpart = paths.quarantine_part(rf.table.name, rf.name, rf.sha256)
    if rf.format == "csv":
        read = _read_csv_typed(con, rf, plan, part, tag, acc)
    else:
        read = _read_text(con, rf, plan, part)
    tmp_tables = [f"_gaps_{tag}", f"_rej_{tag}", f"_cast_{tag}"]

    gaps = sorted(
        {b - 1 for b in rf.blank_lines if b > 1}
        | {r[0] for r in read.malformed}
        | {line for line, _ in read.cast_lines}
    )
    rows_in = rf.data_lines
    line_expr = _line_expr(con, gaps, tmp_tables[0])
    qsql: list[str] = []
    # rows the reader accepted but a plausibility check fails (re-read: rare)
    bad = rows_in - len(read.malformed) - len(read.cast_lines) - read.staged
    if bad != 0 and read.plan.checks:
        qsql.append(read.quarantine(line_expr))
    recovered_sql: str | None = None
    if read.cast_lines:
        recovered_sql, q_cast = _retype_cast_lines(con, rf, plan, read.cast_lines, scratch, tag)
        qsql.append(q_cast)
    if read.malformed:
        qsql.append(_malformed_sql(con, rf, read.malformed, tmp_tables[1]))
    quarantined: Counter[str] = Counter()
    if qsql:
        union = " UNION ALL ".join(f"({s})" for s in qsql)
        con.write_dataset(f"SELECT * FROM ({union})", qpart, order_by=_SOURCE_LINE)
        quarantined = quarantine_reasons(con, qpart)
    staged = read.staged
    if gaps or recovered_sql is not None:
        staged = _fix_lines(
            con, read.plan, part, line_expr, recovered_sql, tag
        )  # + the re-read rows
    for name in [*tmp_tables, f"_rej2_err_{tag}", f"_rej2_scan_{tag}"]:
        con.drop(name)

    counted = staged + sum(quarantined.values())
    if counted != rows_in:
        acc.notes.append(
            f"{rows_in} data lines counted but the CSV reader found {counted} rows: quoted "
            "values contain line breaks; rows_in is the reader's count and _source_line the "
            "row ordinal"
        )
        rows_in = counted
    place_parts(acc, rf, rows_in, staged, quarantined, with_quarantine=bool(qsql))


def _malformed_sql(
    con: DuckDBConnection, rf: RawFile, malformed: list[tuple[int, str, str]], name: str
) -> str:
    """SELECT (quarantine layout) of the malformed lines, held in temp table ``name``."""
    con.raw.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT unnest(?::BIGINT[]) AS l, "
        "unnest(?::VARCHAR[]) AS t, unnest(?::VARCHAR[]) AS d",
        [[r[0] for r in malformed], [r[1] for r in malformed], [r[2] for r in malformed]],
    )
    return (
        f"SELECT {quote_path(rf.name)} AS _source_file, l AS _source_line, "
        "'malformed_line' AS reason, CAST(NULL AS VARCHAR) AS \"column\", t AS raw_value, "
        f"d AS detail FROM {name}"
    )


@dataclass
class _Read:
    """What the first read of a file produced: the staged part (rows in reader order, with
    ``_source_line`` = reader ordinal), the lines the reader rejected, and how to re-read the
    rows a plausibility check fails."""

    plan: TypingPlan
    staged: int
    quarantine: Callable[[str], str]  # line expression -> SELECT of quarantined rows
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # line, text, detail
    cast_lines: list[tuple[int, str]] = field(default_factory=list)  # line, text


def _read_text(con: DuckDBConnection, rf: RawFile, plan: TypingPlan, part: str) -> _Read:
    """Parquet input: every column as text, typed in SQL (one pass)."""
    src = source_sql(rf)
    checked = checked_sql(plan, src)
    staged = con.write_dataset(staged_sql(plan, checked, rf.name, rf.year), part)

    def quarantine(line_expr: str) -> str:
        return quarantined_sql(plan, checked_sql(plan, source_sql(rf)), rf.name, line_expr)

    return _Read(plan, staged, quarantine)


def _read_csv_typed(
    con: DuckDBConnection,
    rf: RawFile,
    plan: TypingPlan,
    part: str,
    tag: str,
    acc: FileAccount,
) -> _Read:
    """CSV input on the typed path (see :mod:`sndslab.ingest._read`): the reader casts, lines
    it rejects are split into malformed lines and lines to re-read as text. An invalid UTF-8
    byte found by the reader switches the file to latin-1 and reads it again."""
    rej = (f"_rej_err_{tag}", f"_rej_scan_{tag}")
    encoding = rf.encoding
    tplan = replace(plan, checks=[])
    for _attempt in range(2):
        src = typed_source_sql(rf, tplan, encoding=encoding, rejects=rej)
        checked = checked_sql(tplan, src, typed=True)
        # reader order is file order (preserve_insertion_order): no sort needed
        staged = con.write_dataset(staged_sql(tplan, checked, rf.name, rf.year), part)
        malformed, cast_lines, bad_encoding = _read_rejects(con, *rej)
        if bad_encoding and encoding != "latin-1":
            acc.notes.append("invalid UTF-8 found after the first MB: read as latin-1")
            encoding = "latin-1"
            continue
        break
    acc.encoding = encoding
    read_encoding = encoding

    def quarantine(line_expr: str) -> str:
        # store_rejects again, and make the reader cast every column (DuckDB does not cast a
        # column no one reads, so a projected read could accept a line the first read refused)
        again = (f"_rej2_err_{tag}", f"_rej2_scan_{tag}")
        every = ", ".join(f"c{i}" for i in range(len(rf.columns)))
        src = (
            f"SELECT * FROM ({typed_source_sql(rf, tplan, encoding=read_encoding, rejects=again)})"
            f" WHERE hash({every}) IS NOT NULL"
        )
        return quarantined_sql(tplan, checked_sql(tplan, src, typed=True), rf.name, line_expr)

    return _Read(tplan, staged, quarantine, malformed, cast_lines)


def _retype_cast_lines(
    con: DuckDBConnection,
    rf: RawFile,
    plan: TypingPlan,
    cast_lines: list[tuple[int, str]],
    scratch: Path,
    tag: str,
) -> tuple[str, str]:
    """(staged SELECT, quarantined SELECT) of the lines the typed reader could not cast,
    re-read on the text path (date fallbacks, decimal commas, type errors named by column),
    with their true data line numbers. The lines are written, as the reader decoded them, to
    a small UTF-8 CSV file in the (local) scratch directory."""
    tmp = scratch / f"cast-{tag}.csv"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(rf.delimiter.join(rf.columns) + "\n")
        fh.write("\n".join(text for _, text in cast_lines) + "\n")
    con.raw.execute(
        f"CREATE OR REPLACE TEMP TABLE _cast_{tag} AS SELECT unnest(?::BIGINT[]) AS k, "
        "unnest(?::BIGINT[]) AS line",
        [list(range(1, len(cast_lines) + 1)), [line for line, _ in cast_lines]],
    )
    trf = replace(rf, path=tmp, encoding="utf-8", compression=None)
    splan = replace(plan, checks=[])
    checked = checked_sql(splan, source_sql(trf))
    staged = (
        "SELECT s.* REPLACE (m.line AS _source_line) FROM "
        f"({staged_sql(splan, checked, rf.name, rf.year)}) s JOIN _cast_{tag} m "
        "ON s._source_line = m.k"
    )
    line_expr = f"(SELECT line FROM _cast_{tag} WHERE k = _ord)"
    return staged, quarantined_sql(splan, checked, rf.name, line_expr)


def _fix_lines(
    con: DuckDBConnection,
    plan: TypingPlan,
    part: str,
    line_expr: str,
    recovered_sql: str | None,
    tag: str,
) -> int:
    """Rewrite a staged part: ``_source_line`` from reader ordinal to data line number (a
    monotone map: the order is kept), plus the re-read rows (then sorted by line). Written to
    a hidden sibling directory, then swapped in (a local rename: DuckDB lakes are local).
    Returns the rows written."""
    final = Path(part)
    tmp = final.with_name(f".{final.name}.fix-{tag}")
    expr = line_expr.replace("_ord", "_source_line")
    # the columns by name: a dataset under year=<YYYY|none>/ may be read with a hive column
    cols = ", ".join(quote_ident(c) for c in plan.table.column_names)
    sql = f"SELECT {cols}, _source_file, {expr} AS _source_line, _year FROM {con.dataset(part)}"
    order: tuple[str, ...] = ()
    if recovered_sql is not None:
        sql = f"({sql}) UNION ALL BY NAME ({recovered_sql})"
        order = _SOURCE_LINE
    written = con.write_dataset(sql, str(tmp), order_by=order)
    con.storage.delete(part)
    tmp.rename(final)
    return written
