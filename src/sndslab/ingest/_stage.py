"""Stage raw files into ``stg`` (typed Parquet datasets) and ``quarantine``, with accounting.

Layout (lake layout 2, :class:`sndslab.lake.LakePaths`): one dataset DIRECTORY per raw file,
written by the engine's own writer (``con.write_dataset``):

- ``<lake>/stg/<TABLE>/year=<YYYY|none>/<sha256[:16]>/``: the registry columns in registry order
  with their canonical types, then ``_source_file`` (the raw file's name), ``_source_line``
  (BIGINT) and ``_year`` (INTEGER: the file's year, NULL for ``none``, so that readers need no
  hive partitioning); rows in file order (sorted by ``_source_line``);
- ``<lake>/quarantine/<TABLE>/<sha256[:16]>/``: ``_source_file``, ``_source_line``, ``reason``,
  ``column``, ``raw_value``, ``detail``, sorted by ``_source_line``;
- ``<lake>/_state/files.json`` (:mod:`sndslab.ingest._state`): the staging cache, accounts whose
  ``parts`` list those directories relative to the lake (``stg/ER_PRS_F/year=2019/<id16>``,
  ``<id16>`` derived from the file's name and content: :func:`sndslab.lake.part_id`).

``_source_line`` is the 1-based *data* line number: the header is line 0, so the line shown by
an editor is ``_source_line + 1``. It is exact for rows and rejected lines, including after
blank lines and malformed lines; for a file whose quoted values contain line breaks it is the
row ordinal instead (the account carries a note).

Crash safety: a file's parts are written at their final directories, never over parts in use
(their name derives from the file's name and content), and the cache records them last.
Readers only see what the lake's current commit publishes (``stg.<TABLE>`` through
:func:`sndslab.lake.relation`): :func:`stage` publishes the new extract in one commit (or leaves
that to :func:`sndslab.ingest.ingest`, which publishes it with the ``int`` layer built from it).
A crash leaves unlisted directories: the next run deletes every part directory neither the
cache nor a kept commit lists before staging (counted in :attr:`StageResult.notes`) and
re-stages the interrupted file. Scratch data goes under ``<lake>/.tmp/stage`` (deleted at the
end of a run).

The extract: a lake holds the files of one raw directory (or of several, each added with
``append_extract``). A run on that directory publishes exactly its current files: new and
changed files are staged, removed ones withdrawn, renamed ones staged under their new name
(:attr:`StageResult.changes`). Another directory is refused unless ``append_extract`` (add its
files) or ``replace_extract`` (make it the lake's only extract); so is a run on the same
directory where no file the lake holds from it is left unchanged (another extract under the
same names), unless ``replace_extract``.

Each engine has its own reader (:data:`STAGERS`, keyed on ``con.engine.name``): DuckDB's CSV
reader (:mod:`sndslab.ingest._stage_duckdb`) and Spark's text reader
(:mod:`sndslab.ingest._stage_spark`); both type the rows with the same SQL
(:mod:`sndslab.ingest._read`) and give the same parts and accounts.
"""

from __future__ import annotations

import importlib
import logging
import os
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
from sndslab.errors import InvalidArgumentError, SndslabError
from sndslab.ingest._accounting import FileAccount
from sndslab.ingest._discover import RawFile, discover
from sndslab.ingest._read import TypingPlan, plan_columns
from sndslab.ingest._state import IngestState
from sndslab.lake import (
    LakeCommit,
    LakePaths,
    StagedFile,
    current_commit,
    delete_unlisted_parts,
    kept_parts,
    publish,
    writer_lock,
)

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
    part = _RELATIVE.stg_part(rf.table.name, rf.year, rf.name, rf.sha256)
    return PurePosixPath(Path(part)).as_posix()


def quarantine_rel(rf: RawFile) -> str:
    """A staged file's quarantine directory relative to the lake."""
    assert rf.table is not None
    part = _RELATIVE.quarantine_part(rf.table.name, rf.name, rf.sha256)
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
        con.storage.delete(paths.stg_part(rf.table.name, rf.year, rf.name, rf.sha256))
        con.storage.delete(paths.quarantine_part(rf.table.name, rf.name, rf.sha256))
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
    #: the lake's staged files after this run (what it publishes as ``stg``), by file name
    files: dict[str, StagedFile] = field(default_factory=dict)
    #: the raw directories of the lake's extract after this run
    raw_dirs: list[str] = field(default_factory=list)
    #: file names by change since the published extract: new, changed, renamed, removed,
    #: unchanged (this raw directory's files only)
    changes: dict[str, list[str]] = field(default_factory=dict)
    #: the commit this run published (None when the caller publishes: ``publish=False``)
    commit: LakeCommit | None = None

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


