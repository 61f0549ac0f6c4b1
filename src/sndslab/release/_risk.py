"""Re-identification risk of a row-level export: uniqueness, k-anonymity and the coarsening
that brings k to a target.

For each combination of quasi-identifiers (:data:`DEFAULT_COMBINATIONS`, or your own), the
persons are grouped into **equivalence classes** (same values of every quasi-identifier; one
``GROUP BY`` in DuckDB, no Python loop over rows) and the report gives the share of unique
persons (class of size 1), the distribution of class sizes, the **k-anonymity** level (the
smallest class; Sweeney 2002) and the records at risk under the **prosecutor** and
**journalist** models (El Emam & Dankar 2008): the risk of a person is 1 / (size of the class),
the maximum risk is 1 / k, the average risk is classes / persons, and a record is at risk when
its risk exceeds 1 / target (its class has fewer than ``target`` persons). The journalist model
needs the class sizes in the population the adversary draws from: pass ``population`` (a lake,
an export or a table of which the source is a sample) and each class of the source is matched
with its class in the population. Without it the journalist risk equals the prosecutor risk:
the SNDS covers the whole insured population and the exports cover every person of the lake.

Then a **lattice search** over full-domain generalisations (Incognito, LeFevre, DeWitt &
Ramakrishnan 2005; ARX's optimal lattice search, Prasser & Kohlmayer 2015): every node is a
level per attribute (:data:`~sndslab.release._risk_qi.HIERARCHIES`: year of birth → 5- → 10-year
bands; département → région; dates day → month → quarter → year; rare codes → their count
top-coded → suppressed); coarsening only merges classes, so k never decreases along the
lattice, and a node is evaluated only when none of its direct predecessors already reaches the
target (those are satisfied too and not minimal). Among the minimal nodes reaching the target,
the one with the least information loss is chosen: the mean over attributes of level / height
(the precision metric of Sweeney 2002), ties broken by the discernibility metric (sum of the
squared class sizes; Bayardo & Agrawal 2005). ``max_suppressed`` lets a share of persons (those
left in classes below target) be suppressed instead, as ARX's suppression limit.

The report holds aggregate counts only, never an identifier or a quasi-identifier value, and
stays small; it still describes the data and must stay inside the secure space.

>>> import pyarrow as pa
>>> t = pa.table({"birth_year": [1950, 1951, 1952, 1953, 1960, 1961],
...               "sex": ["1", "1", "2", "2", "1", "1"]})
>>> r = risk_report(t, k=2, combinations={"demo": ("birth_year", "sex")})
>>> r.combinations[0].finest.unique, r.combinations[0].finest.k
(6, 1)
>>> r.combinations[0].chosen.levels
{'birth_year': '5-year band', 'sex': 'sex'}
>>> r.combinations[0].chosen.metrics.k
2
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from sndslab.engines import Connection, get_engine
from sndslab.errors import SndslabError
from sndslab.release._risk_qi import (
    ATTRIBUTES,
    HIERARCHIES,
    available,
    base_sql,
    qi_sql,
)
from sndslab.release._spec import DEFAULT_THRESHOLD

__all__ = [
    "DEFAULT_COMBINATIONS",
    "SECURE_SPACE_NOTICE",
    "Coarsening",
    "CombinationRisk",
    "RiskError",
    "RiskMetrics",
    "RiskReport",
    "level_column",
    "node_metrics",
    "nodes_metrics",
    "prepare",
    "risk_report",
]

#: The default quasi-identifier combinations (name → attributes).
DEFAULT_COMBINATIONS: dict[str, tuple[str, ...]] = {
    "birth year, sex, residence": ("birth_year", "sex", "residence"),
    "+ first stay date": ("birth_year", "sex", "residence", "first_stay"),
    "+ first stay date + rare codes": (
        "birth_year",
        "sex",
        "residence",
        "first_stay",
        "rare_codes",
    ),
    "+ all stay dates": ("birth_year", "sex", "residence", "stay_dates"),
}
#: Class-size buckets of the k distribution (persons in classes of that size).
K_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1", 1, 1),
    ("2", 2, 2),
    ("3-4", 3, 4),
    ("5-10", 5, 10),
    ("11-19", 11, 19),
    ("20+", 20, None),
)
SECURE_SPACE_NOTICE = (
    "This report holds aggregate counts only (no identifier, no quasi-identifier value), but it "
    "describes the individual-level data: it must stay inside the secure space (bulle SNDS) "
    "with the export it assesses."
)


class RiskError(SndslabError):
    """A bad risk request (unknown attribute, k below 1)."""


@dataclass(frozen=True)
class RiskMetrics:
    """Equivalence-class statistics of one generalisation (counts of persons, never ids)."""

    persons: int
    classes: int
    k: int
    unique: int
    at_risk: int
    k_distribution: dict[str, int]
    discernibility: int
    #: journalist risks against a population (``population_k``, ``max_risk``,
    #: ``average_risk``, ``records_at_risk_share``, ``unmatched``), when one is given
    journalist: dict[str, float] | None = None

    @property
    def unique_share(self) -> float:
        return self.unique / self.persons if self.persons else 0.0

    @property
    def at_risk_share(self) -> float:
        return self.at_risk / self.persons if self.persons else 0.0

    def risks(self) -> dict[str, dict[str, float]]:
        """Prosecutor and journalist risks (El Emam & Dankar 2008); see the module docstring."""
        prosecutor = {
            "max_risk": 1 / self.k if self.k else 0.0,
            "average_risk": self.classes / self.persons if self.persons else 0.0,
            "records_at_risk_share": self.at_risk_share,
        }
        journalist = dict(prosecutor) if self.journalist is None else dict(self.journalist)
        return {"prosecutor": prosecutor, "journalist": journalist}

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        del d["journalist"]
        d["unique_share"] = self.unique_share
        d["at_risk_share"] = self.at_risk_share
        d.update(self.risks())
        return d


@dataclass(frozen=True)
class Coarsening:
    """One node of the lattice: a level per attribute, its metrics and information loss."""

    levels: dict[str, str]
    metrics: RiskMetrics
    loss: float

    def to_dict(self) -> dict[str, Any]:
        return {"levels": self.levels, "loss": self.loss, "metrics": self.metrics.to_dict()}


@dataclass
class CombinationRisk:
    """The risk of one combination of quasi-identifiers and the coarsening found."""

    name: str
    attributes: tuple[str, ...]
    missing: tuple[str, ...]
    finest: RiskMetrics
    chosen: Coarsening | None
    path: list[Coarsening] = field(default_factory=list)
    minimal: list[dict[str, str]] = field(default_factory=list)
    lattice_nodes: int = 0
    evaluated: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "attributes": list(self.attributes),
            "not_in_source": list(self.missing),
            "finest": self.finest.to_dict(),
            "coarsening": None if self.chosen is None else self.chosen.to_dict(),
            "path": [c.to_dict() for c in self.path],
            "minimal_nodes": self.minimal,
            "lattice_nodes": self.lattice_nodes,
            "evaluated_nodes": self.evaluated,
        }


@dataclass
class RiskReport:
    """The re-identification risk report of a source (aggregate counts only)."""

    source: str
    kind: str
    persons: int
    target_k: int
    max_suppressed: float
    available: dict[str, bool]
    combinations: list[CombinationRisk]
    population: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "notice": SECURE_SPACE_NOTICE,
            "source": self.source,
            "source_kind": self.kind,
            "persons": self.persons,
            "target_k": self.target_k,
            "rare_code_threshold": self.target_k,
            "max_suppressed": self.max_suppressed,
            "journalist_population": self.population,
            "attributes": {
                a: {
                    "description": ATTRIBUTES[a],
                    "in_source": self.available[a],
                    "levels": [name for name, _ in HIERARCHIES[a]],
                }
                for a in ATTRIBUTES
            },
            "combinations": [c.to_dict() for c in self.combinations],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    def to_markdown(self) -> str:
        from sndslab.release._risk_md import report_markdown

        return report_markdown(self)

    def write(self, path: Path | str) -> Path:
        """Write the report as JSON (``.json``) or Markdown (any other suffix)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(self.to_json() if out.suffix == ".json" else self.to_markdown(), "utf-8")
        return out


