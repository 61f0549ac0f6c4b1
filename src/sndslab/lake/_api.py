"""The analyst's entry point: ``sndslab.open_lake(path)`` → tables and events as lazy relations.

>>> import tempfile, sndslab
>>> lake = sndslab.open_lake(tempfile.mkdtemp() + "/empty", create=True)
>>> lake.tables()
[]
>>> lake.close()
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from sndslab.engines import Connection, Engine, Relation, get_engine
from sndslab.errors import SndslabError
from sndslab.lake._catalog import dataset_paths, known_tables, relation
from sndslab.lake._commit import LakeCommit, commit_numbers, current_commit, read_commit
from sndslab.lake._layout import LAYERS, LakePaths
from sndslab.lake._manifest import LayerManifest, has_manifest, read_manifest

__all__ = ["Lake", "open_lake"]


class Lake:
    """A lake opened on an engine: read its tables through the lake contract.

    Use :func:`open_lake`. Relations are lazy (DuckDB relations or Spark DataFrames under
    ``.native``); ``to_arrow()``, ``to_pandas()``, ``to_polars()`` and ``count()`` run them.
    """

    def __init__(self, paths: LakePaths, con: Connection, *, own: bool = True) -> None:
        self.paths = paths
        self.con = con
        self._own = own

    @property
    def root(self) -> str:
        return self.paths.root

    @property
    def engine(self) -> str:
        return self.con.engine.name

    # ---- catalogue -------------------------------------------------------------------------
    def tables(self, layer: str | None = None) -> list[str]:
        """Tables of the lake (``layer.table``), optionally of one layer."""
        names = known_tables(self.paths)
        return [n for n in names if layer is None or n.startswith(layer + ".")]

    def manifest(self, layer: str) -> LayerManifest:
        """The committed manifest of ``layer`` (``int``, ``events``, ``marts``)."""
        return read_manifest(self.paths, layer)

    def table(self, name: str) -> Relation:
        """Table ``name`` (``layer.table``, e.g. ``"int.mco_stays"``) as a lazy relation."""
        return self.con.sql(f"SELECT * FROM {relation(self.con, self.paths, name)}")

    def has(self, name: str) -> bool:
        return bool(dataset_paths(self.paths, name, internal=False))

    @property
    def persons(self) -> Relation:
        """``int.persons``: one row per resolved person."""
        return self.table("int.persons")

    @property
    def patients(self) -> Relation:
        """``events.patients``: one row per person, with birth, death and residence."""
        return self.table("events.patients")

    @property
    def report(self) -> dict[str, Any]:
        """The ingest report of the current commit (``_reports/<commit>/ingest.json``)."""
        path = self.report_path("ingest.json")
        if path is None or not self.paths.storage.exists(path):
            raise SndslabError(f"{self.root} has no ingest report: run `sndslab ingest` first")
        return dict(json.loads(self.paths.storage.read_text(path)))

    @property
    def report_markdown(self) -> str:
        """The ingest report of the current commit, as Markdown (``ingest.md``)."""
        path = self.report_path("ingest.md")
        if path is None or not self.paths.storage.exists(path):
            raise SndslabError(f"{self.root} has no ingest report: run `sndslab ingest` first")
        return self.paths.storage.read_text(path)

    def report_path(self, name: str = "ingest.md") -> str | None:
        """Path of a file of the current commit's ingest report, None without a report."""
        commit = current_commit(self.paths)
        if commit is None or commit.report is None:
            return None
        return self.paths.join(*commit.report.split("/"), name)

    @property
    def commit(self) -> LakeCommit | None:
        """The published state: staged files, layer generations, report (None: empty lake)."""
        return current_commit(self.paths)

    def history(self) -> list[LakeCommit]:
        """The kept commits, oldest first (what :func:`sndslab.lake.rollback` can return to)."""
        return [read_commit(self.paths, n) for n in commit_numbers(self.paths)]

    def stale_layers(self) -> dict[str, str]:
        """Layers built from another generation of the layer below than the published one
        (e.g. ``events`` after a new ingest): ``{layer: reason}``."""
        out: dict[str, str] = {}
        if has_manifest(self.paths, "events") and has_manifest(self.paths, "int"):
            built = read_manifest(self.paths, "events").inputs.get("int_generation")
            now = read_manifest(self.paths, "int").generation
            if built is not None and built != now:
                out["events"] = (
                    f"built from int generation {built}, the lake publishes int generation "
                    f"{now}: run `sndslab events`"
                )
        return out

    # ---- events ------------------------------------------------------------------------------
    def events(
        self,
        *,
        category: str | Iterable[str] | None = None,
        codes: str | Iterable[str] | None = None,
        persons: Iterable[str] | None = None,
        between: tuple[dt.date | str, dt.date | str] | None = None,
    ) -> Relation:
        """Events filtered by category, code prefixes (``"ATC//A10"`` matches every
        ``ATC//A10…``), persons and start date (inclusive bounds)."""
        where = ["TRUE"]

        def lits(values: str | Iterable[str]) -> list[str]:
            items = [values] if isinstance(values, str) else list(values)
            return ["'" + str(v).replace("'", "''") + "'" for v in items]

        if category is not None:
            where.append(f"category IN ({', '.join(lits(category))})")
        if codes is not None:
            ors = " OR ".join(f"starts_with(code, {c})" for c in lits(codes))
            where.append(f"({ors or 'FALSE'})")
        if persons is not None:
            where.append(f"person_id IN ({', '.join(lits(persons)) or 'NULL'})")
        if between is not None:
            lo, hi = (dt.date.fromisoformat(str(b)) for b in between)
            where.append(f"start BETWEEN DATE '{lo}' AND DATE '{hi}'")
        rel = relation(self.con, self.paths, "events.events")
        return self.con.sql(f"SELECT * FROM {rel} WHERE {' AND '.join(where)}")

    # ---- SQL ---------------------------------------------------------------------------------
    def sql(self, query: str) -> Relation:
        """A query (DuckDB dialect) whose ``layer.table`` references name lake tables:
        ``lake.sql("SELECT count(*) FROM int.mco_stays")`` runs on either engine."""
        tree = sqlglot.parse_one(query, read="duckdb")
        for table in list(tree.find_all(exp.Table)):
            if table.db in LAYERS and table.name and not table.catalog:
                rel = relation(self.con, self.paths, f"{table.db}.{table.name}")
                sub = sqlglot.parse_one(f"SELECT * FROM {rel}", read="duckdb")
                from_ = sub.find(exp.From)
                assert from_ is not None
                source = from_.this
                alias = table.alias or table.name
                source.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
                table.replace(source)
        return self.con.sql(tree.sql(dialect="duckdb"))

    # ---- life cycle --------------------------------------------------------------------------
    def close(self) -> None:
        if self._own:
            self.con.close()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        layers = [layer for layer in ("int", "events", "marts") if has_manifest(self.paths, layer)]
        return f"Lake({self.root!r}, engine={self.engine!r}, layers={layers})"


def open_lake(
    path: str | Path,
    engine: str | Engine = "duckdb",
    *,
    create: bool = False,
    con: Connection | None = None,
) -> Lake:
    """Open the lake at ``path`` on ``engine`` (``"duckdb"``, ``"spark"`` or an
    :class:`sndslab.engines.Engine`; a ``con`` is used as is and left open by ``close``).

    A directory that is not a lake, or a lake of another layout version, is a one-line
    :class:`sndslab.lake.LakeLayoutError`; ``create`` makes an empty lake.
    """
    root = str(path)
    eng = get_engine(engine, lake=root if "://" not in root else None)
    if not eng.accepts(root):
        raise SndslabError(f"the {eng.name} engine cannot open {root}: use the spark engine")
    own = con is None
    connection = eng.connect() if con is None else con
    paths = LakePaths(root, connection.storage)
    try:
        if create:
            paths.ensure_marker()
        else:
            paths.check_version()
    except BaseException:
        if own:
            connection.close()
        raise
    return Lake(paths, connection, own=own)
