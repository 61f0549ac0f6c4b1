"""Stage raw files into ``stg`` (typed Parquet datasets) and ``quarantine``, with accounting.

Layout (lake layout 2, :class:`sndslab.lake.LakePaths`): one dataset DIRECTORY per raw file,
written by the engine's own writer (``con.write_dataset``):

- ``<lake>/stg/<TABLE>/year=<YYYY|none>/<sha256[:16]>/``: the registry columns in registry order
  with their canonical types, then ``_source_file`` (the raw file's name), ``_source_line``
  (BIGINT) and ``_year`` (INTEGER: the file's year, NULL for ``none``, so that readers need no
  hive partitioning); rows in file order (sorted by ``_source_line``);
- ``<lake>/quarantine/<TABLE>/<sha256[:16]>/``: ``_source_file``, ``_source_line``, ``reason``,
  ``column``, ``raw_value``, ``detail``, sorted by ``_source_line``;
- ``<lake>/_state/files.json`` (:mod:`sndslab.ingest._state`): the accounts, whose ``parts`` list
  those directories relative to the lake (``stg/ER_PRS_F/year=2019/0123456789abcdef``).

``_source_line`` is the 1-based *data* line number: the header is line 0, so the line shown by
an editor is ``_source_line + 1``. It is exact for rows and rejected lines, including after
blank lines and malformed lines; for a file whose quoted values contain line breaks it is the
row ordinal instead (the account carries a note).

Crash safety: a file's parts are written at their final directories and the state records them
last; readers only see the parts the state lists (``stg.<TABLE>`` through
:func:`sndslab.lake.relation`). A crash leaves unlisted directories: the next run deletes every
unlisted part directory before staging (counted in :attr:`StageResult.notes`) and re-stages the
interrupted file. Scratch data goes under ``<lake>/.tmp/stage`` (deleted at the end of a run).

Each engine has its own reader (:data:`STAGERS`, keyed on ``con.engine.name``): DuckDB's CSV
reader (:mod:`sndslab.ingest._stage_duckdb`) and Spark's text reader
(:mod:`sndslab.ingest._stage_spark`); both type the rows with the same SQL
(:mod:`sndslab.ingest._read`) and give the same parts and accounts.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sndslab._faults import failpoint
from sndslab.engines import Connection, Engine, get_engine
from sndslab.errors import InvalidArgumentError
from sndslab.ingest._accounting import FileAccount
from sndslab.ingest._discover import RawFile, discover
from sndslab.ingest._read import TypingPlan, plan_columns
from sndslab.ingest._state import IngestState
from sndslab.lake import LakePaths

log = logging.getLogger("sndslab.ingest")

__all__ = ["STAGERS", "StageResult", "plan_file", "stage", "stage_file"]

QUARANTINE_COLUMNS: tuple[str, ...] = (
    "_source_file",
    "_source_line",
    "reason",
    "column",
    "raw_value",
    "detail",
)
#: The staging reader of each engine (``module:function``, imported when first used):
#: ``reader(con, rf, paths, scratch, acc) -> FileAccount`` writes the file's parts at
#: ``paths.stg_part`` / ``paths.quarantine_part`` and fills ``acc`` (or returns a refused
#: account for unreadable content); it never raises for bad file content.
STAGERS: dict[str, str] = {
    "duckdb": "sndslab.ingest._stage_duckdb:read_file",
    "spark": "sndslab.ingest._stage_spark:read_file",
}
Progress = Callable[[int, int, str], None]
Reader = Callable[[Connection, RawFile, LakePaths, str, FileAccount], FileAccount]
#: Names of part directories (and of their temporary siblings) under stg/ and quarantine/.
_PART_NAME = re.compile(r"\.?[0-9a-f]{16}(\..*)?")
_RELATIVE = LakePaths(".")  # part paths as the state records them (relative, posix)


def _reader(engine: str) -> Reader:
    target = STAGERS.get(engine)
    if target is None:
        raise NotImplementedError(
            f"staging on the {engine} engine is not implemented (engines: {', '.join(STAGERS)})"
        )
    module, _, name = target.partition(":")
    reader: Reader = getattr(importlib.import_module(module), name)
    return reader


def stg_rel(rf: RawFile) -> str:
    """A staged file's part directory relative to the lake (as ``acc.parts`` records it)."""
    assert rf.table is not None
    part = _RELATIVE.stg_part(rf.table.name, rf.year, rf.sha256)
    return PurePosixPath(Path(part)).as_posix()


