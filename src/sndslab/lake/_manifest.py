"""Generations and their manifests: how a layer is published atomically on both engines.

A run that (re)builds a layer writes every dataset into a new generation directory
``<layer>/g<N>/`` (never into the datasets readers use), then commits by writing one new file
``<layer>/_manifests/<N>.json``. Readers resolve a table through the manifest with the highest
number, so they see the previous generation until that file exists and the new one after:
there is no rename of data, which is what makes the protocol work on object stores (a PUT of a
new key is atomic) as well as on local disks and HDFS (temporary file renamed to a new name).
A run that fails or is interrupted leaves an uncommitted generation directory, deleted by the
next run (which says so). A table the run did not rebuild is carried over: its manifest entry
points to the older generation's directory. The last ``keep`` generations are kept (so a bad
run can be rolled back); directories no kept manifest refers to are deleted after a commit.

The manifest records what the stage manifests need: sndslab version, git revision (when the
package runs from a git checkout), configuration hash, input fingerprints, per-table rows,
columns and paths, counts and timings.
"""

from __future__ import annotations

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
from sndslab.engines import Connection
from sndslab.errors import SndslabError
from sndslab.lake._layout import LakePaths

__all__ = [
    "DEFAULT_KEEP",
    "GenerationWriter",
    "LayerManifest",
    "TableEntry",
    "config_hash",
    "git_revision",
    "has_manifest",
    "read_manifest",
    "write_generation",
]

#: Generations kept per layer after a commit (the current one and the one before).
DEFAULT_KEEP = 2


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
    names = paths.storage.list_dir(paths.manifests_dir(layer))
    return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())


def read_manifest(paths: LakePaths, layer: str, generation: int | None = None) -> LayerManifest:
    """The committed manifest of ``layer`` (the latest, or ``generation``); raises
    :class:`SndslabError` when the layer was never committed."""
    gens = _generations(paths, layer)
    if not gens:
        raise SndslabError(f"{paths.root} has no committed {layer}/ layer")
    gen = gens[-1] if generation is None else generation
    if gen not in gens:
        raise SndslabError(f"{layer}/ has no generation {gen} (committed: {gens})")
    try:
        return LayerManifest.model_validate_json(
            paths.storage.read_text(paths.manifest_file(layer, gen))
        )
    except ValueError as exc:
        raise SndslabError(f"manifest {paths.manifest_file(layer, gen)} is unreadable") from exc


def has_manifest(paths: LakePaths, layer: str) -> bool:
    return bool(_generations(paths, layer))


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


def _referenced(paths: LakePaths, layer: str, gens: list[int]) -> set[int]:
    """Generations the manifests ``gens`` commit or carry tables from."""
    out = set(gens)
    for gen in gens:
        out |= {t.generation for t in read_manifest(paths, layer, gen).tables.values()}
    return out


def _clean_uncommitted(paths: LakePaths, layer: str, committed: set[int]) -> list[str]:
    """Delete generation directories no manifest refers to (left by a failed run)."""
    removed = []
    for name in paths.storage.list_dir(paths.layer_dir(layer)):
        if name.startswith("g") and name[1:].isdigit() and int(name[1:]) not in committed:
            paths.storage.delete(paths.join(layer, name))
            removed.append(name)
    return removed


def _collect_garbage(paths: LakePaths, layer: str, keep: int) -> None:
    gens = _generations(paths, layer)
    kept = gens[-keep:] if keep > 0 else gens[-1:]
    referenced = _referenced(paths, layer, kept)
    for gen in gens:
        if gen not in kept:
            paths.storage.delete(paths.manifest_file(layer, gen))
    for name in paths.storage.list_dir(paths.layer_dir(layer)):
        if name.startswith("g") and name[1:].isdigit() and int(name[1:]) not in referenced:
            paths.storage.delete(paths.join(layer, name))


@contextmanager
def write_generation(
    paths: LakePaths,
    layer: str,
    con: Connection,
    *,
    config: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
    keep: int = DEFAULT_KEEP,
    notes: list[str] | None = None,
    validate: bool = True,
) -> Iterator[GenerationWriter]:
    """Open a new generation of ``layer``; commit its manifest when the block completes.

    On any exception (``KeyboardInterrupt`` included) nothing is committed: the generation's
    directory is deleted and readers keep the previous generation. Leftovers of earlier failed
    runs are deleted first and listed in ``notes`` (a list the caller passes to see them).
    With ``validate`` every public dataset is checked against its table contract when it is
    recorded (:func:`sndslab.lake.check_dataset`); a public table without a contract is an
    error.
    """
    gens = _generations(paths, layer)
    removed = _clean_uncommitted(paths, layer, _referenced(paths, layer, gens))
    if notes is not None and removed:
        notes.append(f"{layer}/: removed {len(removed)} uncommitted generation(s) {removed}")
    generation = (gens[-1] + 1) if gens else 1
    writer = GenerationWriter(paths, layer, con, generation)
    if validate:
        writer.validators.append(_contract_validator(writer))
    started = datetime.now(UTC)
    try:
        yield writer
    except BaseException:
        paths.storage.delete(paths.generation_dir(layer, generation))
        raise
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
    paths.storage.write_text(
        paths.manifest_file(layer, generation), manifest.model_dump_json(indent=1) + "\n"
    )
    _collect_garbage(paths, layer, keep)
