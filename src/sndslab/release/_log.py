"""The release log of a lake: everything the gate let out, kept inside the lake so that a new
release is protected and attacked together with the previous ones.

::

    <lake>/_releases/<release id>/cells.parquet      one row per cell of every released table:
                                                     part, table, cell, key, value, suppressed,
                                                     sensitive (true values: internal)
    <lake>/_releases/<release id>/relations.parquet  part, relation, parent, child, additive
    <lake>/_releases/<release id>/audit.json         the release's audit (counts only)

A release folder is written atomically (it exists complete or not at all) before the released
files are, so a release that fails while writing its output is still accounted for.

>>> import tempfile, sndslab
>>> root = tempfile.mkdtemp() + "/lake"
>>> sndslab.open_lake(root, create=True).close()
>>> ReleaseLog(root).releases()
[]
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sndslab._atomic import atomic_output_dir
from sndslab.lake import Lake, LakePaths
from sndslab.release._link import Part
from sndslab.release._protect import ProtectedTable
from sndslab.release._spec import ReleaseError

__all__ = ["ReleaseLog"]

_AUDIT = "audit.json"


class ReleaseLog:
    """The ``_releases/`` folder of a (local) lake."""

    def __init__(self, lake: str | Path | LakePaths | Lake) -> None:
        if isinstance(lake, Lake):
            paths = lake.paths
        elif isinstance(lake, LakePaths):
            paths = lake
        else:
            paths = LakePaths(str(lake))
        if not paths.is_local:
            raise ReleaseError(f"the release log needs a local lake, not {paths.root}")
        paths.check_version()
        self.paths = paths
        self.root = Path(paths.releases_dir)

    def releases(self) -> list[str]:
        """Ids of the recorded releases, oldest first (ids sort by time)."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if not p.name.startswith(".") and (p / _AUDIT).is_file()
        )

    def audit(self, release_id: str) -> dict[str, Any]:
        return dict(json.loads((self.root / release_id / _AUDIT).read_text("utf-8")))

    def parts(self, name: str) -> list[Part]:
        """Every released table counting ``name``, as parts of a linked system."""
        out: list[Part] = []
        for rid in self.releases():
            folder = self.root / rid
            cells = pq.read_table(folder / "cells.parquet", filters=[("table", "=", name)])
            if not cells.num_rows:
                continue
            rels = pq.read_table(folder / "relations.parquet", filters=[("table", "=", name)])
            for part in pc.unique(cells.column("part")).to_pylist():
                out.append(_part(name, rid, part, cells, rels))
        return out

    def record(self, release_id: str, tables: list[ProtectedTable], audit: dict[str, Any]) -> Path:
        """Write the release's folder atomically; returns its path."""
        final = self.root / release_id
        self.root.mkdir(parents=True, exist_ok=True)
        cells, rels = [], []
        for k, t in enumerate(tables):
            c = t.cube
            n, r = c.n_cells, c.n_relations
            cells.append(
                pa.table(
                    {
                        "part": pa.array(np.full(n, k, dtype=np.int32)),
                        "table": pa.array([t.spec.name] * n, pa.string()),
                        "cell": pa.array(np.arange(n, dtype=np.int64)),
                        "key": pa.array(c.keys, pa.string()),
                        "value": pa.array(c.values),
                        "suppressed": pa.array(t.suppressed),
                        "sensitive": pa.array(t.primary),
                    }
                )
            )
            sizes = np.diff(c.rel_ptr)
            rels.append(
                pa.table(
                    {
                        "part": pa.array(np.full(len(c.rel_child), k, dtype=np.int32)),
                        "table": pa.array([t.spec.name] * len(c.rel_child), pa.string()),
                        "relation": pa.array(np.repeat(np.arange(r, dtype=np.int64), sizes)),
                        "parent": pa.array(np.repeat(c.rel_parent, sizes)),
                        "child": pa.array(c.rel_child),
                        "additive": pa.array(np.repeat(c.additive(), sizes)),
                    }
                )
            )
        with atomic_output_dir(final, overwrite=False, kind="release-log") as tmp:
            pq.write_table(pa.concat_tables(cells), tmp / "cells.parquet")
            pq.write_table(pa.concat_tables(rels), tmp / "relations.parquet")
            (tmp / _AUDIT).write_text(json.dumps(audit, indent=1) + "\n", "utf-8")
        return final


def _part(name: str, rid: str, part: int, cells: pa.Table, rels: pa.Table) -> Part:
    c = cells.filter(pc.equal(cells.column("part"), part)).sort_by("cell")
    r = rels.filter(pc.equal(rels.column("part"), part)).sort_by([("relation", "ascending")])
    relation = r.column("relation").to_numpy()
    first = np.r_[True, relation[1:] != relation[:-1]] if len(relation) else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    return Part(
        name=name,
        keys=[str(k) for k in c.column("key").to_pylist()],
        values=c.column("value").to_numpy().astype(np.int64),
        suppressed=c.column("suppressed").to_numpy(zero_copy_only=False).astype(bool),
        sensitive=c.column("sensitive").to_numpy(zero_copy_only=False).astype(bool),
        parent=r.column("parent").to_numpy()[starts].astype(np.int64),
        ptr=np.r_[starts, len(relation)].astype(np.int64),
        child=r.column("child").to_numpy().astype(np.int64),
        additive=r.column("additive").to_numpy(zero_copy_only=False)[starts].astype(bool),
        label=f"release {rid}",
    )