def quarantine_rel(rf: RawFile) -> str:
    """A staged file's quarantine directory relative to the lake."""
    assert rf.table is not None
    part = _RELATIVE.quarantine_part(rf.table.name, rf.sha256)
    return PurePosixPath(Path(part)).as_posix()


def base_account(rf: RawFile) -> FileAccount:
    """A file's account before staging: identity, size, encoding and delimiter."""
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
    rows_in: int,
    staged: int,
    quarantined: Counter[str],
    *,
    with_quarantine: bool,
) -> None:
    """Record a staged file's counts and its part directories (written at their final paths
    by the engine's reader) in ``acc`` (both engines)."""
    acc.rows_in, acc.staged, acc.quarantined = rows_in, staged, dict(sorted(quarantined.items()))
    for reason, n in acc.quarantined.items():
        log.warning("%s: %d row(s) quarantined (%s)", rf.name, n, reason)
    acc.parts.append(stg_rel(rf))
    if with_quarantine:
        acc.parts.append(quarantine_rel(rf))
    acc.status = "staged"
    total_q = sum(acc.quarantined.values())
    acc.message = f"{rf.name}: {staged} row(s) staged, {total_q} quarantined"


def refused_account(rf: RawFile, exc: BaseException) -> FileAccount:
    """The account of a file whose content the engine cannot read: refused, one clear line."""
    acc = base_account(rf)
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    acc.refuse(f"{rf.name}: cannot be read: {first}", rf.data_lines)
    log.warning(acc.message)
    return acc


def quarantine_reasons(con: Connection, qpart: str) -> Counter[str]:
    """Rows per reason of a written quarantine dataset (a query through the connection)."""
    rows = con.fetchall(f"SELECT reason, count(*) FROM {con.dataset(qpart)} GROUP BY reason")
    return Counter({str(reason): int(n) for reason, n in rows})


