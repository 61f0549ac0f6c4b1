"""Lake commits: the one atomic step that publishes a run (staged files, layers and report).

A lake's published state is its latest commit, ``<lake>/_commits/<NNNNNNNN>.json``: the staged
raw files readers see as ``stg.<TABLE>`` (with their part directories), the generation of each
layer (``int``, ``events``, ``marts``; see :mod:`sndslab.lake._manifest`), the report directory
and the raw directories the extract came from. A run writes everything new beside what readers
use (content-addressed staged parts, a new generation directory and its layer manifest, a new
report directory), then publishes with ONE new commit file: a crash or an interrupt at any
point before it leaves the previous commit, whole; after it, the new one, whole. Nothing is
renamed or rewritten in place, so the protocol holds on object stores too (a new key is written
atomically) as on local disks and HDFS.

After a commit, the last ``keep`` commits are kept (default :data:`DEFAULT_KEEP`, recorded in
the commit so later runs inherit it) and everything no kept commit refers to is deleted:
older commit files, layer manifests and generation directories, staged parts, report
directories; leftovers of interrupted runs go with them. A kept commit can be published again
(:func:`rollback`), which is itself a new commit.

>>> import tempfile
>>> from sndslab.lake import LakePaths
>>> paths = LakePaths(tempfile.mkdtemp())
>>> paths.ensure_marker()
>>> current_commit(paths) is None
True
>>> first = publish(paths, command="example", notes=["nothing yet"])
>>> (first.number, current_commit(paths).notes)
(1, ['nothing yet'])
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field

from sndslab import __version__
from sndslab._faults import failpoint
from sndslab.errors import SndslabError
from sndslab.lake._layout import GENERATION_LAYERS, LakePaths

__all__ = [
    "DEFAULT_KEEP",
    "PART_NAME",
    "LakeCommit",
    "StagedFile",
    "collect_garbage",
    "collect_layer",
    "commit_numbers",
    "current_commit",
    "delete_unlisted_parts",
    "kept_parts",
    "publish",
    "read_commit",
    "rollback",
    "writer_lock",
]

#: Commits kept after a new one: what can be rolled back. An ingest, the events built on it
#: and the indicators are three commits, so 5 keeps the previous ingest's state reachable.
DEFAULT_KEEP = 5


class StagedFile(BaseModel):
    """One raw file of the published extract, as ``stg.<table>`` readers see it."""

    name: str  # the raw file's name (unique in the lake; ``_source_file`` of its rows)
    sha256: str
    table: str
    year: int | None = None
    parts: list[str] = Field(default_factory=list)  # lake-relative posix dirs (stg, quarantine)
    raw_dir: str = ""
    rows: int = 0


class LakeCommit(BaseModel):
    """The published state of a lake (see the module docstring)."""

    number: int
    created: str
    command: str
    parent: int | None = None
    sndslab_version: str = __version__
    layers: dict[str, int] = Field(default_factory=dict)
    stg: dict[str, StagedFile] = Field(default_factory=dict)
    raw_dirs: list[str] = Field(default_factory=list)
    report: str | None = None  # lake-relative directory of the ingest report
    keep: int = DEFAULT_KEEP
    notes: list[str] = Field(default_factory=list)

    def stg_tables(self) -> dict[str, list[str]]:
        """``{table: [lake-relative stg part dirs]}`` of the published extract."""
        out: dict[str, list[str]] = {}
        for f in self.stg.values():
            out.setdefault(f.table, []).extend(p for p in f.parts if p.startswith("stg/"))
        return {t: sorted(v) for t, v in sorted(out.items()) if v}

    def parts(self) -> set[str]:
        """Every part directory (stg and quarantine) the commit refers to."""
        return {p for f in self.stg.values() for p in f.parts}


def commit_numbers(paths: LakePaths) -> list[int]:
    """Numbers of the commits present, ascending."""
    names = paths.storage.list_dir(paths.commits_dir)
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


def read_commit(paths: LakePaths, number: int) -> LakeCommit:
    path = paths.commit_file(number)
    try:
        return LakeCommit.model_validate_json(paths.storage.read_text(path))
    except (OSError, ValueError) as exc:
        raise SndslabError(f"lake commit {path} is unreadable: {exc}") from exc


def current_commit(paths: LakePaths) -> LakeCommit | None:
    """The commit readers see: ``paths.view`` when set (a run reading its own pending state),
    else the latest commit; None for a lake nothing was published into yet."""
    if paths.view is not None:
        view: LakeCommit = paths.view
        return view
    numbers = commit_numbers(paths)
    return read_commit(paths, numbers[-1]) if numbers else None


def publish(
    paths: LakePaths,
    *,
    command: str,
    base: LakeCommit | None = None,
    layers: Mapping[str, int] | None = None,
    stg: Mapping[str, StagedFile] | None = None,
    raw_dirs: list[str] | None = None,
    report: str | None = None,
    keep: int | None = None,
    notes: list[str] | None = None,
) -> LakeCommit:
    """Publish a new commit: ``base`` (default: the latest commit) with the given changes
    (``layers`` updates generations; the others replace). Then delete what no kept commit
    refers to (:func:`collect_garbage`). Returns the new commit."""
    if base is None:
        numbers = commit_numbers(paths)
        base = read_commit(paths, numbers[-1]) if numbers else None
    numbers = commit_numbers(paths)
    number = (numbers[-1] + 1) if numbers else 1
    if keep is not None and keep < 1:
        raise SndslabError(f"--keep must be at least 1 (got {keep})")
    commit = LakeCommit(
        number=number,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        command=command,
        parent=numbers[-1] if numbers else None,
        layers={**(base.layers if base else {}), **dict(layers or {})},
        stg=dict(stg) if stg is not None else dict(base.stg if base else {}),
        raw_dirs=raw_dirs if raw_dirs is not None else list(base.raw_dirs if base else []),
        report=report if report is not None else (base.report if base else None),
        keep=keep if keep is not None else (base.keep if base else DEFAULT_KEEP),
        notes=list(notes or []),
    )
    failpoint("lake.publish")
    paths.storage.mkdirs(paths.commits_dir)
    paths.storage.write_text(
        paths.commit_file(number), commit.model_dump_json(indent=1, exclude_none=False) + "\n"
    )
    failpoint("lake.published")
    collect_garbage(paths, commit.keep)
    return commit


def rollback(paths: LakePaths, to: int | None = None) -> LakeCommit:
    """Publish again a kept commit (default: the one before the latest) as a new commit."""
    numbers = commit_numbers(paths)
    if len(numbers) < 2 and to is None:
        raise SndslabError(
            f"{paths.root} has {len(numbers)} commit(s): nothing to roll back to "
            "(commits kept: see `sndslab lake history`)"
        )
    target = numbers[-2] if to is None else to
    if target not in numbers:
        raise SndslabError(f"commit {target} is not kept in {paths.root}; kept commits: {numbers}")
    old = read_commit(paths, target)
    return publish(
        paths,
        command="rollback",
        base=old,
        notes=[f"rollback to commit {target} (from commit {numbers[-1]})"],
    )


def _referenced_generations(paths: LakePaths, layer: str, commits: list[LakeCommit]) -> set[int]:
    from sndslab.lake._manifest import read_manifest

    out: set[int] = set()
    for c in commits:
        gen = c.layers.get(layer)
        if gen is None:
            continue
        out.add(gen)
        with contextlib.suppress(SndslabError):
            out |= {t.generation for t in read_manifest(paths, layer, gen).tables.values()}
    return out


def collect_garbage(paths: LakePaths, keep: int) -> list[str]:
    """Keep the last ``keep`` commits; delete every commit file, layer manifest, generation
    directory, staged part and report directory no kept commit refers to (leftovers of
    interrupted runs included). Returns what was deleted (lake-relative)."""
    st = paths.storage
    numbers = commit_numbers(paths)
    kept_numbers = numbers[-max(keep, 1) :]
    kept = [read_commit(paths, n) for n in kept_numbers]
    removed: list[str] = []
    for n in numbers:
        if n not in kept_numbers:
            st.delete(paths.commit_file(n))
    for layer in GENERATION_LAYERS:
        removed += [f"{layer}/{name}" for name in collect_layer(paths, layer, kept)]
    reports = {c.report for c in kept if c.report}
    for name in st.list_dir(paths.reports_dir):
        if f"_reports/{name}" not in reports:
            st.delete(paths.join("_reports", name))
    parts = set().union(*(c.parts() for c in kept)) if kept else set()
    removed += delete_unlisted_parts(paths, parts)
    return removed


def collect_layer(paths: LakePaths, layer: str, commits: list[LakeCommit]) -> list[str]:
    """Delete the manifests of ``layer`` that none of ``commits`` names and the generation
    directories none of them refers to (named, or carried by a named one): what a commit no
    longer keeps, or what a failed or interrupted run left. Returns the directory names."""
    st = paths.storage
    referenced = _referenced_generations(paths, layer, commits)
    named = {c.layers[layer] for c in commits if layer in c.layers}
    for name in st.list_dir(paths.manifests_dir(layer)):
        stem = name[:-5] if name.endswith(".json") else ""
        if stem.isdigit() and int(stem) not in named:
            st.delete(paths.join(layer, "_manifests", name))
    removed = []
    for name in st.list_dir(paths.layer_dir(layer)):
        if name.startswith("g") and name[1:].isdigit() and int(name[1:]) not in referenced:
            st.delete(paths.join(layer, name))
            removed.append(name)
    return removed


#: Names of part directories (and of their hidden temporary siblings) under stg/, quarantine/.
PART_NAME = re.compile(r"\.?[0-9a-f]{16}(\..*)?")


def delete_unlisted_parts(paths: LakePaths, keep: set[str]) -> list[str]:
    """Delete the part directories under ``stg/`` and ``quarantine/`` not in ``keep``
    (lake-relative paths); returns them."""
    st = paths.storage
    removed = []
    for parent in part_parents(paths):
        for name in st.list_dir(paths.join(*parent)):
            rel = "/".join((*parent, name))
            if PART_NAME.fullmatch(name) and rel not in keep:
                st.delete(paths.join(*parent, name))
                removed.append(rel)
    return removed


def kept_parts(paths: LakePaths) -> set[str]:
    """Every part directory a kept commit refers to."""
    return set().union(*(read_commit(paths, n).parts() for n in commit_numbers(paths)))


def part_parents(paths: LakePaths) -> list[tuple[str, ...]]:
    """Directories holding part directories: ``stg/<T>/year=<Y>`` and ``quarantine/<T>``."""
    st = paths.storage
    out: list[tuple[str, ...]] = []
    for table in st.list_dir(paths.join("stg")):
        out += [("stg", table, y) for y in st.list_dir(paths.join("stg", table))]
    out += [("quarantine", table) for table in st.list_dir(paths.join("quarantine"))]
    return out


_held: dict[str, int] = {}
_held_lock = threading.Lock()


@contextlib.contextmanager
def writer_lock(paths: LakePaths) -> Iterator[None]:
    """Hold the lake's writer lock (re-entrant in a process): one writing run at a time.
    Makes the lake's marker first (:meth:`LakePaths.ensure_marker`: refuses a directory that
    is not a lake).

    On a local lake an advisory ``flock`` on ``<lake>/.lock``, released by the system when the
    process dies (a killed run never leaves a stale lock); a second writer gets a one-line
    error instead of interleaving its files with the first. On remote storage (Spark on
    HDFS/object stores) there is no lock: run one writer at a time.
    """
    paths.ensure_marker()  # a directory that is no lake is refused before any file is made
    if not paths.is_local:
        yield
        return
    root = Path(paths.root).resolve()
    key = str(root)
    with _held_lock:
        if key in _held:
            fd = None
        else:
            root.mkdir(parents=True, exist_ok=True)
            fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise SndslabError(
                    f"another sndslab run is writing into {paths.root}; wait for it to end"
                ) from None
            _held[key] = fd
    try:
        yield
    finally:
        if fd is not None:
            with _held_lock:
                del _held[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
