"""Headline outcomes of an index cohort, to set a pathway beside published figures (hip
fracture: share transferred to SSR, 30-day readmission, 1-year mortality): internal France-level
shares computed in SQL on the lake (the cohort of :func:`sndslab.pathways.compute_pathways`,
without merging), not released (release the pathway tables through the gate instead).

``transfer_to_ssr``: an SSR stay starting on the discharge day or the next;
``ssr_within_30d``: an SSR stay overlapping days 0-30 after the discharge;
``readmission_30d``: another MCO stay (not a session, CMD 28) starting 1 to 30 days after
the discharge (as the RH30 indicator: not on the discharge day); ``death_in_stay``: death on or
before the discharge; ``mortality_30d`` / ``mortality_1y``: death within 30 / 365 days of the
admission.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sndslab
from sndslab.indicators import data_years
from sndslab.lake import relation
from sndslab.pathways._compute import computable_years
from sndslab.pathways._spec import PathwaySpec
from sndslab.pathways._sql import cohort_sql

__all__ = ["OUTCOMES", "cohort_outcomes"]

OUTCOMES = (
    "transfer_to_ssr",
    "ssr_within_30d",
    "readmission_30d",
    "death_in_stay",
    "mortality_30d",
    "mortality_1y",
)


def cohort_outcomes(lake: str | Path, spec: PathwaySpec) -> dict[str, Any]:
    """``{"cohort": n, "years": [...], <outcome>: share, ..., "by_sex": {"men": {...},
    "women": {...}}}`` over every computable year."""
    with sndslab.open_lake(lake) as opened:
        con = opened.con
        ev = relation(con, opened.paths, "events.events")
        window = data_years(con, ev)
        years = computable_years(spec, window)
        data = (dt.date(window[0], 1, 1), dt.date(window[1], 12, 31))
        patients = relation(con, opened.paths, "events.patients")
        cohort = cohort_sql(ev, patients, spec, years, data)
        rows = {
            who: con.fetchone(_outcomes_sql(cohort, ev, sex))
            for who, sex in (("all", ""), ("men", " AND sex = 1"), ("women", " AND sex = 2"))
        }
    out: dict[str, Any] = {"pathway": spec.name, "years": list(years)}
    for who, row in rows.items():
        assert row is not None
        part: dict[str, Any] = {"cohort": int(row[0])}
        for name, value in zip(OUTCOMES, row[1:], strict=True):
            part[name] = None if value is None else round(float(value), 4)
        if who == "all":
            out.update(part)
        else:
            out.setdefault("by_sex", {})[who] = part
    return out


def _outcomes_sql(cohort: str, ev: str, sex: str) -> str:
    return f"""WITH c AS (SELECT * FROM ({cohort}) q WHERE rule IS NULL{sex}),
            o AS (SELECT c.person_id,
                max(CASE WHEN e.code = 'STAY//SSR' AND e.start BETWEEN c.index_end
                    AND c.index_end + 1 THEN 1 ELSE 0 END) AS transfer_to_ssr,
                max(CASE WHEN e.code = 'STAY//SSR' AND e.start <= c.index_end + 30
                    AND coalesce(e."end", e.start) >= c.index_end THEN 1 ELSE 0 END)
                    AS ssr_within_30d,
                max(CASE WHEN e.category = 'stay' AND starts_with(e.code, 'GHM//')
                    AND NOT starts_with(e.code, 'GHM//28') AND e.stay_id <> c.index_stay
                    AND e.start BETWEEN c.index_end + 1 AND c.index_end + 30 THEN 1 ELSE 0 END)
                    AS readmission_30d
              FROM c LEFT JOIN {ev} e ON e.person_id = c.person_id AND e.category = 'stay'
              GROUP BY c.person_id)
            SELECT count(*), avg(o.transfer_to_ssr), avg(o.ssr_within_30d),
                avg(o.readmission_30d),
                avg(CASE WHEN c.death_date <= c.index_end THEN 1 ELSE 0 END),
                avg(CASE WHEN c.death_date <= c.index_start + 30 THEN 1 ELSE 0 END),
                avg(CASE WHEN c.death_date <= c.index_start + 365 THEN 1 ELSE 0 END)
            FROM c JOIN o ON o.person_id = c.person_id"""
