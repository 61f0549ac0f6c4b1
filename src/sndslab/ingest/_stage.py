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
import os
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from sndslab.engines import DuckDBEngine, Engine, SparkEngine, get_engine
from sndslab.errors import InvalidArgumentError, SndslabError
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
    typed_source_sql,
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


def place_parts(
    acc: FileAccount,
    rf: RawFile,
    lake: Path,
    part: Path,
    qpart: Path | None,
    rows_in: int,
    staged: int,
    quarantined: Counter[str],
) -> None:
    """Record a staged file's counts in ``acc`` and move its complete parts (the quarantine
    part when there is one) from the staging directory to their final paths (both engines)."""
    assert rf.table is not None
    acc.rows_in, acc.staged, acc.quarantined = rows_in, staged, dict(sorted(quarantined.items()))
    for reason, n in acc.quarantined.items():
        log.warning("%s: %d row(s) quarantined (%s)", rf.name, n, reason)
    moves = [(part, stg_part(lake, rf.table.name, rf.year, rf.sha256))]
    if qpart is not None:
        moves.append((qpart, quarantine_part(lake, rf.table.name, rf.sha256)))
    for src_path, dest in moves:
        dest.parent.mkdir(parents=True, exist_ok=True)
        src_path.replace(dest)
        acc.parts.append(dest.relative_to(lake).as_posix())
    acc.status = "staged"
    total_q = sum(acc.quarantined.values())
    acc.message = f"{rf.name}: {staged} row(s) staged, {total_q} quarantined"


def refused_account(rf: RawFile, exc: BaseException) -> FileAccount:
    """The account of a file whose content the engine cannot read: refused, one clear line."""
    acc = _base_account(rf)
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    acc.status, acc.message = "refused", f"{rf.name}: cannot be read: {first}"
    log.warning(acc.message)
    return acc


def _copy(con: Any, sql: str, dest: Path) -> int:
    """COPY ``sql`` to the Parquet file ``dest``; the rows written (DuckDB or the Spark facade)."""
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
) -> tuple[list[tuple[int, str, str]], list[tuple[int, str]], bool]:
    """The lines the CSV reader rejected: malformed lines (data line, raw text, error; a value
    left open by an unterminated quote yields one entry per physical line it swallowed), lines
    whose only errors are casts (data line, text: to re-read as text), and whether an encoding
    error was among them."""
    rows = con.execute(
        # a structural error (wrong column count, quote) is the line's error, before any cast
        f"SELECT line, any_value(csv_line), min_by(error_type || ': ' || error_message, "
        f"[CAST(error_type = 'CAST' AS INTEGER), coalesce(column_idx, 0)]), "
        f"bool_or(error_type = 'INVALID ENCODING'), "
        f"bool_and(error_type = 'CAST') FROM {table} GROUP BY line ORDER BY line"
    ).fetchall()
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
    con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute(f"DROP TABLE IF EXISTS {scan}")
    return malformed, cast_lines, bad_encoding


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
    if not isinstance(con, duckdb.DuckDBPyConnection):  # Spark engine: its own reader
        from sndslab.ingest._stage_spark import stage_file_spark

        return stage_file_spark(con, rf, lake, staging_dir=staging_dir)
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
    except duckdb.OutOfMemoryException as exc:  # the run's limit, not the file's content
        raise SndslabError(
            f"{rf.name}: out of memory while staging ({str(exc).splitlines()[0]}); raise the "
            "engine's memory_limit or lower its threads"
        ) from exc
    except duckdb.Error as exc:  # unreadable content: refuse the file, one clear line
        acc = refused_account(rf, exc)
    finally:
        if own_staging:
            shutil.rmtree(staging, ignore_errors=True)
    acc.seconds = round(time.perf_counter() - started, 3)
    return acc.check()


def plan_file(rf: RawFile, acc: FileAccount) -> TypingPlan | None:
    """The column plan of a recognised file (both engines), or None when there is nothing to
    read: an empty file (``acc.status`` empty) or a header sharing no column with the table
    (refused). Unknown (dropped), missing (NULL) and duplicated columns go into ``acc``."""
    table = rf.table
    assert table is not None
    if rf.size == 0 or rf.data_lines == 0:
        acc.status = "empty"
        acc.message = f"{rf.name}: empty file" + (" (header only)" if rf.columns else "")
        acc.notes.append("no data line")
        return None
    plan = plan_columns(table, rf.columns)
    if not plan.source_cols:
        acc.status = "refused"
        acc.message = (
            f"{rf.name}: header shares no column with table {table.name} "
            "(file without a header line?)"
        )
        return None
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
    return plan


