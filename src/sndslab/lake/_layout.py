"""Where everything lives in a lake: layers, datasets, manifests (layout version 2).

::

    <lake>/_lake.json                                 marker: format and layout version
    <lake>/stg/<TABLE>/year=<YYYY|none>/<sha16>/      one dataset per staged raw file
    <lake>/quarantine/<TABLE>/<sha16>/                its unparsable rows, with the reason
    <lake>/quarantine/<TABLE>/orphans/                its satellite rows without a parent row
    <lake>/_state/files.json                          accounts of the staged files (stg's manifest)
    <lake>/<layer>/g<NNNNNNNN>/<table>/               a generation's datasets (layer: int, events,
                                                      marts)
    <lake>/<layer>/_manifests/<NNNNNNNN>.json         the generation's commit (see _manifest.py)
    <lake>/_reports/                                  ingest report (JSON and Markdown)
    <lake>/_releases/<release id>/                    release log of the gate (sndslab.release)
    <lake>/.tmp/                                      engine spill files (deleted after a run)

A dataset is a directory of Parquet parts (``part-*.parquet``), written by the engine's own
writer. Names of tables are ``<layer>.<name>`` (``int.mco_stays``, ``events.events``,
``stg.ER_PRS_F``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sndslab.engines import LocalStorage, Storage, is_local_path
from sndslab.errors import SndslabError

__all__ = [
    "GENERATION_LAYERS",
    "LAYERS",
    "LAYOUT_VERSION",
    "LakeLayoutError",
    "LakePaths",
    "split_name",
]

#: Version of the on-disk layout; bumped on any incompatible change.
LAYOUT_VERSION = 2
#: Every layer, in data-flow order.
LAYERS: tuple[str, ...] = ("stg", "int", "events", "marts")
#: Layers written as whole generations committed by a manifest.
GENERATION_LAYERS: tuple[str, ...] = ("int", "events", "marts")
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


@dataclass(frozen=True)
class LakePaths:
    """Paths of one lake (a local path, or a URI where the engine is Spark)."""

    root: str
    storage: Storage = field(default_factory=LocalStorage)

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
        if self.storage.exists(self.root) and set(self.storage.list_dir(self.root)) - {tmp}:
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
        if version != LAYOUT_VERSION:
            raise LakeLayoutError(
                f"{self.root} is a lake of layout version {version}; this sndslab reads layout "
                f"{LAYOUT_VERSION}: rebuild it with `sndslab ingest RAW --lake NEW_DIR`"
            )

    # ---- staging -----------------------------------------------------------------------------
    def stg_part(self, table: str, year: int | None, sha256: str) -> str:
        """Dataset of one staged raw file."""
        y = "none" if year is None else f"{year:04d}"
        return self.join("stg", table, f"year={y}", sha256[:16])

    def quarantine_part(self, table: str, sha256: str) -> str:
        """Dataset of the quarantined rows of one raw file."""
        return self.join("quarantine", table, sha256[:16])

    def quarantine_orphans(self, table: str) -> str:
        """Dataset of the satellite rows of ``table`` without a parent row (written by the
        ingest's rules step, replaced on every run)."""
        return self.join("quarantine", table, "orphans")

    @property
    def state_file(self) -> str:
        return self.join("_state", "files.json")

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

    def report_file(self, name: str) -> str:
        """A file of the ingest report (``ingest.json``, ``ingest.md``)."""
        return self.join("_reports", name)

    @property
    def tmp_dir(self) -> str:
        return self.join(".tmp")

    @property
    def is_local(self) -> bool:
        return is_local_path(self.root)