def node_metrics(con: Connection, table: str, columns: Sequence[str], target: int) -> RiskMetrics:
    """Equivalence classes of ``table`` grouped by ``columns`` (none: one class of
    everyone), in one query."""
    return nodes_metrics(con, table, [columns], target)[0]


def _classes(table: str, cols: Sequence[str], nodes: Sequence[Sequence[str]], f: str) -> str:
    if not cols:
        return f"SELECT 0 AS g, count(*) AS {f} FROM {table}"
    sets = ", ".join(f"({', '.join(node)})" for node in nodes)
    return (
        f"SELECT GROUPING({', '.join(cols)}) AS g, {', '.join(cols)}, count(*) AS {f} "
        f"FROM {table} GROUP BY GROUPING SETS ({sets})"
    )


def _journalist(
    con: Connection,
    table: str,
    population: str,
    cols: Sequence[str],
    nodes: Sequence[Sequence[str]],
    target: int,
) -> dict[int, dict[str, float]]:
    """grouping mask → journalist risks: each sample class is matched (NULL-safe) with the
    class of the same values in the population, of size F; a sample class absent from the
    population (the sample is not a subset) counts with F = its own size, as ``unmatched``."""
    on = "".join(f" AND s.{c} IS NOT DISTINCT FROM p.{c}" for c in cols)
    big_f = "coalesce(p.pf, s.f)"
    rows = con.fetchall(
        f"""SELECT s.g, min({big_f}), sum(s.f / {big_f}), sum(s.f),
               coalesce(sum(s.f) FILTER (WHERE {big_f} < {int(target)}), 0),
               coalesce(sum(s.f) FILTER (WHERE p.pf IS NULL), 0)
        FROM ({_classes(table, cols, nodes, "f")}) s
        LEFT JOIN ({_classes(population, cols, nodes, "pf")}) p ON s.g = p.g{on}
        GROUP BY s.g"""
    )
    return {
        int(g): {
            "population_k": int(k),
            "max_risk": 1 / int(k),
            "average_risk": float(avg) / int(n),
            "records_at_risk_share": int(risky) / int(n),
            "unmatched": int(unmatched),
        }
        for g, k, avg, n, risky, unmatched in rows
    }


