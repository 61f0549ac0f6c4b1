"""What the exports (MEDS, OMOP) share: opening the lake's ``events`` layer on an engine, the
output directory (published atomically when local) and its ``_manifest.json``.

An export reads ``events.events``, ``events.patients`` and ``events.codes`` through the lake
(:func:`sndslab.lake.relation`) and writes its datasets with the engine's writer
(``con.write_dataset``). A local output is built in a hidden temporary sibling directory
renamed into place when complete (:func:`sndslab._atomic.atomic_output_dir`); a URI output
(Spark: ``hdfs://``, ``s3a://``) is written in place, ``_manifest.json`` (written last) marking
it complete. The manifest records the sndslab version, the git revision, the lake's ``events``
generation (and the ``int`` generation it was built from), a hash of the export options and
the counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sndslab import __version__
from sndslab._atomic import atomic_output_dir
from sndslab.engines import Connection, Engine, Storage, get_engine, is_local_path
from sndslab.errors import OutputExistsError, SndslabError
from sndslab.lake import (
    LakeLayoutError,
    LakePaths,
    config_hash,
    git_revision,
    has_manifest,
    read_manifest,
    relation,
)

__all__ = ["MANIFEST", "ExportTarget", "events_relations", "open_export"]

#: The export's manifest file (sndslab version, git revision, lake generation, counts).
MANIFEST = "_manifest.json"


@dataclass
class ExportTarget:
    """The directory an export writes (a temporary one until it is published)."""

    root: str
    storage: Storage
    counts: dict[str, Any] = field(default_factory=dict)
    #: extra entries of ``_manifest.json``
    manifest: dict[str, Any] = field(default_factory=dict)

    def join(self, *parts: str) -> str:
        return self.storage.join(self.root, *parts)

    def write_parquet(self, table: pa.Table, *parts: str) -> None:
        """Write a small Arrow table as one Parquet file (metadata files) from the driver."""
        path = self.join(*parts)
        if not is_local_path(path):
            from pyarrow import fs

            filesystem, inner = fs.FileSystem.from_uri(path)
            pq.write_table(table, inner, filesystem=filesystem)
            return
        local = Path(path.removeprefix("file://"))
        local.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, local)


def events_relations(con: Connection, paths: LakePaths) -> dict[str, str]:
    """SQL relations of ``events.events``, ``events.patients`` and ``events.codes``."""
    return {t: relation(con, paths, f"events.{t}") for t in ("events", "patients", "codes")}


def _check_lake(paths: LakePaths) -> dict[str, Any]:
    """The lake's ``events`` generation (and its inputs); a one-line error when it has none."""
    try:
        paths.check_version()
    except LakeLayoutError as exc:
        raise SndslabError(
            f"{paths.root} has no events: run extract_events (sndslab events) first ({exc})"
        ) from exc
    if not has_manifest(paths, "events"):
        raise SndslabError(f"{paths.root} has no events: run extract_events (sndslab events) first")
    manifest = read_manifest(paths, "events")
    return {"events_generation": manifest.generation, **manifest.inputs}


@contextmanager
def _remote_dir(storage: Storage, out: str, *, overwrite: bool) -> Iterator[str]:
    """An output directory on a Hadoop file system, written in place."""
    if storage.exists(out) and storage.list_dir(out):
        if not overwrite:
            raise OutputExistsError(
                f"output directory {out} already exists and is not empty "
                "(use --overwrite to replace it)"
            )
        storage.delete(out)
    storage.mkdirs(out)
    yield out


@contextmanager
def open_export(
    lake: Path | str,
    out_dir: Path | str,
    kind: str,
    *,
    overwrite: bool,
    con: Connection | None,
    engine: str | Engine,
    options: dict[str, Any] | None = None,
) -> Iterator[tuple[Connection, LakePaths, ExportTarget]]:
    """``(connection, lake paths, target)`` of one export; on normal exit ``_manifest.json``
    is written and a local output published. The connection is closed if it was opened here."""
    root, out = str(lake), str(out_dir)
    own = con is None
    connection = get_engine(engine).connect() if con is None else con
    try:
        if not connection.engine.accepts(out):
            raise SndslabError(f"the {connection.engine.name} engine cannot write {out}")
        paths = LakePaths(root, connection.storage)
        lake_info = _check_lake(paths)
        local = is_local_path(out)
        opened = (
            atomic_output_dir(
                Path(out.removeprefix("file://")),
                overwrite=overwrite,
                kind=f"export {kind}",
                inputs=[root] if is_local_path(root) else [],
            )
            if local
            else _remote_dir(connection.storage, out, overwrite=overwrite)
        )
        with opened as tmp:
            target = ExportTarget(str(tmp), connection.storage)
            yield connection, paths, target
            body = {
                "format": kind,
                "sndslab_version": __version__,
                "git_revision": git_revision(),
                "engine": connection.engine.name,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "lake": root,
                **lake_info,
                "options_hash": config_hash(options or {}),
                **target.manifest,
                "counts": target.counts,
            }
            text = json.dumps(body, indent=2, default=str) + "\n"
            connection.storage.write_text(target.join(MANIFEST), text)
    finally:
        if own:
            connection.close()
