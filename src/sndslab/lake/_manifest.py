"""Generations and their manifests: how a layer's datasets are written beside the published ones.

A run that (re)builds a layer writes every dataset into a new generation directory
``<layer>/g<N>/`` (never into the datasets readers use), then records it in one new file
``<layer>/_manifests/<N>.json``. The generation becomes visible only when a lake commit names it
(:mod:`sndslab.lake._commit`): :func:`write_generation` publishes one by default, or leaves it
to the caller (``publish=False``: the ingest publishes its staged files, its ``int``
generation and its report in one commit). Readers resolve a table through the generation the
latest commit names, so they see the previous generation until that commit exists and the new
one after. A run that fails or is interrupted leaves an unpublished generation, deleted by the
next run (which says so). A table the run did not rebuild is carried over: its manifest entry
points to the older generation's directory.

The manifest records what the stage manifests need: sndslab version, git revision (when the
package runs from a git checkout), configuration hash, input fingerprints, per-table rows,
columns and paths, counts and timings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from sndslab import __version__
from sndslab._faults import failpoint
from sndslab.engines import Connection, quote_literal
from sndslab.errors import SndslabError
from sndslab.lake._commit import DEFAULT_KEEP, current_commit, publish, writer_lock
from sndslab.lake._layout import LakePaths

__all__ = [
    "DEFAULT_KEEP",
    "GenerationWriter",
    "LayerManifest",
    "TableEntry",
    "config_hash",
    "discard_generation",
    "git_revision",
    "has_manifest",
    "published_generation",
    "read_manifest",
    "write_generation",
]


class TableEntry(BaseModel):
    """One table of a committed generation."""

    path: str  # relative to the layer directory, e.g. "g00000003/mco_stays"
    rows: int
    columns: list[tuple[str, str]] = Field(default_factory=list)
    generation: int
    internal: bool = False


class LayerManifest(BaseModel):
    """The commit record of one generation of a layer."""

    layer: str
    generation: int
    created: str
    sndslab_version: str = __version__
    git_revision: str | None = None
    engine: str = ""
    config_hash: str = ""
    inputs: dict[str, Any] = Field(default_factory=dict)
    tables: dict[str, TableEntry] = Field(default_factory=dict)
    counts: dict[str, Any] = Field(default_factory=dict)
    timings: dict[str, float] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)


@cache
def git_revision() -> str | None:
    """The git commit of the sndslab sources when they run from a checkout, else None."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rev = out.stdout.strip()
    return rev if out.returncode == 0 and len(rev) == 40 else None


def config_hash(config: Any) -> str:
    """A short, stable hash of a JSON-able configuration.

    >>> config_hash({"b": 1, "a": [1, 2]}) == config_hash({"a": [1, 2], "b": 1})
    True
    """
    text = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _generations(paths: LakePaths, layer: str) -> list[int]:
    """Generations with a manifest file (published or not)."""
    names = paths.storage.list_dir(paths.manifests_dir(layer))
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


def published_generation(paths: LakePaths, layer: str) -> int | None:
    """The generation of ``layer`` the current commit names (None: no such layer)."""
    commit = current_commit(paths)
    return None if commit is None else commit.layers.get(layer)


def read_manifest(paths: LakePaths, layer: str, generation: int | None = None) -> LayerManifest:
    """The manifest of ``layer``: of its published generation, or of ``generation``; raises
    :class:`SndslabError` when the layer was never published (or has no such generation)."""
    gen = published_generation(paths, layer) if generation is None else generation
    if gen is None:
        raise SndslabError(f"{paths.root} has no committed {layer}/ layer")
    if not paths.storage.exists(paths.manifest_file(layer, gen)):
        raise SndslabError(f"{layer}/ has no generation {gen} (kept: {_generations(paths, layer)})")
    try:
        return LayerManifest.model_validate_json(
            paths.storage.read_text(paths.manifest_file(layer, gen))
        )
    except ValueError as exc:
        raise SndslabError(f"manifest {paths.manifest_file(layer, gen)} is unreadable") from exc


def has_manifest(paths: LakePaths, layer: str) -> bool:
    """Whether the current commit publishes ``layer``."""
    return published_generation(paths, layer) is not None