def _check_extract(
    raw: Path, files: list[RawFile], commit: LakeCommit | None, *, append: bool, replace: bool
) -> None:
    """Refuse another extract (see the module docstring) unless asked for."""
    if append and replace:
        raise InvalidArgumentError("--append-extract and --replace-extract exclude each other")
    if commit is None or not commit.stg or replace:
        return
    here = str(raw)
    mine = {n: f for n, f in commit.stg.items() if f.raw_dir == here}
    if here not in commit.raw_dirs:
        if not append:
            held = ", ".join(commit.raw_dirs) or "another directory"
            raise SndslabError(
                f"the lake holds the extract of {held} ({len(commit.stg)} file(s)); {raw} is "
                "another raw directory: --append-extract adds its files to the lake's extract, "
                "--replace-extract makes it the lake's only extract (the current state stays "
                "available to `sndslab lake rollback`), or ingest it into a new lake"
            )
        clash = sorted({rf.name for rf in files} & set(commit.stg))
        if clash:
            raise SndslabError(
                f"--append-extract: {len(clash)} file name(s) of {raw} are already in the lake "
                f"from another raw directory ({', '.join(clash[:5])}"
                f"{', …' if len(clash) > 5 else ''}): file names must be unique in a lake"
            )
        return
    now = {rf.name: rf.sha256 for rf in files}
    unchanged = [n for n, f in mine.items() if now.get(n) == f.sha256]
    if len(mine) >= 2 and not unchanged:
        changed = sum(1 for n in mine if n in now)
        raise SndslabError(
            f"none of the {len(mine)} file(s) the lake holds from {raw} is unchanged "
            f"({changed} changed, {len(mine) - changed} removed): this looks like another "
            "extract under the same directory; --replace-extract makes it the lake's extract "
            "(the current state stays available to `sndslab lake rollback`), or ingest it "
            "into a new lake"
        )


def _extract_view(
    raw: Path,
    accounts: list[FileAccount],
    commit: LakeCommit | None,
    *,
    replace: bool,
) -> tuple[dict[str, StagedFile], list[str], dict[str, list[str]]]:
    """The lake's staged files and raw directories after this run, and the changes."""
    here = str(raw)
    previous = dict(commit.stg) if commit is not None else {}
    dirs = list(commit.raw_dirs) if commit is not None and not replace else []
    # the files this run replaces: this directory's, or the whole extract's
    mine = {n: f for n, f in previous.items() if replace or f.raw_dir == here}
    out = {n: f for n, f in previous.items() if n not in mine}
    for acc in accounts:
        if acc.status == "staged" and acc.table:
            out[acc.file] = StagedFile(
                name=acc.file,
                sha256=acc.sha256,
                table=acc.table,
                year=acc.year,
                parts=list(acc.parts),
                raw_dir=here,
                rows=acc.staged,
            )
    now = {n for n, f in out.items() if f.raw_dir == here}
    removed = sorted(set(mine) - now)
    gone = {mine[n].sha256: n for n in removed}
    changes: dict[str, list[str]] = {
        "new": [],
        "changed": [],
        "renamed": [],
        "removed": removed,
        "unchanged": [],
    }
    for name in sorted(now):
        f = out[name]
        if name not in mine:
            kind = "renamed" if f.sha256 in gone else "new"
        else:
            kind = "unchanged" if mine[name].sha256 == f.sha256 else "changed"
        changes[kind].append(name)
    for acc in accounts:
        if acc.file in changes["changed"]:
            acc.notes.append(f"replaces the previous version (sha256 {mine[acc.file].sha256[:16]})")
        elif acc.file in changes["renamed"]:
            acc.notes.append(f"renamed from {gone[acc.sha256]}")
    if here not in dirs:
        dirs.append(here)
    return dict(sorted(out.items())), dirs, changes