def stage_file(
    con: Connection,
    rf: RawFile,
    lake: LakePaths | Path | str,
    *,
    scratch: str | None = None,
) -> FileAccount:
    """Type one recognised raw file into its stg/quarantine part directories; returns its
    checked account (the caller records it in the state). Never raises for bad file content.

    ``lake`` is the lake's :class:`~sndslab.lake.LakePaths` (or its root, on ``con.storage``);
    ``scratch`` a directory for temporary data (default: ``<lake>/.tmp/stage-<uuid>``, deleted
    after the file). The reader is chosen by ``con.engine.name`` (:data:`STAGERS`). A file that
    ends refused or empty leaves no part directory.
    """
    started = time.perf_counter()
    paths = lake if isinstance(lake, LakePaths) else LakePaths(str(lake), con.storage)
    acc = base_account(rf)
    if rf.table is None:
        return acc.refuse(rf.reason or "table not recognised", rf.data_lines)
    failpoint("ingest.stage.file")
    own_scratch = scratch is None
    work = scratch or paths.join(".tmp", f"stage-{uuid.uuid4().hex[:12]}")
    try:
        acc = _reader(con.engine.name)(con, rf, paths, work, acc)
    finally:
        if own_scratch:
            con.storage.delete(work)
    if acc.status != "staged":
        con.storage.delete(paths.stg_part(rf.table.name, rf.year, rf.sha256))
        con.storage.delete(paths.quarantine_part(rf.table.name, rf.sha256))
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
        acc.refuse(
            f"{rf.name}: header shares no column with table {table.name} "
            "(file without a header line, or another delimiter?)",
            rf.data_lines,
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


@dataclass
class StageResult:
    """Accounts of every file of a staging run, in file-name order, and their totals.

    ``lake`` is the lake as given (a local path, or a URI on Spark); ``notes`` what the run did
    besides staging (e.g. part directories of an interrupted run deleted).
    """

    lake: Path | str
    accounts: list[FileAccount] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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


def _delete_unlisted(paths: LakePaths, listed: set[str]) -> int:
    """Delete the part directories under ``stg/`` and ``quarantine/`` that the state does not
    list (left by an interrupted run; invisible to readers); returns how many."""
    st = paths.storage
    dirs: list[tuple[str, ...]] = []
    for table in st.list_dir(paths.join("stg")):
        dirs += [("stg", table, y) for y in st.list_dir(paths.join("stg", table))]
    dirs += [("quarantine", table) for table in st.list_dir(paths.join("quarantine"))]
    removed = 0
    for parent in dirs:
        for name in st.list_dir(paths.join(*parent)):
            if _PART_NAME.fullmatch(name) and "/".join((*parent, name)) not in listed:
                st.delete(paths.join(*parent, name))
                removed += 1
    return removed


def stage(
    raw_dir: Path | str,
    lake: Path | str,
    *,
    engine: str | Engine = "duckdb",
    progress: Progress | None = None,
    workers: int | None = None,
    mapping: Mapping[str, str] | None = None,
) -> StageResult:
    """Stage every new raw file of ``raw_dir`` into ``lake`` (incremental, idempotent).

    A file whose SHA-256 is in the lake's state under the same name is not re-read: its stored
    account is returned (with the note ``reused``). Same content under another name, or twice
    in ``raw_dir``, is ``skipped_duplicate``. A file whose name was staged before with other
    content replaces the old parts. ``progress(done, total, file_name)`` is called as files
    complete and once at the end. A directory of another lake layout is refused
    (:class:`sndslab.lake.LakeLayoutError`), as is a state of another version.

    Files are staged ``workers`` at a time (default: the engine's threads, else the CPU count,
    at most 4), largest first, each on its own cursor of the connection, so a file's sequential
    steps overlap with another's. Accounts, state and replaced parts are handled in file-name
    order, whatever the completion order.
    """
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise InvalidArgumentError(f"raw directory {raw} does not exist or is not a directory")
    root = str(lake)
    eng = get_engine(engine, lake=root)
    _reader(eng.name)  # an engine without a staging reader fails before any work
    if not eng.accepts(root):
        raise InvalidArgumentError(f"the {eng.name} engine cannot write a lake at {root}")
    con = eng.connect()
    paths = LakePaths(root, con.storage)
    result = StageResult(lake=lake)
    try:
        paths.ensure_marker()  # refuses a legacy lake or a non-empty directory that is no lake
        state = IngestState.load(paths)
        scratch = paths.join(".tmp", "stage")
        con.storage.delete(scratch)
        removed = _delete_unlisted(paths, state.listed_parts())
        if removed:
            result.notes.append(
                f"{removed} part director(ies) not listed in the state deleted "
                "(left by an interrupted run)"
            )
        files = discover(raw, mapping)
        result.accounts = _stage_files(con, files, paths, state, scratch, progress, workers)
    finally:
        con.close()
        con.storage.delete(paths.tmp_dir)
    return result


def _stage_files(
    con: Connection,
    files: list[RawFile],
    paths: LakePaths,
    state: IngestState,
    scratch: str,
    progress: Progress | None,
    workers: int | None,
) -> list[FileAccount]:
    """Stage the files that need it (see :func:`stage`), record them; every file's account."""
    seen: dict[str, str] = {}
    decided = [_decide(rf, state, seen) for rf in files]
    todo = sorted((i for i, d in enumerate(decided) if d is None), key=lambda i: -files[i].size)
    eng = con.engine
    n_workers = max(1, min(workers or eng.threads or os.cpu_count() or 1, 4, len(todo) or 1))
    done = 0
    if n_workers == 1:
        for i in todo:
            if progress is not None:
                progress(done, len(files), files[i].name)
            acc = stage_file(con, files[i], paths, scratch=scratch)
            decided[i] = _record(files[i], acc, paths, state)
            done += 1
    else:
        prefix = f"stage-{uuid.uuid4().hex[:8]}"
        pool = ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix=prefix)
        futures: dict[Any, int] = {}
        try:
            futures = {
                pool.submit(_stage_on_cursor, con, files[i], paths, scratch): i for i in todo
            }
            for future in as_completed(futures):
                failpoint("ingest.stage.record")
                i = futures[future]
                decided[i] = _record(files[i], future.result(), paths, state)
                done += 1
                if progress is not None:
                    progress(done, len(files), files[i].name)
        except Exception:  # a crash: start nothing more, keep what the others finished
            pool.shutdown(wait=True, cancel_futures=True)
            for future, i in futures.items():
                if decided[i] is None and not future.cancelled() and not future.exception():
                    decided[i] = _record(files[i], future.result(), paths, state)
            raise
        except BaseException:  # Ctrl-C: start nothing more, stop what runs
            pool.shutdown(wait=False, cancel_futures=True)
            con.interrupt()
            failpoint("ingest.stage.stopping")
            raise
        finally:
            pool.shutdown(wait=True)
            _join_workers(prefix)
    if progress is not None:
        progress(len(files), len(files), "")
    return [acc for acc in decided if acc is not None]