def _stage_into(
    con: duckdb.DuckDBPyConnection, rf: RawFile, lake: Path, staging: Path, acc: FileAccount
) -> None:
    plan = plan_file(rf, acc)
    if plan is None:
        return

    tag = uuid.uuid4().hex[:8]
    part = staging / "stg" / f"part-{rf.sha256[:16]}.parquet"
    qpart = staging / "quarantine" / f"part-{rf.sha256[:16]}.parquet"
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
        recovered_sql, q_cast = _retype_cast_lines(con, rf, plan, read.cast_lines, staging, tag)
        qsql.append(q_cast)
    if read.malformed:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {tmp_tables[1]} AS SELECT unnest(?::BIGINT[]) AS l, "
            "unnest(?::VARCHAR[]) AS t, unnest(?::VARCHAR[]) AS d",
            [
                [r[0] for r in read.malformed],
                [r[1] for r in read.malformed],
                [r[2] for r in read.malformed],
            ],
        )
        qsql.append(
            f"SELECT {quote_str(rf.name)} AS _source_file, l AS _source_line, "
            "'malformed_line' AS reason, CAST(NULL AS VARCHAR) AS \"column\", t AS raw_value, "
            f"d AS detail FROM {tmp_tables[1]}"
        )
    quarantined: Counter[str] = Counter()
    if qsql:
        union = " UNION ALL ".join(f"({s})" for s in qsql)
        _copy(con, f"SELECT * FROM ({union}) ORDER BY _source_line", qpart)
        for reason, n in con.execute(
            f"SELECT reason, count(*) FROM read_parquet({quote_str(str(qpart))}) GROUP BY reason"
        ).fetchall():
            quarantined[reason] = int(n)
    staged = read.staged
    if gaps or recovered_sql is not None:
        staged = _fix_lines(con, part, line_expr, recovered_sql)  # + the re-read rows
    for name in [*tmp_tables, f"_rej2_err_{tag}", f"_rej2_scan_{tag}"]:
        con.execute(f"DROP TABLE IF EXISTS {name}")

    counted = staged + sum(quarantined.values())
    if counted != rows_in:
        acc.notes.append(
            f"{rows_in} data lines counted but the CSV reader found {counted} rows: quoted "
            "values contain line breaks; rows_in is the reader's count and _source_line the "
            "row ordinal"
        )
        rows_in = counted
    place_parts(acc, rf, lake, part, qpart if qsql else None, rows_in, staged, quarantined)


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


def _read_text(con: duckdb.DuckDBPyConnection, rf: RawFile, plan: TypingPlan, part: Path) -> _Read:
    """Parquet input: every column as text, typed in SQL (one pass)."""
    src = source_sql(rf)
    checked = checked_sql(plan, src)
    staged = _copy(con, staged_sql(plan, checked, rf.name), part)

    def quarantine(line_expr: str) -> str:
        return quarantined_sql(plan, checked_sql(plan, source_sql(rf)), rf.name, line_expr)

    return _Read(plan, staged, quarantine)


def _read_csv_typed(
    con: duckdb.DuckDBPyConnection,
    rf: RawFile,
    plan: TypingPlan,
    part: Path,
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
        staged = _copy(con, staged_sql(tplan, checked, rf.name), part)
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
    con: duckdb.DuckDBPyConnection,
    rf: RawFile,
    plan: TypingPlan,
    cast_lines: list[tuple[int, str]],
    staging: Path,
    tag: str,
) -> tuple[str, str]:
    """(staged SELECT, quarantined SELECT) of the lines the typed reader could not cast,
    re-read on the text path (date fallbacks, decimal commas, type errors named by column),
    with their true data line numbers. The lines are written, as the reader decoded them, to
    a small UTF-8 CSV file in the staging directory."""
    tmp = staging / f"cast-{tag}.csv"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        fh.write(rf.delimiter.join(rf.columns) + "\n")
        fh.write("\n".join(text for _, text in cast_lines) + "\n")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _cast_{tag} AS SELECT unnest(?::BIGINT[]) AS k, "
        "unnest(?::BIGINT[]) AS line",
        [list(range(1, len(cast_lines) + 1)), [line for line, _ in cast_lines]],
    )
    trf = replace(rf, path=tmp, encoding="utf-8", compression=None)
    splan = replace(plan, checks=[])
    checked = checked_sql(splan, source_sql(trf))
    staged = (
        f"SELECT s.* REPLACE (m.line AS _source_line) FROM ({staged_sql(splan, checked, rf.name)})"
        f" s JOIN _cast_{tag} m ON s._source_line = m.k"
    )
    line_expr = f"(SELECT line FROM _cast_{tag} WHERE k = _ord)"
    return staged, quarantined_sql(splan, checked, rf.name, line_expr)


