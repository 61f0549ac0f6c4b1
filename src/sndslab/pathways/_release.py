"""Releasing the pathways: ``marts.pathways`` through the gate as two linked tables (see
docs/pathways.md, "Released tables"):

* ``pathways__transitions``: period × territory × path of the pathway tree (every branch, the
  flow of step j from window j-1 into window j);
* ``pathways__sequences``: period × territory × complete sequence (the leaves of the tree).

Both carry the gate name ``pathways`` and the gate dimension ``sequence``: a leaf of the tree
is the same cell in both tables, so a cell hidden in one cannot be read in the other; the
``sequence`` dimension of the transitions declares every path as the child of its parent path
(the attack knows the children of a branch add up to it).

>>> spec = transitions_spec({"a > b": "a"})
>>> spec.stem, [d.name for d in spec.dimensions], spec.count
('pathways__transitions', ['pathway', 'period', 'geo', 'sequence'], 'persons')
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

import sndslab
from sndslab.errors import SndslabError
from sndslab.indicators._release import GEO_DEPARTEMENT_SQL, GEO_REGION_SQL, geo_dimension
from sndslab.pathways._spec import load_pathways
from sndslab.pathways._sql import SEP
from sndslab.release import TableSpec

__all__ = [
    "GATE_NAME",
    "PathwayReleaseError",
    "lake_has_pathways",
    "pathway_tables",
    "sequences_spec",
    "transitions_spec",
]

#: The gate name both tables share (one linked table).
GATE_NAME = "pathways"


class PathwayReleaseError(SndslabError):
    """The pathways cannot be released as asked (not computed, unknown pathway or year)."""


def _dims(sequence_column: str, parents: dict[str, str], what: str) -> list[dict[str, Any]]:
    return [
        {
            "name": "pathway",
            "levels": [
                {
                    "column": "pathway",
                    "description": "pathway name; titles, windows and state labels in French and "
                    "English: sndslab.pathways.load_pathways()",
                }
            ],
        },
        {
            "name": "period",
            "levels": [{"column": "period", "description": "year of the index event (YYYY)"}],
        },
        geo_dimension(),
        {
            "name": "sequence",
            "levels": [{"column": sequence_column, "total": "ALL", "description": what}],
            "parents": parents,
        },
    ]


def transitions_spec(parents: dict[str, str]) -> TableSpec:
    """The spec of ``pathways__transitions`` (``parents``: path → parent path)."""
    return TableSpec.parse(
        {
            "name": GATE_NAME,
            "file": "pathways__transitions",
            "count": "persons",
            "count_description": "distinct persons of the index cohort whose windows 1..j are "
            "in the states of path",
            "dimensions": _dims(
                "path",
                parents,
                f"states of windows 1..j joined by '{SEP}' (state 'other': branches of fewer "
                "persons than the threshold in France, merged before the gate); ALL = the index "
                "cohort. The row is step j: from the state of window j-1 (the index stay at "
                "j = 1) to the last state",
            ),
            "description": "care pathways: the pathway tree (every branch, step by step) by "
            "year of the index event and territory of residence",
        },
        where="pathways__transitions",
    )


def sequences_spec() -> TableSpec:
    """The spec of ``pathways__sequences``."""
    return TableSpec.parse(
        {
            "name": GATE_NAME,
            "file": "pathways__sequences",
            "count": "persons",
            "count_description": "distinct persons of the index cohort with this sequence",
            "dimensions": _dims(
                "sequence",
                {},
                f"states of every window joined by '{SEP}' (state 'other': merged branches); "
                "ALL = the index cohort",
            ),
            "description": "care pathways: complete sequences by year of the index event and "
            "territory of residence",
        },
        where="pathways__sequences",
    )


def lake_has_pathways(lake: str | Path) -> bool:
    """Whether ``lake`` holds ``marts.pathways`` (``sndslab pathways`` was run)."""
    with sndslab.open_lake(lake) as opened:
        return "marts.pathways" in opened.tables("marts")


def pathway_tables(
    lake: str | Path,
    *,
    only: Sequence[str] | None = None,
    years: tuple[int, int] | None = None,
    required: bool = True,
) -> list[tuple[pa.Table, TableSpec]]:
    """The two tables to release (true values, internal) with their specs, from
    ``marts.pathways`` (every pathway computed, or ``only``; every year, or ``years``). With
    ``required=False`` (releasing them beside the indicators) no row for the request gives no
    table instead of an error."""
    if only:
        load_pathways(only)  # an unknown name is one line
    where = ""
    if only:
        where += " AND pathway IN (" + ", ".join("'" + n + "'" for n in only) + ")"
    if years is not None:
        where += f" AND year BETWEEN {int(years[0])} AND {int(years[1])}"
    with sndslab.open_lake(lake) as opened:
        if "marts.pathways" not in opened.tables("marts"):
            raise PathwayReleaseError(
                f"{lake}: no marts.pathways: run `sndslab pathways {lake}` first"
            )
        base = f"""SELECT pathway, CAST(year AS VARCHAR) AS period, {GEO_REGION_SQL} AS region,
            {GEO_DEPARTEMENT_SQL} AS departement, depth, path, persons
            FROM marts.pathways WHERE true {where}"""
        rows = opened.sql(f"{base} ORDER BY pathway, period, region, departement, depth, path")
        table = rows.to_arrow()
        if not table.num_rows:
            if not required:
                return []
            raise PathwayReleaseError(f"{lake}: no pathway computed for the request")
        leaves = opened.sql(
            f"""WITH t AS ({base}), k AS (SELECT pathway, max(depth) AS k FROM t GROUP BY pathway)
            SELECT t.pathway, t.period, t.region, t.departement, t.path AS sequence, t.persons
            FROM t JOIN k ON k.pathway = t.pathway WHERE t.depth = k.k OR t.depth = 0
            ORDER BY 1, 2, 3, 4, 5"""
        ).to_arrow()
    paths = sorted(set(table.column("path").to_pylist()))
    parents = {p: p.rsplit(SEP, 1)[0] for p in paths if SEP in p}
    t_spec, s_spec = transitions_spec(parents), sequences_spec()
    return [
        (table.select(t_spec.columns()), t_spec),
        (leaves.select(s_spec.columns()), s_spec),
    ]