def _join_workers(prefix: str) -> None:
    """Wait for every thread of the pool: one started by ``submit`` just as a Ctrl-C landed
    is not yet known to the pool, whose ``shutdown`` then does not wait for it (it would run
    on after the connection is closed, and write after the scratch is deleted)."""
    for thread in threading.enumerate():
        if thread.name.startswith(prefix) and thread is not threading.current_thread():
            thread.join()


def _stage_on_cursor(con: Connection, rf: RawFile, paths: LakePaths, scratch: str) -> FileAccount:
    cursor = con.cursor()
    try:
        return stage_file(cursor, rf, paths, scratch=scratch)
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
        acc = base_account(rf)
        acc.status, acc.duplicate_of = "skipped_duplicate", first
        acc.message = f"{rf.name}: same content as {first}, skipped"
        log.warning(acc.message)
        return acc
    seen[rf.sha256] = rf.name
    if rf.table is None:
        acc = base_account(rf)
        acc.refuse(f"{rf.name}: {rf.reason}", rf.data_lines)
        log.warning(acc.message)
        return acc
    return None


def _record(rf: RawFile, acc: FileAccount, paths: LakePaths, state: IngestState) -> FileAccount:
    """Record a newly staged file in the state, then delete its previous version's parts (no
    longer listed: a crash in between leaves unlisted directories, deleted by the next run).
    A previous version of a file now refused is forgotten with its parts."""
    previous = state.by_name(rf.name)
    replaced = previous is not None and previous.sha256 != rf.sha256
    if replaced:
        assert previous is not None
        acc.notes.append(f"replaces the previous version (sha256 {previous.sha256[:16]})")
    if acc.status in ("staged", "empty"):
        state.record(acc)
    elif replaced:
        state.forget(rf.name)
    if replaced:
        assert previous is not None
        for old in previous.parts:
            if old not in acc.parts:
                paths.storage.delete(paths.join(*old.split("/")))
    return acc


def plan_for(rf: RawFile) -> TypingPlan | None:
    """Column plan of a recognised file (for reports and tests)."""
    return plan_columns(rf.table, rf.columns) if rf.table is not None else None