def _fix_lines(
    con: duckdb.DuckDBPyConnection, part: Path, line_expr: str, recovered_sql: str | None
) -> int:
    """Rewrite a staged part: ``_source_line`` from reader ordinal to data line number, and
    the re-read rows appended (after the rows in file order). Returns the rows written."""
    tmp = part.with_name(part.name + ".lines")
    expr = line_expr.replace("_ord", "_source_line")
    sql = f"SELECT * REPLACE ({expr} AS _source_line) FROM read_parquet({quote_str(str(part))})"
    if recovered_sql is not None:
        sql = f"({sql}) UNION ALL BY NAME ({recovered_sql})"
    written = _copy(con, sql, tmp)
    tmp.replace(part)
    return written


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


def _resolve_engine(engine: str | Engine, lake: Path) -> DuckDBEngine | SparkEngine:
    eng = get_engine(engine, lake=lake) if isinstance(engine, str) else engine
    if not isinstance(eng, DuckDBEngine | SparkEngine):
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
    workers: int | None = None,
) -> StageResult:
    """Stage every new raw file of ``raw_dir`` into ``lake`` (incremental, idempotent).

    A file whose SHA-256 is in the lake's state under the same name is not re-read: its stored
    account is returned (with the note ``reused``). Same content under another name, or twice
    in ``raw_dir``, is ``skipped_duplicate``. A file whose name was staged before with other
    content replaces the old parts. ``progress(done, total, file_name)`` is called as files
    complete and once at the end.

    Files are staged ``workers`` at a time (default: the engine's threads, else the CPU count,
    at most 4), largest first, each on its own cursor of one DuckDB database, so a file's
    sequential steps (the reader's row numbering, the Parquet writer) overlap with another's;
    DuckDB's one scheduler keeps the total threads at the engine's setting. Accounts, state and
    replaced parts are handled in file-name order, whatever the completion order.
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
    decided = [_decide(rf, state, seen) for rf in files]
    todo = sorted((i for i, d in enumerate(decided) if d is None), key=lambda i: -files[i].size)
    n_workers = max(1, min(workers or eng.threads or os.cpu_count() or 1, 4, len(todo) or 1))
    con = eng.connect()
    staging = lake / f".staging-{uuid.uuid4().hex[:12]}"
    done = 0
    try:
        if n_workers == 1:
            for i in todo:
                if progress is not None:
                    progress(done, len(files), files[i].name)
                acc = stage_file(con, files[i], lake, staging_dir=staging)
                decided[i] = _record(files[i], acc, lake, state)
                done += 1
        else:
            pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="stage")
            try:
                futures = {
                    pool.submit(_stage_on_cursor, con, files[i], lake, staging): i for i in todo
                }
                for future in as_completed(futures):
                    i = futures[future]
                    decided[i] = _record(files[i], future.result(), lake, state)
                    done += 1
                    if progress is not None:
                        progress(done, len(files), files[i].name)
            except Exception:  # a crash: start nothing more, keep what the others finished
                pool.shutdown(wait=True, cancel_futures=True)
                for future, i in futures.items():
                    if decided[i] is None and not future.cancelled() and not future.exception():
                        decided[i] = _record(files[i], future.result(), lake, state)
                raise
            except BaseException:  # Ctrl-C: start nothing more, stop what runs
                pool.shutdown(wait=False, cancel_futures=True)
                con.interrupt()
                raise
            finally:
                pool.shutdown(wait=True)
    finally:
        con.close()
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(lake / ".tmp", ignore_errors=True)
    result.accounts = [acc for acc in decided if acc is not None]
    if progress is not None:
        progress(len(files), len(files), "")
    return result


def _stage_on_cursor(
    con: duckdb.DuckDBPyConnection, rf: RawFile, lake: Path, staging: Path
) -> FileAccount:
    cursor = con.cursor()
    try:
        return stage_file(cursor, rf, lake, staging_dir=staging)
    finally:
        cursor.close()


def _decide(rf: RawFile, state: IngestState, seen: dict[str, str]) -> FileAccount | None:
    """The account of a file that needs no staging (reused, duplicate, refused), else None."""
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
    return None


def _record(rf: RawFile, acc: FileAccount, lake: Path, state: IngestState) -> FileAccount:
    """Replace a previous version's parts and record a newly staged file in the state."""
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
