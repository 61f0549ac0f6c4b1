"""Resolve table names to datasets: the one place that reads manifests and staging state.

``stg.<TABLE>`` resolves to the datasets of the raw files recorded in ``_state/files.json``
(files staged but not yet recorded are invisible); ``int.``, ``events.`` and ``marts.`` tables
to the directories their layer's latest manifest commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from sndslab.engines import Connection
from sndslab.errors import SndslabError
from sndslab.lake._layout import GENERATION_LAYERS, LakePaths, split_name
from sndslab.lake._manifest import has_manifest, read_manifest

__all__ = ["dataset_paths", "known_tables", "relation", "relation_or_none", "resolver"]


def _stg_parts(paths: LakePaths) -> dict[str, list[str]]:
    if not paths.storage.exists(paths.state_file):
        return {}
    try:
        data = json.loads(paths.storage.read_text(paths.state_file))
    except ValueError as exc:
        raise SndslabError(f"ingest state {paths.state_file} is unreadable ({exc})") from exc
    out: dict[str, list[str]] = {}
    for acc in data.get("files", {}).values():
        for part in acc.get("parts", []):
            bits = part.split("/")
            if bits[0] == "stg" and len(bits) > 1:
                out.setdefault(bits[1], []).append(paths.join(*bits))
    return {t: sorted(v) for t, v in sorted(out.items())}


def dataset_paths(paths: LakePaths, name: str, *, internal: bool = True) -> list[str] | None:
    """The dataset directories of table ``name`` (``layer.table``), or None when absent."""
    layer, table = split_name(name)
    if layer == "stg":
        return _stg_parts(paths).get(table)
    if not has_manifest(paths, layer):
        return None
    entry = read_manifest(paths, layer).tables.get(table)
    if entry is None or (entry.internal and not internal):
        return None
    return [paths.dataset(layer, entry.path)]


def known_tables(paths: LakePaths, *, internal: bool = False) -> list[str]:
    """Every table of the lake, ``layer.table``, in layer order then name order."""
    names = [f"stg.{t}" for t in _stg_parts(paths)]
    for layer in GENERATION_LAYERS:
        if has_manifest(paths, layer):
            m = read_manifest(paths, layer)
            names += [
                f"{layer}.{t}" for t, e in sorted(m.tables.items()) if internal or not e.internal
            ]
    return names


def relation_or_none(con: Connection, paths: LakePaths, name: str) -> str | None:
    """SQL relation of table ``name`` on ``con``, or None when the lake has no such table."""
    found = dataset_paths(paths, name)
    return con.dataset(found) if found else None


def relation(con: Connection, paths: LakePaths, name: str) -> str:
    """SQL relation of table ``name``; a one-line error listing the known tables if absent."""
    rel = relation_or_none(con, paths, name)
    if rel is None:
        known = ", ".join(known_tables(paths)) or "none"
        raise SndslabError(f"{paths.root} has no table {name!r}; known tables: {known}")
    return rel


def resolver(con: Connection, paths: LakePaths) -> Callable[[str], str | None]:
    """``name -> relation or None`` bound to a connection (for contract relationship tests)."""
    return lambda name: relation_or_none(con, paths, name)
