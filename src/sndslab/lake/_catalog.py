"""Resolve table names to datasets: the one place that reads the lake's commit for tables.

Everything resolves through the current commit (:func:`sndslab.lake.current_commit`):
``stg.<TABLE>`` to the part directories of the raw files it publishes (files staged by a run
not yet published are invisible); ``int.``, ``events.`` and ``marts.`` tables to the
directories of the generation it names for their layer.
"""

from __future__ import annotations

from collections.abc import Callable

from sndslab.engines import Connection
from sndslab.errors import SndslabError
from sndslab.lake._commit import current_commit
from sndslab.lake._layout import GENERATION_LAYERS, LakePaths, split_name
from sndslab.lake._manifest import has_manifest, read_manifest

__all__ = ["dataset_paths", "known_tables", "relation", "relation_or_none", "resolver"]


def _stg_parts(paths: LakePaths) -> dict[str, list[str]]:
    commit = current_commit(paths)
    if commit is None:
        return {}
    return {
        t: [paths.join(*part.split("/")) for part in parts]
        for t, parts in commit.stg_tables().items()
    }


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
