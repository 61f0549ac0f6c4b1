"""Stage raw files into ``lake/stg`` (typed Parquet) and ``lake/quarantine``, with accounting.

Layout: ``lake/stg/<TABLE>/year=<YYYY|none>/part-<sha256[:16]>.parquet`` (zstd; registry
columns in registry order with canonical types, then ``_source_file`` and ``_source_line``) and
``lake/quarantine/<TABLE>/part-<sha256[:16]>.parquet`` (``_source_file``, ``_source_line``,
``reason``, ``column``, ``raw_value``, ``detail``).

``_source_line`` is the 1-based *data* line number: the header is line 0, so the line shown by
an editor is ``_source_line + 1``. It is exact for rows and rejected lines, including after
blank lines and malformed lines; for a file whose quoted values contain line breaks it is the
row ordinal instead (the account carries a note).

Each file is written under ``lake/.staging-<uuid>/`` and its parts are moved into place with
``os.replace`` once complete; the caller records the state last. A crash therefore never
damages parts of earlier files, and a re-run re-stages the interrupted file.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from sndslab.engines import DuckDBEngine, Engine, get_engine
from sndslab.errors import InvalidArgumentError
from sndslab.ingest._accounting import FileAccount
from sndslab.ingest._discover import RawFile, discover
from sndslab.ingest._read import (
    TypingPlan,
    checked_sql,
    plan_columns,
    quarantined_sql,
    quote_str,
    source_sql,
    staged_sql,
)
from sndslab.ingest._state import IngestState

log = logging.getLogger("sndslab.ingest")

PARQUET_OPTS = "(FORMAT parquet, COMPRESSION zstd)"
QUARANTINE_COLUMNS: tuple[str, ...] = (
    "_source_file",
    "_source_line",
    "reason",
    "column",
    "raw_value",
    "detail",
)
Progress = Callable[[int, int, str], None]


def stg_part(lake: Path, table: str, year: int | None, sha256: str) -> Path:
    """Final path of a file's staged part."""
    y = "none" if year is None else f"{year:04d}"
    return Path(lake) / "stg" / table / f"year={y}" / f"part-{sha256[:16]}.parquet"


def quarantine_part(lake: Path, table: str, sha256: str) -> Path:
    """Final path of a file's quarantine part."""
    return Path(lake) / "quarantine" / table / f"part-{sha256[:16]}.parquet"


def _base_account(rf: RawFile) -> FileAccount:
    return FileAccount(
        file=rf.name,
        table=rf.table_name,
        year=rf.year,
        sha256=rf.sha256,
        bytes=rf.size,
        encoding=rf.encoding if rf.format == "csv" else None,
        delimiter=rf.delimiter if rf.format == "csv" else None,
    )


def _copy(con: duckdb.DuckDBPyConnection, sql: str, dest: Path) -> int:
    dest.parent.mkdir(parents=True, exist_ok=True)
    row = con.execute(f"COPY ({sql}) TO {quote_str(str(dest))} {PARQUET_OPTS}").fetchone()
    return int(row[0]) if row else 0


def _line_expr(con: duckdb.DuckDBPyConnection, gaps: list[int], name: str) -> str:
    """SQL mapping ``_ord`` (accepted-row ordinal) to the data line number, given the sorted
    data lines that are not rows (blank or rejected). Creates temp table ``name``."""
    if not gaps:
        return "_ord"
    # Row k sits after every gap j whose "accepted rows before it" g_j = gap_j - j is < k.
    g = [line - j for j, line in enumerate(gaps, start=1)]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT g, max(j) AS j FROM "
        "(SELECT unnest(?::BIGINT[]) AS g, unnest(?::BIGINT[]) AS j) GROUP BY g",
        [g, list(range(1, len(gaps) + 1))],
    )
    return f"(_ord + coalesce((SELECT max(j) FROM {name} WHERE g < _ord), 0))"