def stage(
    raw_dir: Path | str,
    lake: Path | str,
    *,
    engine: str | Engine = "duckdb",
    progress: Progress | None = None,
    workers: int | None = None,
    mapping: Mapping[str, str] | None = None,
    publish_commit: bool = True,
    append_extract: bool = False,
    replace_extract: bool = False,
    keep: int | None = None,
) -> StageResult:
    """Stage every new raw file of ``raw_dir`` into ``lake`` (incremental, idempotent) and
    publish the lake's new extract in one commit (unless ``publish_commit`` is False: the
    caller publishes :attr:`StageResult.files`).

    A file whose name and content are in the lake's staging cache is not re-read: its stored
    account is returned (with the note ``reused``). Same content twice in ``raw_dir`` is
    ``skipped_duplicate`` (the copy the lake already holds is kept, else the first by name).
    A modified file gets new parts (the old ones stay with the commits that use them); a
    removed file is withdrawn; see the module docstring for other extracts
    (``append_extract``, ``replace_extract``). ``progress(done, total, file_name)`` is called
    as files complete and once at the end. A directory of another lake layout is refused
    (:class:`sndslab.lake.LakeLayoutError`), as is a cache of another version.

    Files are staged ``workers`` at a time (default: the engine's threads, else the CPU count,
    at most 4), largest first, each on its own cursor of the connection, so a file's sequential
    steps overlap with another's. Accounts and the cache are handled in file-name order,
    whatever the completion order.
    """
    raw = Path(raw_dir)
    if not raw.is_dir():
        raise InvalidArgumentError(f"raw directory {raw} does not exist or is not a directory")
    raw = raw.resolve()
    root = str(lake)
    eng = get_engine(engine, lake=root)
    _reader(eng.name)  # an engine without a staging reader fails before any work
    if not eng.accepts(root):
        raise InvalidArgumentError(f"the {eng.name} engine cannot write a lake at {root}")
    con = eng.connect()
    paths = LakePaths(root, con.storage)
    result = StageResult(lake=lake)
    try:
        with writer_lock(paths):
            paths.ensure_marker()  # refuses a legacy lake or a non-empty non-lake directory
            state = IngestState.load(paths)
            commit = current_commit(paths)
            files = discover(raw, mapping)
            _check_extract(raw, files, commit, append=append_extract, replace=replace_extract)
            scratch = paths.join(".tmp", "stage")
            con.storage.delete(scratch)
            # parts neither the cache nor a kept commit lists: left by an interrupted run
            removed = len(delete_unlisted_parts(paths, state.listed_parts() | kept_parts(paths)))
            if removed:
                result.notes.append(
                    f"{removed} part director(ies) not listed in the state deleted "
                    "(left by an interrupted run)"
                )
            result.accounts = _stage_files(
                con, files, paths, state, scratch, progress, workers, commit
            )
            result.files, result.raw_dirs, result.changes = _extract_view(
                raw, result.accounts, commit, replace=replace_extract
            )
            failpoint("stage.staged")
            unchanged = commit is not None and (
                commit.stg == result.files and commit.raw_dirs == result.raw_dirs
            )
            if publish_commit and not unchanged:  # an identical re-run publishes nothing
                result.commit = publish(
                    paths,
                    command="stage",
                    base=commit,
                    stg=result.files,
                    raw_dirs=result.raw_dirs,
                    keep=keep,
                    notes=list(result.notes),
                )
                state.keep_only(kept_parts(paths))  # the new commit is kept
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
    commit: LakeCommit | None = None,
) -> list[FileAccount]:
    """Stage the files that need it (see :func:`stage`), record them; every file's account."""
    first = _first_names(files, commit)
    decided = [_decide(rf, state, first) for rf in files]
    todo = sorted((i for i, d in enumerate(decided) if d is None), key=lambda i: -files[i].size)
    eng = con.engine
    n_workers = max(1, min(workers or eng.threads or os.cpu_count() or 1, 4, len(todo) or 1))
    done = 0
    if n_workers == 1:
        for i in todo:
            if progress is not None:
                progress(done, len(files), files[i].name)
            acc = stage_file(con, files[i], paths, scratch=scratch)
            failpoint("ingest.stage.record")
            decided[i] = _record(acc, state)
            failpoint("ingest.stage.recorded")
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
                decided[i] = _record(future.result(), state)
                failpoint("ingest.stage.recorded")
                done += 1
                if progress is not None:
                    progress(done, len(files), files[i].name)
        except Exception:  # a crash: start nothing more, keep what the others finished
            pool.shutdown(wait=True, cancel_futures=True)
            for future, i in futures.items():
                if decided[i] is None and not future.cancelled() and not future.exception():
                    decided[i] = _record(future.result(), state)
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


def _first_names(files: list[RawFile], commit: LakeCommit | None) -> dict[str, str]:
    """For each content present more than once, the file kept: the name the lake already holds
    it under when that file is still there, else the first by name."""
    names: dict[str, list[str]] = {}
    for rf in files:
        if rf.sha256:
            names.setdefault(rf.sha256, []).append(rf.name)
    held = {(f.sha256, f.name) for f in commit.stg.values()} if commit is not None else set()
    out = {}
    for sha, group in names.items():
        kept = [n for n in group if (sha, n) in held]
        out[sha] = kept[0] if kept else group[0]
    return out


def _decide(rf: RawFile, state: IngestState, first: dict[str, str]) -> FileAccount | None:
    """The account of a file that needs no staging (reused, duplicate, refused), else None."""
    original = first.get(rf.sha256) if rf.sha256 else None
    if original is not None and original != rf.name:
        acc = base_account(rf)
        acc.status, acc.duplicate_of = "skipped_duplicate", original
        acc.message = f"{rf.name}: same content as {original}, skipped"
        log.warning(acc.message)
        return acc
    if rf.table is None:
        acc = base_account(rf)
        acc.refuse(f"{rf.name}: {rf.reason}", rf.data_lines)
        log.warning(acc.message)
        return acc
    known = state.get(rf.name, rf.sha256)
    if known is not None and known.table == rf.table_name:
        reused = FileAccount.from_dict(known.to_dict())
        reused.notes = [n for n in reused.notes if not n.startswith(("replaces", "renamed"))]
        if "reused" not in reused.notes:
            reused.notes.append("reused")
        return reused
    return None


def _record(acc: FileAccount, state: IngestState) -> FileAccount:
    """Record a newly staged (or empty) file in the cache."""
    if acc.status in ("staged", "empty"):
        state.record(acc)
    return acc


def plan_for(rf: RawFile) -> TypingPlan | None:
    """Column plan of a recognised file (for reports and tests)."""
    return plan_columns(rf.table, rf.columns) if rf.table is not None else None