def nodes_metrics(
    con: Connection,
    table: str,
    nodes: Sequence[Sequence[str]],
    target: int,
    population: str | None = None,
) -> list[RiskMetrics]:
    """:func:`node_metrics` of several nodes (distinct lists of columns) in one query: one
    ``GROUP BY GROUPING SETS`` gives the class sizes of every node, tagged by ``GROUPING()``.
    With ``population`` (a table of the same columns), the journalist risks are computed
    against its class sizes."""
    cols = list(dict.fromkeys(c for node in nodes for c in node))
    buckets = ", ".join(
        f"coalesce(sum(f) FILTER (WHERE f >= {lo}"
        + ("" if hi is None else f" AND f <= {hi}")
        + "), 0)"
        for _, lo, hi in K_BUCKETS
    )
    classes = _classes(table, cols, nodes, "f")
    journalist = (
        {} if population is None else _journalist(con, table, population, cols, nodes, target)
    )
    rows = con.fetchall(
        f"""SELECT g, coalesce(sum(f), 0), count(*), coalesce(min(f), 0),
               coalesce(sum(f) FILTER (WHERE f = 1), 0),
               coalesce(sum(f) FILTER (WHERE f < {int(target)}), 0),
               coalesce(sum(f * f), 0), {buckets}
        FROM ({classes}) GROUP BY g"""
    )
    by_mask = {int(r[0]): r[1:] for r in rows}
    out = []
    for node in nodes:
        # GROUPING(): bit set for each column left out of the set, first column highest
        mask = sum(1 << (len(cols) - 1 - i) for i, c in enumerate(cols) if c not in node)
        row = by_mask.get(mask)
        if row is None:  # an empty table has no class
            out.append(RiskMetrics(0, 0, 0, 0, 0, {n: 0 for n, _, _ in K_BUCKETS}, 0))
            continue
        persons, n_classes, k, unique, at_risk, disc, *dist = (int(v) for v in row)
        out.append(
            RiskMetrics(
                persons=persons,
                classes=n_classes,
                k=k,
                unique=unique,
                at_risk=at_risk,
                k_distribution={n: v for (n, _, _), v in zip(K_BUCKETS, dist, strict=True)},
                discernibility=disc,
                journalist=journalist.get(mask),
            )
        )
    return out


