"""The re-identification check of an Open DAMIR export (issue item 5).

What the files expose about a person is the set of published cells the person falls in (a cell
fixes the flow month, the région, the age band, the sex, the prestation and the
practitioners' specialties): a published cell of few persons singles them out, and rare
combinations of cells do too. The check builds, inside the lake, one row per person with the
cells that person is in as codes (``CELL//<month>|<région>|<cell>``) and runs the gate's
:func:`sndslab.release.risk_report` on it, for the cells the files publish and, to show what
the gate removed, for every cell before suppression:

- ``published_cells`` (attribute ``rare_codes``: cells held by fewer than k persons): passes
  when the smallest class is at least k, i.e. no person is in a published cell of fewer than k
  persons;
- ``sex_region_cells`` (``sex``, ``residence``, ``rare_codes``): the same with the sex and the
  région an adversary would know.

The check also verifies directly that every published cell counts at least ``threshold``
persons. Nothing here leaves the lake except counts (the report has no code and no value).
"""

from __future__ import annotations

from typing import Any

from sndslab.engines import Connection
from sndslab.release import risk_report

__all__ = ["COMBINATIONS", "risk_check"]

COMBINATIONS: dict[str, tuple[str, ...]] = {
    "published_cells": ("rare_codes",),
    "sex_region_cells": ("sex", "residence", "rare_codes"),
}


def _persons_sql(published_only: bool) -> str:
    key = "CAST(l.FLX_ANN_MOI AS VARCHAR) || '|' || CAST(l.BEN_RES_REG AS VARCHAR) || '|' || l._key"
    join = (
        "JOIN _od_published p ON p.month = l.FLX_ANN_MOI "
        "AND p.region = CAST(l.BEN_RES_REG AS VARCHAR) AND p.cell = l._key"
        if published_only
        else ""
    )
    return f"""SELECT any_value(CAST(l.BEN_SEX_COD AS VARCHAR)) AS sex,
                      any_value(CAST(l.BEN_RES_REG AS VARCHAR)) AS region,
                      any_value(CAST(l.BEN_RES_REG AS VARCHAR)) AS dpt,
                      list(DISTINCT 'CELL//' || {key}) AS codes
               FROM (SELECT * FROM _od_lines WHERE _excluded IS NULL
                     AND FLX_ANN_MOI IN (SELECT month FROM _od_cells)) l {join}
               GROUP BY l.person_id"""


def risk_check(con: Connection, *, threshold: int) -> dict[str, Any]:
    """The check on the temp tables of an export (``_od_lines``, ``_od_cells``,
    ``_od_published``); see the module docstring. Returns a JSON-able dict with ``passed``."""
    reports: dict[str, Any] = {}
    for label, only in (("published", True), ("before_suppression", False)):
        persons = con.sql(_persons_sql(only)).to_arrow()
        if persons.num_rows == 0:
            reports[label] = {"persons": 0}
            continue
        rep = risk_report(persons, k=threshold, combinations=COMBINATIONS, con=con)
        reports[label] = {
            "persons": rep.persons,
            "combinations": {
                c.name: {
                    "k": c.finest.k,
                    "unique": c.finest.unique,
                    "unique_share": c.finest.unique_share,
                    "at_risk": c.finest.at_risk,
                    "at_risk_share": c.finest.at_risk_share,
                    "k_distribution": c.finest.k_distribution,
                }
                for c in rep.combinations
            },
        }
    smallest = con.scalar(
        "SELECT min(c.n_persons) FROM _od_cells c JOIN _od_published p "
        "ON c.month = p.month AND c.region = p.region AND c.cell = p.cell "
        "WHERE c.region <> 'ALL' AND c.cell <> 'ALL'"
    )
    published = reports["published"]
    k_ok = published.get("persons", 0) == 0 or (
        published["combinations"]["published_cells"]["k"] >= threshold
    )
    cells_ok = smallest is None or int(smallest) >= threshold
    return {
        "format": "sndslab-opendamir-risk",
        "threshold": threshold,
        "smallest_published_cell_persons_at_least_threshold": cells_ok,
        "passed": bool(k_ok and cells_ok),
        "note": "aggregate counts only; computed inside the lake on what the files expose",
        **reports,
    }