class GenerationWriter:
    """Writes the datasets of one new generation of a layer; see the module docstring.

    ``write`` (a query) or ``path`` + ``record`` (a dataset written otherwise) add tables,
    ``carry`` keeps a table of the previous generation, ``relation`` reads a table of this
    generation (written or carried) in later queries. :func:`write_generation` commits.
    """

    def __init__(self, paths: LakePaths, layer: str, con: Connection, generation: int) -> None:
        self.paths = paths
        self.layer = layer
        self.con = con
        self.generation = generation
        self.previous: LayerManifest | None = (
            read_manifest(paths, layer) if has_manifest(paths, layer) else None
        )
        self.tables: dict[str, TableEntry] = {}
        self.counts: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        #: callables ``(qualified name, relation SQL, entry)`` run on every recorded dataset
        self.validators: list[Any] = []

    def path(self, name: str) -> str:
        """Where dataset ``name`` of this generation is written."""
        return self.paths.join(self.layer, self.paths.generation_name(self.generation), name)

    def relative(self, name: str) -> str:
        return f"{self.paths.generation_name(self.generation)}/{name}"

    def write(
        self, name: str, query: str, *, order_by: Sequence[str] = (), internal: bool = False
    ) -> int:
        """Write ``query`` as dataset ``name`` of this generation; validated by the registered
        validators; returns its rows."""
        rows = self.con.write_dataset(query, self.path(name), order_by=order_by)
        self.record(name, rows, internal=internal)
        return rows

    def record(self, name: str, rows: int, *, internal: bool = False) -> None:
        """Record dataset ``name`` written at :meth:`path` (by the caller) with ``rows`` rows."""
        rel = self.con.dataset(self.path(name))
        columns = self.con.describe(f"SELECT * FROM {rel}")
        self.tables[name] = TableEntry(
            path=self.relative(name),
            rows=rows,
            columns=columns,
            generation=self.generation,
            internal=internal,
        )
        for validate in self.validators:
            validate(f"{self.layer}.{name}", rel, self.tables[name])

    def carry(self, name: str) -> bool:
        """Keep table ``name`` of the previous generation; False when it has none."""
        if self.previous is None or name not in self.previous.tables:
            return False
        self.tables[name] = self.previous.tables[name]
        return True

    def carry_rest(self) -> list[str]:
        """Carry over every table of the previous generation this run has not written (the
        other analyses' tables of a shared layer such as ``marts``); returns their names."""
        rest = [n for n in (self.previous.tables if self.previous else {}) if n not in self.tables]
        for name in rest:
            self.carry(name)
        return rest

    def previous_relation(self, name: str) -> str | None:
        """SQL relation of table ``name`` of the previous generation, None when it has none."""
        if self.previous is None or name not in self.previous.tables:
            return None
        return self.con.dataset(self.paths.dataset(self.layer, self.previous.tables[name].path))

    def kept_rows(self, name: str, key: str, replaced: Sequence[str]) -> list[str]:
        """The previous generation's rows of table ``name`` whose ``key`` column is none of
        ``replaced`` (what this run rewrites), as a one-query list to ``UNION ALL`` with the
        new rows; ``[]`` when the previous generation has no such table."""
        rel = self.previous_relation(name)
        if rel is None:
            return []
        if not replaced:
            return [f"SELECT * FROM {rel} p"]
        lits = ", ".join(quote_literal(str(v)) for v in replaced)
        return [f"SELECT * FROM {rel} p WHERE p.{key} NOT IN ({lits})"]

    def has(self, name: str) -> bool:
        return name in self.tables

    def relation(self, name: str) -> str:
        """SQL relation of table ``name`` of this generation (written or carried)."""
        if name not in self.tables:
            raise SndslabError(f"{self.layer}.{name} has not been written in this run")
        return self.con.dataset(self.paths.dataset(self.layer, self.tables[name].path))