def level_column(attribute: str, level: int) -> str | None:
    """Column of ``_risk_levels`` holding ``attribute`` at ``level`` (None: suppressed)."""
    return None if HIERARCHIES[attribute][level][1] is None else f"{attribute}__{level}"


def _levels_sql(qi: str) -> str:
    cols = ", ".join(
        f"{expr} AS {level_column(a, i)}"
        for a, levels in HIERARCHIES.items()
        for i, (_, expr) in enumerate(levels)
        if expr is not None
    )
    return f"SELECT {cols} FROM {qi}"


def _search(
    con: Connection,
    qi: str,
    name: str,
    attrs: tuple[str, ...],
    missing: tuple[str, ...],
    target: int,
    max_suppressed: float,
    population: str | None = None,
) -> CombinationRisk:
    heights = [len(HIERARCHIES[a]) - 1 for a in attrs]
    cache: dict[tuple[int, ...], RiskMetrics] = {}

    def columns(node: tuple[int, ...]) -> list[str]:
        return [
            col
            for a, lvl in zip(attrs, node, strict=True)
            if (col := level_column(a, lvl)) is not None
        ]

    def evaluate(batch: Sequence[tuple[int, ...]]) -> None:
        todo = [n for n in batch if n not in cache]
        if todo:
            found = nodes_metrics(con, qi, [columns(n) for n in todo], target, population)
            cache.update(zip(todo, found, strict=True))

    def metrics(node: tuple[int, ...]) -> RiskMetrics:
        evaluate([node])
        return cache[node]

    def ok(m: RiskMetrics) -> bool:
        return m.persons > 0 and m.at_risk <= max_suppressed * m.persons

    def loss(node: tuple[int, ...]) -> float:
        return sum(lv / h for lv, h in zip(node, heights, strict=True)) / len(node) if node else 0

    def levels(node: tuple[int, ...]) -> dict[str, str]:
        return {a: HIERARCHIES[a][lv][0] for a, lv in zip(attrs, node, strict=True)}

    nodes = list(itertools.product(*(range(h + 1) for h in heights)))
    satisfied: set[tuple[int, ...]] = set()
    minimal: list[tuple[int, ...]] = []
    # one query per lattice height: the nodes with no satisfied direct predecessor (the
    # others are satisfied by monotonicity, hence not minimal, and are not evaluated)
    for height in range(sum(heights) + 1):
        level = [n for n in nodes if sum(n) == height]
        implied = {
            n
            for n in level
            if any((*n[:i], lv - 1, *n[i + 1 :]) in satisfied for i, lv in enumerate(n) if lv > 0)
        }
        candidates = [n for n in level if n not in implied]
        evaluate(candidates)
        satisfied |= implied
        for n in candidates:
            if ok(cache[n]):
                satisfied.add(n)
                minimal.append(n)
    bottom = tuple(0 for _ in attrs)
    best = min(minimal, key=lambda n: (loss(n), metrics(n).discernibility, n), default=None)
    path: list[Coarsening] = []
    if best is not None:
        node = bottom
        path.append(Coarsening(levels(node), metrics(node), loss(node)))
        while node != best:
            steps = [
                (*node[:i], lv + 1, *node[i + 1 :]) for i, lv in enumerate(node) if lv < best[i]
            ]
            node = max(steps, key=lambda n: (metrics(n).k, -metrics(n).unique))
            path.append(Coarsening(levels(node), metrics(node), loss(node)))
    return CombinationRisk(
        name=name,
        attributes=attrs,
        missing=missing,
        finest=metrics(bottom),
        chosen=None if best is None else Coarsening(levels(best), metrics(best), loss(best)),
        path=path,
        minimal=[levels(n) for n in sorted(minimal, key=lambda n: (loss(n), n))],
        lattice_nodes=len(nodes),
        evaluated=len(cache),
    )


def _arrow_base(con: Connection, table: pa.Table, name: str = "_risk_arrow") -> str:
    """Register a hand-made per-person table (missing columns become NULL / empty)."""
    con.register_arrow(name, table)
    have = set(table.column_names)

    def col(name: str, cast: str, empty: str = "NULL") -> str:
        return f"CAST({name} AS {cast})" if name in have else f"CAST({empty} AS {cast})"

    return f"""(SELECT {col("birth_year", "INTEGER")} AS birth_year,
        {col("sex", "VARCHAR")} AS sex, {col("dpt", "VARCHAR")} AS dpt,
        {col("region", "VARCHAR")} AS region,
        coalesce({col("stays", "DATE[]")}, CAST([] AS DATE[])) AS stays,
        coalesce({col("codes", "VARCHAR[]")}, CAST([] AS VARCHAR[])) AS codes
        FROM {name})"""