def _read_rejects(
    con: duckdb.DuckDBPyConnection, table: str, scan: str
) -> tuple[list[tuple[int, str, str]], bool]:
    """(data line, raw line, error) of every physical line the CSV reader rejected, and
    whether an encoding error was among them."""
    rows = con.execute(
        f"SELECT line, any_value(csv_line), min_by(error_type || ': ' || error_message, "
        f"coalesce(column_idx, 0)), bool_or(error_type = 'INVALID ENCODING') "
        f"FROM {table} GROUP BY line ORDER BY line"
    ).fetchall()
    out: list[tuple[int, str, str]] = []
    seen: set[int] = set()
    bad_encoding = False
    for line, csv_line, err, enc in rows:
        bad_encoding = bad_encoding or bool(enc)
        text_all = (csv_line or "").removesuffix("\n").removesuffix("\r")
        parts = text_all.split("\n")
        for k, text in enumerate(parts):
            data_line = int(line) - 1 + k
            if data_line in seen or data_line < 1:
                continue
            seen.add(data_line)
            detail = err if k == 0 else f"inside the value opened at line {int(line) - 1}: {err}"
            out.append((data_line, text.rstrip("\r"), detail))
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"DROP TABLE IF EXISTS {scan}")
    return out, bad_encoding


def stage_file(
    con: duckdb.DuckDBPyConnection,
    rf: RawFile,
    lake: Path,
    *,
    staging_dir: Path | None = None,
) -> FileAccount:
    """Type one recognised raw file into stg/quarantine parts; returns its checked account.

    Parts are written under ``staging_dir`` (default: a fresh ``lake/.staging-<uuid>``) and
    moved to their final paths when both are complete. Never raises for bad file content.
    """
    started = time.perf_counter()
    lake = Path(lake)
    acc = _base_account(rf)
    if rf.table is None:
        acc.status, acc.message = "refused", rf.reason or "table not recognised"
        return acc
    own_staging = staging_dir is None
    staging = staging_dir or lake / f".staging-{uuid.uuid4().hex[:12]}"
    try:
        _stage_into(con, rf, lake, staging, acc)
    except duckdb.Error as exc:  # unreadable content: refuse the file, one clear line
        acc = _base_account(rf)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        acc.status, acc.message = "refused", f"{rf.name}: cannot be read: {first}"
        log.warning(acc.message)
    finally:
        if own_staging:
            shutil.rmtree(staging, ignore_errors=True)
    acc.seconds = round(time.perf_counter() - started, 3)
    return acc.check()


