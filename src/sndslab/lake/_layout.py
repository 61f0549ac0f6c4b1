"""Where everything lives in a lake: layers, datasets, manifests, commits (layout version 3).

::

    <lake>/_lake.json                                 marker: format and layout version
    <lake>/_commits/<NNNNNNNN>.json                   the published state (see _commit.py)
    <lake>/stg/<TABLE>/year=<YYYY|none>/<id16>/       one dataset per staged raw file
    <lake>/quarantine/<TABLE>/<id16>/                 its unparsable rows, with the reason
    <lake>/_state/files.json                          staging cache: accounts of staged files
    <lake>/<layer>/g<NNNNNNNN>/<table>/               a generation's datasets (layer: int, events,
                                                      marts, opendamir)
    <lake>/<layer>/_manifests/<NNNNNNNN>.json         the generation's record (see _manifest.py)
    <lake>/_reports/<NNNNNNNN>/                       ingest report of a commit (JSON, Markdown)
    <lake>/_releases/<release id>/                    release log of the gate (sndslab.release)
    <lake>/.tmp/                                      engine spill files (deleted after a run)
    <lake>/.lock                                      the writer lock (see _commit.writer_lock)

``<id16>`` is :func:`part_id` of the raw file's name and content: a staged file is never
rewritten in place, so a renamed or modified file gets new parts beside the ones the current
commit uses.

A dataset is a directory of Parquet parts (``part-*.parquet``), written by the engine's own
writer. Names of tables are ``<layer>.<name>`` (``int.mco_stays``, ``events.events``,
``stg.ER_PRS_F``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sndslab.engines import LocalStorage, Storage, is_local_path
from sndslab.errors import SndslabError

__all__ = [
    "GENERATION_LAYERS",
    "LAYERS",
    "LAYOUT_VERSION",
    "LakeLayoutError",
    "LakePaths",
    "part_id",
    "split_name",
]

#: Version of the on-disk layout; bumped on any incompatible change (3: lake commits).
LAYOUT_VERSION = 3
#: Every layer, in data-flow order (``opendamir``: real Open DAMIR files, a side entrance that
#: feeds no other layer; see sndslab.opendamir).
LAYERS: tuple[str, ...] = ("stg", "int", "events", "marts", "opendamir")
#: Layers written as whole generations committed by a manifest.
GENERATION_LAYERS: tuple[str, ...] = ("int", "events", "marts", "opendamir")
MARKER = "_lake.json"


class LakeLayoutError(SndslabError):
    """A directory is not a lake of this layout (or of any layout)."""


def split_name(name: str) -> tuple[str, str]:
    """``"int.mco_stays"`` → ``("int", "mco_stays")``.

    >>> split_name("events.events")
    ('events', 'events')
    """
    layer, sep, table = name.partition(".")
    if not sep or layer not in LAYERS or not table:
        raise SndslabError(
            f"table name {name!r} must be <layer>.<table> with a layer among {', '.join(LAYERS)}"
        )
    return layer, table


def part_id(name: str, sha256: str) -> str:
    """Name of the part directories of raw file ``name`` with content ``sha256``.

    >>> part_id("ER_PRS_F.csv", "0" * 64)
    '0bc6a8145e008918'
    """
    return hashlib.sha256(f"{name}\0{sha256}".encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LakePaths:
    """Paths of one lake (a local path, or a URI where the engine is Spark).

    ``view`` (a :class:`sndslab.lake.LakeCommit`, see :meth:`at`) makes table resolution read
    that commit instead of the latest one: how a run reads what it is about to publish.
    """

    root: str
    storage: Storage = field(default_factory=LocalStorage)
    view: Any = field(default=None, compare=False, repr=False)

    def at(self, commit: Any) -> LakePaths:
        """The same lake, resolving tables through ``commit`` (a pending one)."""
        return replace(self, view=commit)

    def join(self, *parts: str) -> str:
        return self.storage.join(self.root, *parts)

    # ---- marker ------------------------------------------------------------------------------
    @property
    def marker(self) -> str:
        return self.join(MARKER)

    def ensure_marker(self) -> None:
        """Create ``_lake.json`` in a new lake; refuse a lake of another layout version."""
        if self.storage.exists(self.marker):
            self.check_version()
            return
        tmp = self.tmp_dir.rstrip("/").rsplit("/", 1)[-1]  # the engine's spill dir, made first
        if self.storage.exists(self.root) and set(self.storage.list_dir(self.root)) - {
            tmp,
            ".lock",
        }:
            self.check_version()  # not a lake, or a legacy lake: refused with its own message
        self.storage.mkdirs(self.root)
        body = {
            "format": "sndslab-lake",
            "layout_version": LAYOUT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        self.storage.write_text(self.marker, json.dumps(body, indent=1) + "\n")

    def check_version(self) -> None:
        """Raise :class:`LakeLayoutError` naming the version when the lake is of another
        layout (or not a lake)."""
        if not self.storage.exists(self.marker):
            legacy = any(self.storage.exists(self.join(p)) for p in ("int/persons.parquet", "stg"))
            if legacy:
                raise LakeLayoutError(
                    f"{self.root} is a lake of layout version 1 (sndslab 0.1 before the lake "
                    f"contract); this sndslab reads layout {LAYOUT_VERSION}: rebuild it with "
                    f"`sndslab ingest RAW --lake NEW_DIR` from its raw files"
                )
            raise LakeLayoutError(
                f"{self.root} is not an sndslab lake (no {MARKER}); sndslab writes a lake only "
                "into a new or empty directory"
            )
        try:
            version = json.loads(self.storage.read_text(self.marker)).get("layout_version")
        except ValueError as exc:
            raise LakeLayoutError(f"{self.marker} is unreadable: {exc}") from exc
        if version == 2:
            raise LakeLayoutError(
                f"{self.root} is a lake of layout version 2 (sndslab before lake commits); this "
                f"sndslab reads layout {LAYOUT_VERSION}: rebuild it with "
                "`sndslab ingest RAW --lake NEW_DIR` from its raw files"
            )
        if version != LAYOUT_VERSION:
            raise LakeLayoutError(
                f"{self.root} is a lake of layout version {version}; this sndslab reads layout "
                f"{LAYOUT_VERSION}: rebuild it with `sndslab ingest RAW --lake NEW_DIR`"
            )

    # ---- staging -----------------------------------------------------------------------------
    def stg_part(self, table: str, year: int | None, name: str, sha256: str) -> str:
        """Dataset of one staged raw file (``name`` with content ``sha256``)."""
        y = "none" if year is None else f"{year:04d}"
        return self.join("stg", table, f"year={y}", part_id(name, sha256))

    def quarantine_part(self, table: str, name: str, sha256: str) -> str:
        """Dataset of the quarantined rows of one raw file."""
        return self.join("quarantine", table, part_id(name, sha256))

    @property
    def state_file(self) -> str:
        return self.join("_state", "files.json")

    # ---- commits ------------------------------------------------------------------------------
    @property
    def commits_dir(self) -> str:
        return self.join("_commits")

    def commit_file(self, number: int) -> str:
        return self.join("_commits", f"{number:08d}.json")

    # ---- generations -------------------------------------------------------------------------
    def layer_dir(self, layer: str) -> str:
        return self.join(layer)

    def manifests_dir(self, layer: str) -> str:
        return self.join(layer, "_manifests")

    def manifest_file(self, layer: str, generation: int) -> str:
        return self.join(layer, "_manifests", f"{generation:08d}.json")

    @staticmethod
    def generation_name(generation: int) -> str:
        return f"g{generation:08d}"

    def generation_dir(self, layer: str, generation: int) -> str:
        return self.join(layer, self.generation_name(generation))

    def dataset(self, layer: str, relative: str) -> str:
        """Absolute path of a dataset given its path relative to its layer directory."""
        return self.join(layer, *relative.split("/"))

    # ---- release log -------------------------------------------------------------------------
    @property
    def releases_dir(self) -> str:
        """The release gate's log (``sndslab.release``): one folder per release, with the true
        values of every released cell (internal: never leaves the lake)."""
        return self.join("_releases")

    # ---- reports and scratch ------------------------------------------------------------------
    @property
    def reports_dir(self) -> str:
        return self.join("_reports")

    def report_dir(self, number: int) -> str:
        """Directory of the ingest report published by commit ``number``."""
        return self.join("_reports", f"{number:08d}")

    @property
    def tmp_dir(self) -> str:
        return self.join(".tmp")

    @property
    def is_local(self) -> bool:
        return is_local_path(self.root)