def risk_report(
    source: Path | str | pa.Table,
    *,
    k: int = DEFAULT_THRESHOLD,
    combinations: Mapping[str, Sequence[str]] | None = None,
    max_suppressed: float = 0.0,
    population: Path | str | pa.Table | None = None,
    con: Connection | None = None,
) -> RiskReport:
    """The re-identification risk report of ``source``: a MEDS or OMOP export directory, a
    lake, or an Arrow table of one row per person (columns ``birth_year``, ``sex``, ``dpt``,
    ``region``, ``stays`` (list of dates), ``codes`` (list of strings); any may be absent).

    ``k`` is the target class size and the rare-code threshold (codes held by fewer than ``k``
    persons); ``combinations`` maps a name to attributes of
    :data:`~sndslab.release._risk_qi.ATTRIBUTES` (default :data:`DEFAULT_COMBINATIONS`);
    ``max_suppressed`` is the share of persons that may be suppressed (default none).
    ``population`` (a lake, an export or a table, of which the source is a sample) gives the
    journalist risks; without it they equal the prosecutor risks (the export is the population).
    """
    if k < 1:
        raise RiskError(f"k must be at least 1, not {k}")
    if not 0.0 <= max_suppressed < 1.0:
        raise RiskError(f"max_suppressed must be in [0, 1), not {max_suppressed}")
    combos = {n: tuple(a) for n, a in (combinations or DEFAULT_COMBINATIONS).items()}
    for n, attrs in combos.items():
        unknown = [a for a in attrs if a not in HIERARCHIES]
        if unknown:
            raise RiskError(
                f"combination {n!r}: unknown attribute(s) {', '.join(unknown)}; "
                f"known: {', '.join(HIERARCHIES)}"
            )
    own = con is None
    c = get_engine("duckdb").connect() if con is None else con
    try:
        kind, label, has = prepare(c, source, k)
        pop_table, pop_label = None, None
        if population is not None:
            _, pop_label, pop_has = prepare(
                c, population, k, prefix="_risk_p", reference="_risk_base"
            )
            has = {a: ok and pop_has[a] for a, ok in has.items()}
            pop_table = "_risk_p_levels"
        persons = int(c.scalar("SELECT count(*) FROM _risk_qi"))
        results = []
        for n, attrs in combos.items():
            used = tuple(a for a in attrs if has[a])
            missing = tuple(a for a in attrs if not has[a])
            results.append(
                _search(c, "_risk_levels", n, used, missing, k, max_suppressed, pop_table)
            )
        return RiskReport(label, kind, persons, k, max_suppressed, has, results, pop_label)
    finally:
        for prefix in ("_risk", "_risk_p"):
            for t in ("levels", "qi", "base"):
                c.drop(f"{prefix}_{t}")
        if own:
            c.close()


def prepare(
    con: Connection,
    source: Path | str | pa.Table,
    k: int,
    *,
    prefix: str = "_risk",
    reference: str | None = None,
) -> tuple[str, str, dict[str, bool]]:
    """Create the temp tables ``<prefix>_base``, ``<prefix>_qi`` and ``<prefix>_levels`` (one
    row per person, no identifier; ``_levels`` has a column per attribute and level,
    :func:`level_column`) of ``source``; rare codes and the reference year of ages come from
    ``reference`` (a base table; default: the source). Returns (kind, label, attribute → in
    the source)."""
    if isinstance(source, pa.Table):
        kind, base, label = "table", _arrow_base(con, source, f"{prefix}_arrow"), "<arrow table>"
    else:
        kind, sql = base_sql(con, source)
        base, label = f"({sql})", Path(source).name
    con.create_table(f"{prefix}_base", f"SELECT * FROM {base}")
    has = available(con, f"{prefix}_base")
    con.create_table(f"{prefix}_qi", qi_sql(f"{prefix}_base", k, reference))
    con.create_table(f"{prefix}_levels", _levels_sql(f"{prefix}_qi"))
    return kind, label, has