def _stage_into(
    con: duckdb.DuckDBPyConnection, rf: RawFile, lake: Path, staging: Path, acc: FileAccount
) -> None:
    table = rf.table
    assert table is not None
    if rf.size == 0 or rf.data_lines == 0:
        acc.status = "empty"
        acc.message = f"{rf.name}: empty file" + (" (header only)" if rf.columns else "")
        acc.notes.append("no data line")
        return
    plan = plan_columns(table, rf.columns)
    if not plan.source_cols:
        acc.status = "refused"
        acc.message = (
            f"{rf.name}: header shares no column with table {table.name} "
            "(file without a header line?)"
        )
        return
    acc.unknown_columns, acc.missing_columns = plan.unknown, plan.missing
    for col in plan.unknown:
        log.warning("%s: unknown column %s for table %s dropped", rf.name, col, table.name)
    for col in plan.duplicated:
        acc.notes.append(f"column {col} appears twice: the first one is kept")
    if plan.missing:
        log.warning(
            "%s: columns missing for table %s, filled with NULL: %s",
            rf.name,
            table.name,
            ", ".join(plan.missing),
        )

    tag = uuid.uuid4().hex[:8]
    rej = (f"_rej_err_{tag}", f"_rej_scan_{tag}")
    part = staging / "stg" / f"part-{rf.sha256[:16]}.parquet"
    qpart = staging / "quarantine" / f"part-{rf.sha256[:16]}.parquet"
    encoding = rf.encoding
    rejects: list[tuple[int, str, str]] = []
    for _attempt in range(2):
        is_csv = rf.format == "csv"
        src = source_sql(rf, encoding=encoding, rejects=rej if is_csv else None)
        checked = checked_sql(plan, src)
        staged = _copy(con, staged_sql(plan, checked, rf.name), part)
        if not is_csv:
            break
        rejects, bad_encoding = _read_rejects(con, *rej)
        if bad_encoding and encoding != "latin-1":
            acc.notes.append("invalid UTF-8 found after the first MB: read as latin-1")
            encoding = "latin-1"
            continue
        break
    acc.encoding = encoding if rf.format == "csv" else None

    gaps = sorted({b - 1 for b in rf.blank_lines if b > 1} | {r[0] for r in rejects})
    rows_in = rf.data_lines
    bad = rows_in - len(rejects) - staged
    line_table = f"_gaps_{tag}"
    line_expr = _line_expr(con, gaps, line_table)
    typed_bad = 0
    qsql: list[str] = []
    if bad != 0 and plan.checks:
        src = source_sql(rf, encoding=encoding, rejects=None)
        qsql.append(quarantined_sql(plan, checked_sql(plan, src), rf.name, line_expr))
    if rejects:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _rej_{tag} AS SELECT unnest(?::BIGINT[]) AS l, "
            "unnest(?::VARCHAR[]) AS t, unnest(?::VARCHAR[]) AS d",
            [[r[0] for r in rejects], [r[1] for r in rejects], [r[2] for r in rejects]],
        )
        qsql.append(
            f"SELECT {quote_str(rf.name)} AS _source_file, l AS _source_line, "
            "'malformed_line' AS reason, CAST(NULL AS VARCHAR) AS \"column\", t AS raw_value, "
            f"d AS detail FROM _rej_{tag}"
        )
    quarantined: Counter[str] = Counter()
    if qsql:
        union = " UNION ALL ".join(f"({s})" for s in qsql)
        _copy(con, f"SELECT * FROM ({union}) ORDER BY _source_line", qpart)
        for reason, n in con.execute(
            f"SELECT reason, count(*) FROM read_parquet({quote_str(str(qpart))}) GROUP BY reason"
        ).fetchall():
            quarantined[reason] = int(n)
        typed_bad = sum(n for r, n in quarantined.items() if r != "malformed_line")
    if gaps:
        _fix_lines(con, part, line_expr)
    con.execute(f"DROP TABLE IF EXISTS {line_table}")
    con.execute(f"DROP TABLE IF EXISTS _rej_{tag}")

    if typed_bad != bad:
        counted = staged + len(rejects) + typed_bad
        acc.notes.append(
            f"{rows_in} data lines counted but the CSV reader found {counted} rows: quoted "
            "values contain line breaks; rows_in is the reader's count and _source_line the "
            "row ordinal"
        )
        rows_in = counted
    acc.rows_in, acc.staged, acc.quarantined = rows_in, staged, dict(sorted(quarantined.items()))
    for reason, n in acc.quarantined.items():
        log.warning("%s: %d row(s) quarantined (%s)", rf.name, n, reason)

    final = stg_part(lake, table.name, rf.year, rf.sha256)
    moves = [(part, final)]
    if qsql:
        moves.append((qpart, quarantine_part(lake, table.name, rf.sha256)))
    for src_path, dest in moves:
        dest.parent.mkdir(parents=True, exist_ok=True)
        src_path.replace(dest)
        acc.parts.append(dest.relative_to(lake).as_posix())
    acc.status = "staged"
    total_q = sum(quarantined.values())
    acc.message = f"{rf.name}: {staged} row(s) staged, {total_q} quarantined"


def _fix_lines(con: duckdb.DuckDBPyConnection, part: Path, line_expr: str) -> None:
    """Rewrite ``_source_line`` of a staged part from row ordinal to data line number."""
    tmp = part.with_name(part.name + ".lines")
    expr = line_expr.replace("_ord", "_source_line")
    con.execute(
        f"COPY (SELECT * REPLACE ({expr} AS _source_line) FROM "
        f"read_parquet({quote_str(str(part))})) TO {quote_str(str(tmp))} {PARQUET_OPTS}"
    )
    tmp.replace(part)