def _contract_validator(writer: GenerationWriter) -> Any:
    from sndslab.lake._catalog import relation_or_none
    from sndslab.lake._contract import LakeContractError, check_dataset, contract

    def resolve(name: str) -> str | None:
        layer, _, table = name.partition(".")
        if layer == writer.layer:
            return writer.relation(table) if writer.has(table) else None
        return relation_or_none(writer.con, writer.paths, name)

    def validate(name: str, relation: str, entry: TableEntry) -> None:
        spec = contract(name)
        if spec is None:
            if entry.internal:
                return
            raise LakeContractError(
                f"{name}: no table contract (add sndslab/lake/tables/{name.replace('.', '/')}.yaml)"
            )
        check_dataset(writer.con, spec, relation, entry.columns, resolve)

    return validate


def discard_generation(paths: LakePaths, layer: str, generation: int) -> None:
    """Delete generation ``generation`` of ``layer`` (directory and manifest) unless a kept
    commit names it: what a failed run does on its way out (errors while deleting are left to
    the next run's cleanup, never raised over the run's own error)."""
    from sndslab.lake._commit import commit_numbers, read_commit

    with contextlib.suppress(Exception):
        named = {read_commit(paths, n).layers.get(layer) for n in commit_numbers(paths)}
        if generation in named:
            return
        paths.storage.delete(paths.generation_dir(layer, generation))
        paths.storage.delete(paths.manifest_file(layer, generation))


def _clean_unpublished(paths: LakePaths, layer: str) -> list[str]:
    """Delete the generation directories and manifests of ``layer`` no kept commit refers to
    (left by a failed or interrupted run); returns the directory names."""
    from sndslab.lake._commit import collect_layer, commit_numbers, read_commit

    return collect_layer(paths, layer, [read_commit(paths, n) for n in commit_numbers(paths)])


@contextmanager
def write_generation(
    paths: LakePaths,
    layer: str,
    con: Connection,
    *,
    config: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    keep: int | None = None,
    notes: list[str] | None = None,
    validate: bool = True,
    publish_commit: bool = True,
    command: str | None = None,
) -> Iterator[GenerationWriter]:
    """Open a new generation of ``layer``; record its manifest when the block completes and,
    with ``publish_commit``, publish it in a new lake commit (keeping ``keep`` commits; default:
    as the lake's latest commit says, see :mod:`sndslab.lake._commit`). Without it the caller
    publishes ``writer.generation`` itself (:func:`sndslab.lake.publish`).

    On any exception (``KeyboardInterrupt`` included) nothing is published: the generation's
    directory is deleted and readers keep the previous generation. Leftovers of earlier failed
    runs are deleted first and listed in ``notes`` (a list the caller passes to see them). The
    lake's writer lock is held throughout (:func:`sndslab.lake.writer_lock`).
    With ``validate`` every public dataset is checked against its table contract when it is
    recorded (:func:`sndslab.lake.check_dataset`); a public table without a contract is an
    error.
    """
    with writer_lock(paths):
        removed = _clean_unpublished(paths, layer)
        if notes is not None and removed:
            notes.append(
                f"{layer}/: removed {len(removed)} unpublished generation(s) {removed} "
                "(left by an interrupted or failed run)"
            )
        dirs = [
            int(n[1:])
            for n in paths.storage.list_dir(paths.layer_dir(layer))
            if n.startswith("g") and n[1:].isdigit()
        ]
        generation = max([0, *_generations(paths, layer), *dirs]) + 1
        writer = GenerationWriter(paths, layer, con, generation)
        if validate:
            writer.validators.append(_contract_validator(writer))
        started = datetime.now(UTC)
        try:
            yield writer
            manifest = LayerManifest(
                layer=layer,
                generation=generation,
                created=started.isoformat(timespec="seconds"),
                git_revision=git_revision(),
                engine=con.engine.name,
                config_hash=config_hash(dict(config or {})),
                inputs=dict(inputs or {}),
                tables=writer.tables,
                counts=writer.counts,
                timings=writer.timings,
                notes=list(notes or []),
            )
            failpoint(f"{layer}.manifest")
            paths.storage.write_text(
                paths.manifest_file(layer, generation), manifest.model_dump_json(indent=1) + "\n"
            )
            if publish_commit:
                publish(
                    paths,
                    command=command or layer,
                    base=current_commit(paths),
                    layers={layer: generation},
                    keep=keep,
                    notes=list(notes or []),
                )
        except BaseException:
            discard_generation(paths, layer, generation)
            raise
