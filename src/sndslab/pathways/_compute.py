"""Compute the pathways on a lake and write ``marts.pathways`` (the pathway tree by year and
territory, small branches merged into ``other``) and ``marts.pathway_accounting`` (the index
events, every exclusion rule, the cohort and what was merged) as a generation of ``marts``.

Counts that must add up are checked where they are produced: the index events of each pathway
and year are the cohort plus every exclusion; at every depth of the tree the France cells sum to
the cohort; every person ends in exactly one complete sequence.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from sndslab.engines import Connection, Engine, get_engine
from sndslab.errors import InvalidArgumentError, SndslabError
from sndslab.indicators import data_years
from sndslab.lake import LakePaths, read_manifest, relation, relation_or_none, write_generation
from sndslab.pathways._spec import PathwaySpec, load_pathways
from sndslab.pathways._sql import (
    EXCLUSION_RULES,
    cohort_sql,
    merged_sql,
    states_sql,
    tree_sql,
)
from sndslab.release import DEFAULT_THRESHOLD

__all__ = [
    "PATHWAYS_ORDER",
    "PathwayAccountingError",
    "PathwayRun",
    "PathwaysResult",
    "computable_years",
    "compute_pathways",
]

#: Sort key of ``marts.pathways``.
PATHWAYS_ORDER = ("pathway", "year", "geo_level", "geo_code", "depth", "path")
_TREE_COLUMNS = (
    ("pathway", "VARCHAR"), ("year", "BIGINT"), ("geo_level", "VARCHAR"),
    ("geo_code", "VARCHAR"), ("region", "VARCHAR"), ("depth", "BIGINT"), ("path", "VARCHAR"),
    ("state", "VARCHAR"), ("persons", "BIGINT"),
)  # fmt: skip


class PathwayAccountingError(SndslabError):
    """Counts of a pathway do not add up (a bug, named)."""


@dataclass(frozen=True)
class PathwayRun:
    """What was computed for one pathway: per year the index events, the exclusions by rule,
    the cohort, and the branches (and persons × windows) merged into ``other``."""

    name: str
    years: tuple[int, ...] = ()
    index_events: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    cohort: int = 0
    merged_branches: int = 0
    merged_person_windows: int = 0
    rows: int = 0


@dataclass
class PathwaysResult:
    """What :func:`compute_pathways` wrote (read it with
    ``sndslab.open_lake(lake).table("marts.pathways")``)."""

    lake: str
    generation: int
    years: tuple[int, ...]
    data_years: tuple[int, int]
    min_persons: int
    runs: list[PathwayRun] = field(default_factory=list)
    rows: int = 0

    def run(self, name: str) -> PathwayRun:
        return next(r for r in self.runs if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "years": list(self.years),
            "data_years": list(self.data_years),
            "min_persons": self.min_persons,
            "pathways": [asdict(r) for r in self.runs],
        }


def computable_years(spec: PathwaySpec, window: tuple[int, int]) -> tuple[int, ...]:
    """Years whose index events can be followed to the last window inside the data years
    (an index on 31 December plus the last window's end is still in the data).

    >>> spec = load_pathways(["hip_fracture_65"])[0]
    >>> computable_years(spec, (2019, 2021))
    (2019, 2020)
    """
    last = spec.windows[-1].to_day
    end = dt.date(window[1], 12, 31)
    return tuple(
        y for y in range(window[0], window[1] + 1) if dt.date(y, 12, 31) + dt.timedelta(last) <= end
    )


def _empty_tree() -> str:
    cols = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in _TREE_COLUMNS)
    return f"SELECT {cols} FROM (SELECT 1 AS one) x WHERE 1 = 0"


class _Run:
    """One computation on a connection (temporary relations ``_pw_*``, dropped at the end)."""

    def __init__(self, con: Connection, paths: LakePaths) -> None:
        self.con, self.paths = con, paths
        self.created: list[str] = []
        self.events = relation(con, paths, "events.events")
        self.patients = relation(con, paths, "events.patients")

    def table(self, name: str, query: str) -> str:
        self.con.create_table(name, query)
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        for name in reversed(self.created):
            with contextlib.suppress(Exception):  # temp relations only: never hide an error
                self.con.drop(name)
        self.created.clear()

    def pathway(
        self,
        i: int,
        spec: PathwaySpec,
        years: Sequence[int],
        data: tuple[dt.date, dt.date],
        min_persons: int,
    ) -> tuple[str, list[tuple[Any, ...]], PathwayRun]:
        """The tree relation, the accounting rows and the run record of ``spec``."""
        k = len(spec.windows)
        cohort = self.table(
            f"_pw_cohort{i}", cohort_sql(self.events, self.patients, spec, years, data)
        )
        states = self.table(f"_pw_states{i}", states_sql(self.events, cohort, spec, data[1]))
        merged = self.table(f"_pw_merged{i}", merged_sql(states, k, min_persons))
        tree = self.table(f"_pw_tree{i}", tree_sql(merged, spec.name, k))
        # accounting: index events by year and rule; merged branches and person-windows
        by_rule = self.con.fetchall(
            f"SELECT year, coalesce(rule, 'cohort'), count(*) FROM {cohort} GROUP BY 1, 2"
        )
        acc: dict[tuple[int, str], int] = {}
        for y, rule, n in by_rule:
            acc[(int(y), str(rule))] = int(n)
        for y, n in self.con.fetchall(f"SELECT year, count(*) FROM {cohort} GROUP BY year"):
            acc[(int(y), "index_events")] = int(n)
        merged_branches = " + ".join(
            f"count(DISTINCT CASE WHEN s{j} <> m{j} THEN "
            + " || '|' || ".join([*(f"m{i}" for i in range(1, j)), f"s{j}"])
            + " END)"
            for j in range(1, k + 1)
        )
        merged_windows = " + ".join(
            f"count(*) FILTER (WHERE s{j} <> m{j})" for j in range(1, k + 1)
        )
        for y, nb, nw in self.con.fetchall(
            f"SELECT year, {merged_branches}, {merged_windows} FROM {merged} GROUP BY year"
        ):
            acc[(int(y), "merged_branches")] = int(nb)
            acc[(int(y), "merged_person_windows")] = int(nw)
        self._check(spec, cohort, merged, tree, acc, k)
        rows = [(spec.name, y, item, n) for (y, item), n in sorted(acc.items())]

        def total(item: str) -> int:
            return sum(n for (_, it), n in acc.items() if it == item)

        run = PathwayRun(
            spec.name,
            years=tuple(sorted(years)),
            index_events=total("index_events"),
            excluded={r: total(r) for r in EXCLUSION_RULES},
            cohort=total("cohort"),
            merged_branches=total("merged_branches"),
            merged_person_windows=total("merged_person_windows"),
            rows=int(self.con.scalar(f"SELECT count(*) FROM {tree}")),
        )
        return tree, rows, run

    def _check(
        self,
        spec: PathwaySpec,
        cohort: str,
        merged: str,
        tree: str,
        acc: dict[tuple[int, str], int],
        k: int,
    ) -> None:
        """Index events = cohort + exclusions; one sequence per cohort person; the France
        cells of every depth sum to the cohort."""
        for (y, item), n in acc.items():
            if item != "index_events":
                continue
            parts = sum(acc.get((y, r), 0) for r in (*EXCLUSION_RULES, "cohort"))
            if parts != n:
                raise PathwayAccountingError(
                    f"pathway {spec.name!r}, {y}: {n} index events but cohort + exclusions = "
                    f"{parts}"
                )
        persons = self.con.fetchall(
            f"SELECT year, count(*), count(DISTINCT person_id) FROM {merged} GROUP BY year"
        )
        for y, n, distinct in persons:
            want = acc.get((int(y), "cohort"), 0)
            if int(n) != want or int(distinct) != want:
                raise PathwayAccountingError(
                    f"pathway {spec.name!r}, {y}: {n} sequences for {want} cohort persons"
                )
        sums = self.con.fetchall(
            f"""SELECT year, depth, sum(persons) FROM {tree} WHERE geo_level = 'france'
            GROUP BY year, depth"""
        )
        for y, depth, n in sums:
            want = acc.get((int(y), "cohort"), 0)
            if int(n) != want:
                raise PathwayAccountingError(
                    f"pathway {spec.name!r}, {y}, window {depth}: France cells sum to {n}, "
                    f"the cohort counts {want}"
                )
        nulls = " OR ".join(f"m{j} IS NULL" for j in range(1, k + 1))
        if int(self.con.scalar(f"SELECT count(*) FROM {merged} WHERE {nulls}")):
            raise PathwayAccountingError(f"pathway {spec.name!r}: a window without a state")


def _spec_hash(spec: PathwaySpec) -> str:
    return hashlib.sha256(spec.model_dump_json(exclude={"path"}).encode()).hexdigest()[:16]


def compute_pathways(
    lake: Path | str,
    *,
    only: Sequence[str] | None = None,
    specs: Sequence[PathwaySpec] | None = None,
    years: Iterable[int] | None = None,
    min_persons: int = DEFAULT_THRESHOLD,
    con: Connection | None = None,
    engine: str | Engine = "duckdb",
    notes: list[str] | None = None,
) -> PathwaysResult:
    """Compute the pathways (all shipped specs, ``only`` those named, or ``specs``) for
    ``years`` (default: every year of the data whose follow-up is complete) and write
    ``marts.pathways`` and ``marts.pathway_accounting`` as a new generation of ``marts`` (the
    other tables of the layer, e.g. the indicators, are carried over).

    Branches of fewer than ``min_persons`` persons in France (default: the release threshold)
    are merged into ``other`` before the gate; their number is in the accounting."""
    if min_persons < 1:
        raise InvalidArgumentError(f"min_persons must be at least 1, not {min_persons}")
    root = str(lake)
    chosen = list(specs) if specs is not None else load_pathways(only)
    own = con is None
    connection = (
        get_engine(engine, lake=root if "://" not in root else None).connect()
        if con is None
        else con
    )
    run: _Run | None = None
    try:
        paths = LakePaths(root, connection.storage)
        paths.check_version()
        if relation_or_none(connection, paths, "events.events") is None:
            raise SndslabError(f"{root} has no events layer: run `sndslab events {root}` first")
        run = _Run(connection, paths)
        window = data_years(connection, run.events)
        data = (dt.date(window[0], 1, 1), dt.date(window[1], 12, 31))
        trees: list[str] = []
        acc_rows: list[tuple[Any, ...]] = []
        runs: list[PathwayRun] = []
        all_years: set[int] = set()
        for i, spec in enumerate(chosen):
            possible = computable_years(spec, window)
            if years is None:
                chosen_years = possible
            else:
                chosen_years = tuple(sorted(set(int(y) for y in years)))
                bad = [y for y in chosen_years if y not in possible]
                if bad:
                    raise InvalidArgumentError(
                        f"pathway {spec.name}: year(s) {bad} cannot be followed "
                        f"{spec.windows[-1].to_day} days inside the data years "
                        f"{window[0]}-{window[1]} (possible: {list(possible) or 'none'})"
                    )
            all_years.update(chosen_years)
            try:
                tree, rows, rec = run.pathway(i, spec, chosen_years, data, min_persons)
            except SndslabError:
                raise
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise SndslabError(f"pathway {spec.name!r} ({spec.path}) failed: {first}") from exc
            trees.append(tree)
            acc_rows += rows
            runs.append(rec)
        acc = pa.table(
            {
                "pathway": pa.array([r[0] for r in acc_rows], pa.string()),
                "year": pa.array([r[1] for r in acc_rows], pa.int64()),
                "item": pa.array([r[2] for r in acc_rows], pa.string()),
                "persons": pa.array([r[3] for r in acc_rows], pa.int64()),
            }
        )
        specs_tbl = pa.table(
            {
                "pathway": [s.name for s in chosen],
                "title_fr": [s.title.fr for s in chosen],
                "title_en": [s.title.en for s in chosen],
                "spec_hash": [_spec_hash(s) for s in chosen],
            }
        )
        connection.register_arrow("_pw_acc_new", acc)
        run.created.append("_pw_acc_new")
        connection.register_arrow("_pw_specs_new", specs_tbl)
        run.created.append("_pw_specs_new")
        inputs = {"events_generation": read_manifest(paths, "events").generation}
        config = {
            "pathways": [s.model_dump(mode="json", exclude={"path"}) for s in chosen],
            "years": sorted(all_years),
            "min_persons": min_persons,
        }
        with write_generation(
            paths, "marts", connection, config=config, inputs=inputs, notes=notes
        ) as w:
            recomputed = [s.name for s in chosen]

            def keep(table: str) -> list[str]:
                """Rows of pathways not recomputed, from the previous generation."""
                return w.kept_rows(table, "pathway", recomputed)

            w.write(
                "pathway_specs",
                " UNION ALL ".join(["SELECT * FROM _pw_specs_new", *keep("pathway_specs")]),
                order_by=["pathway"],
            )
            union = " UNION ALL ".join(
                [_empty_tree(), *(f"SELECT * FROM {t}" for t in trees), *keep("pathways")]
            )
            total = w.write("pathways", union, order_by=list(PATHWAYS_ORDER))
            w.write(
                "pathway_accounting",
                " UNION ALL ".join(["SELECT * FROM _pw_acc_new", *keep("pathway_accounting")]),
                order_by=["pathway", "year", "item"],
            )
            w.carry_rest()
            result = PathwaysResult(
                lake=root,
                generation=w.generation,
                years=tuple(sorted(all_years)),
                data_years=window,
                min_persons=min_persons,
                runs=runs,
                rows=total,
            )
            w.counts.update({"pathways": result.to_dict()})
        return result
    finally:
        if run is not None:
            run.drop_all()
        if own:
            connection.close()