@dataclass
class StageResult:
    """Accounts of every file of a staging run, in file-name order, and their totals."""

    lake: Path
    accounts: list[FileAccount] = field(default_factory=list)

    @property
    def new(self) -> list[FileAccount]:
        """Files staged by this run (not reused from the lake's state)."""
        return [a for a in self.accounts if a.status == "staged" and "reused" not in a.notes]

    @property
    def totals(self) -> dict[str, Any]:
        q: Counter[str] = Counter()
        for a in self.accounts:
            q.update(a.quarantined)
        return {
            "files": len(self.accounts),
            "by_status": dict(sorted(Counter(a.status for a in self.accounts).items())),
            "rows_in": sum(a.rows_in for a in self.accounts),
            "staged": sum(a.staged for a in self.accounts),
            "quarantined": dict(sorted(q.items())),
            "bytes": sum(a.bytes for a in self.accounts),
        }


def _resolve_engine(engine: str | Engine, lake: Path) -> DuckDBEngine:
    eng = get_engine(engine, lake=lake) if isinstance(engine, str) else engine
    if not isinstance(eng, DuckDBEngine):
        raise NotImplementedError(
            f"staging on the {eng.name} engine is not implemented yet (see sndslab.engines)"
        )
    return eng


def stage(
    raw_dir: Path | str,
    lake: Path | str,
    *,
    engine: str | Engine = "duckdb",
    progress: Progress | None = None,
) -> StageResult:
    """Stage every new raw file of ``raw_dir`` into ``lake`` (incremental, idempotent).

    A file whose SHA-256 is in the lake's state under the same name is not re-read: its stored
    account is returned (with the note ``reused``). Same content under another name, or twice
    in ``raw_dir``, is ``skipped_duplicate``. A file whose name was staged before with other
    content replaces the old parts. ``progress(done, total, file_name)`` is called before each
    file and once at the end.
    """
    raw = Path(raw_dir)
    lake = Path(lake)
    if not raw.is_dir():
        raise InvalidArgumentError(f"raw directory {raw} does not exist or is not a directory")
    lake.mkdir(parents=True, exist_ok=True)
    for stale in lake.glob(".staging-*"):  # left by a crashed run
        shutil.rmtree(stale, ignore_errors=True)
    eng = _resolve_engine(engine, lake)
    files = discover(raw)
    state = IngestState.load(lake)
    result = StageResult(lake=lake)
    seen: dict[str, str] = {}
    con = eng.connect()
    staging = lake / f".staging-{uuid.uuid4().hex[:12]}"
    try:
        for i, rf in enumerate(files):
            if progress is not None:
                progress(i, len(files), rf.name)
            result.accounts.append(_one(con, rf, lake, staging, state, seen))
    finally:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(lake / ".tmp", ignore_errors=True)
    if progress is not None:
        progress(len(files), len(files), "")
    return result


def _one(
    con: duckdb.DuckDBPyConnection,
    rf: RawFile,
    lake: Path,
    staging: Path,
    state: IngestState,
    seen: dict[str, str],
) -> FileAccount:
    known = state.files.get(rf.sha256) if rf.sha256 else None
    if known is not None and known.file == rf.name:
        reused = FileAccount.from_dict(known.to_dict())
        if "reused" not in reused.notes:
            reused.notes.append("reused")
        seen.setdefault(rf.sha256, rf.name)
        return reused
    first = seen.get(rf.sha256) or (known.file if known is not None else None)
    if first is not None and rf.sha256:
        acc = _base_account(rf)
        acc.status, acc.duplicate_of = "skipped_duplicate", first
        acc.message = f"{rf.name}: same content as {first}, skipped"
        log.warning(acc.message)
        return acc
    seen[rf.sha256] = rf.name
    if rf.table is None:
        acc = _base_account(rf)
        acc.status, acc.message = "refused", f"{rf.name}: {rf.reason}"
        log.warning(acc.message)
        return acc
    acc = stage_file(con, rf, lake, staging_dir=staging)
    previous = state.by_name(rf.name)
    if previous is not None and previous.sha256 != rf.sha256:
        for old in previous.parts:
            if old not in acc.parts:
                (lake / old).unlink(missing_ok=True)
        acc.notes.append(f"replaces the previous version (sha256 {previous.sha256[:16]})")
    if acc.status in ("staged", "empty"):
        state.record(acc)
    return acc


def plan_for(rf: RawFile) -> TypingPlan | None:
    """Column plan of a recognised file (for reports and tests)."""
    return plan_columns(rf.table, rf.columns) if rf.table is not None else None
