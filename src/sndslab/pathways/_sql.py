"""The SQL of a pathway, written once (DuckDB dialect, engine seam): the index cohort with its
exclusion rules, the state of every person in every window, the merge of small branches into
``other`` and the roll-up of the pathway tree over the territories.

Codes are matched as the indicators match them (:func:`sndslab.indicators._sql.codes_match`).

>>> codes_match(("ICD10//S72*", "STAY//SSR"), ("ICD10//S723",), col="c")
"((c IN ('STAY//SSR') OR starts_with(c, 'ICD10//S72')) AND NOT (c IN ('ICD10//S723')))"
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sndslab.engines import quote_literal
from sndslab.indicators._sql import codes_match
from sndslab.pathways._spec import OTHER, PathwaySpec

__all__ = [
    "CARE_CATEGORIES",
    "EXCLUSION_RULES",
    "cohort_sql",
    "merged_sql",
    "path_expr",
    "states_sql",
    "tree_sql",
]

#: Event categories that are care (``lost`` = none of them from the window start on): ALD
#: periods and causes of death are not care.
CARE_CATEGORIES = (
    "dispensing", "hospital_dispensing", "act", "biology", "visit", "diagnosis", "stay",
    "emergency", "rehabilitation",
)  # fmt: skip
#: Exclusions from the index cohort, in the order they are applied (first one wins).
EXCLUSION_RULES = (
    "no_birth_date_or_residence",
    "under_min_age",
    "period_not_computed",
    "follow_up_beyond_data",
)
SEP = " > "


def _in(col: str, values: Sequence[str]) -> str:
    return f"{col} IN ({', '.join(quote_literal(str(v)) for v in values)})"


def cohort_sql(
    events: str,
    patients: str,
    spec: PathwaySpec,
    years: Sequence[int],
    data: tuple[dt.date, dt.date],
) -> str:
    """One row per person with an index event in the data: the first one (``index_start``,
    ``index_end``, ``index_stay``, ``anchor``, ``year`` of the start), the residence, the death
    date and ``rule``: NULL when the person is in the cohort, else the first exclusion rule of
    :data:`EXCLUSION_RULES` that applies."""
    ix = spec.index
    where = [_in("e.category", [c.value for c in ix.categories]), codes_match(ix.codes)]
    if ix.modifiers:
        where.append(_in("e.modifier", ix.modifiers))
    where.append(f"e.start >= {quote_literal(data[0])} AND e.start <= {quote_literal(data[1])}")
    last = spec.windows[-1].to_day
    anchor = 'coalesce(i."end", i.start)' if spec.anchor == "end" else "i.start"
    # no computable year: every index event is outside the periods (never NOT IN (NULL))
    outside = f"year(i.start) NOT IN ({', '.join(str(int(y)) for y in years)})" if years else "TRUE"
    return f"""WITH cand AS (
        SELECT e.person_id, e.start, e."end", e.stay_id,
            row_number() OVER (PARTITION BY e.person_id
                ORDER BY e.start, coalesce(e."end", e.start), e.stay_id, e.source_key) AS rn
        FROM {events} e WHERE {" AND ".join(where)}),
    i AS (SELECT * FROM cand WHERE rn = 1)
    SELECT i.person_id, i.start AS index_start, coalesce(i."end", i.start) AS index_end,
        i.stay_id AS index_stay, {anchor} AS anchor, CAST(year(i.start) AS BIGINT) AS year,
        CAST(p.residence_region AS VARCHAR) AS region, CAST(p.residence_dpt AS VARCHAR) AS dpt,
        CAST(p.death_date AS DATE) AS death_date, CAST(p.sex AS BIGINT) AS sex,
        CASE
          WHEN p.birth_date IS NULL OR p.residence_dpt IS NULL OR p.residence_region IS NULL
            THEN 'no_birth_date_or_residence'
          WHEN year(i.start) - year(p.birth_date) < {ix.min_age} THEN 'under_min_age'
          WHEN {outside} THEN 'period_not_computed'
          WHEN {anchor} + {last} > {quote_literal(data[1])} THEN 'follow_up_beyond_data'
        END AS rule
    FROM i LEFT JOIN {patients} p ON p.person_id = i.person_id"""


def states_sql(events: str, cohort: str, spec: PathwaySpec, data_end: dt.date) -> str:
    """One row per cohort person: ``year``, ``region``, ``dpt`` and ``s1``..``sk``, the state
    of every window (the first state of the spec's order that applies)."""
    windows = " UNION ALL ".join(
        f"SELECT {i} AS step, {w.from_day} AS from_day, {w.to_day} AS to_day"
        for i, w in enumerate(spec.windows, start=1)
    )
    ranks, case = [], []
    for r, s in enumerate(spec.states, start=1):
        if s.kind == "events":
            cond = f"{_in('e.category', [c.value for c in s.categories])} AND " + codes_match(
                s.codes, s.exclude
            )
            if s.exclude_index_stay:
                cond += " AND (e.stay_id IS NULL OR e.stay_id <> c.index_stay)"
            ranks.append(f"WHEN {cond} THEN {r}")
            case.append(f"WHEN h.rank = {r} THEN {quote_literal(s.name)}")
        elif s.kind == "death":
            case.append(f"WHEN w.death_date IS NOT NULL AND w.death_date <= w.w_end "
                        f"THEN {quote_literal(s.name)}")  # fmt: skip
        elif s.kind == "lost":
            case.append(
                f"WHEN l.last_day IS NULL OR l.last_day < w.w_start THEN {quote_literal(s.name)}"
            )
        else:
            case.append(f"ELSE {quote_literal(s.name)}")
    pivot = ", ".join(
        f"max(CASE WHEN step = {i} THEN state END) AS s{i}" for i in range(1, len(spec.windows) + 1)
    )
    lo = f"{quote_literal(data_end)}"
    return f"""WITH c AS (SELECT * FROM {cohort} WHERE rule IS NULL),
    w AS (SELECT c.person_id, c.year, c.region, c.dpt, c.death_date, v.step,
            c.anchor + v.from_day AS w_start, c.anchor + v.to_day AS w_end
          FROM c CROSS JOIN ({windows}) v),
    ev AS (SELECT e.person_id, e.start, least(coalesce(e."end", e.start), {lo}) AS stop,
            (e.stay_id IS NOT NULL AND e.stay_id = c.index_stay) AS in_index_stay,
            CASE {" ".join(ranks) or "WHEN FALSE THEN 0"} END AS rank
          FROM {events} e JOIN c ON c.person_id = e.person_id
          WHERE {_in("e.category", CARE_CATEGORIES)} AND e.start <= {lo}
            AND coalesce(e."end", e.start) >= c.index_start),
    h AS (SELECT w.person_id, w.step, min(ev.rank) AS rank FROM w JOIN ev
            ON ev.person_id = w.person_id AND ev.start <= w.w_end AND ev.stop >= w.w_start
          WHERE ev.rank IS NOT NULL GROUP BY w.person_id, w.step),
    l AS (SELECT person_id, max(stop) AS last_day FROM ev WHERE NOT in_index_stay
          GROUP BY person_id),
    st AS (SELECT w.person_id, w.year, w.region, w.dpt, w.step,
            CASE {" ".join(case)} END AS state
          FROM w LEFT JOIN h ON h.person_id = w.person_id AND h.step = w.step
          LEFT JOIN l ON l.person_id = w.person_id)
    SELECT person_id, year, region, dpt, {pivot}
    FROM st GROUP BY person_id, year, region, dpt"""


def merged_sql(states: str, k: int, min_persons: int) -> str:
    """``states`` with ``m1``..``mk``: the states after merging, window by window, every
    branch of fewer than ``min_persons`` persons in France (per year, among the persons of its
    merged parent branch) into ``other``; ``s1``..``sk`` are kept to count what was merged."""
    query = f"SELECT * FROM {states}"
    for j in range(1, k + 1):
        parent = ", ".join(["year", *(f"m{i}" for i in range(1, j))])
        query = f"""SELECT *, CASE WHEN count(*) OVER (PARTITION BY {parent}, s{j})
            < {int(min_persons)} THEN {quote_literal(OTHER)} ELSE s{j} END AS m{j}
            FROM ({query}) q{j}"""
    return query


def path_expr(depth: int, prefix: str = "m") -> str:
    """The path of the first ``depth`` windows: ``m1 || ' > ' || m2 ...`` ('ALL' at 0)."""
    if depth == 0:
        return "'ALL'"
    return f" || {quote_literal(SEP)} || ".join(f"{prefix}{i}" for i in range(1, depth + 1))


def tree_sql(merged: str, pathway: str, k: int) -> str:
    """The pathway tree over the territories: one row per year × territory (France, région,
    département) × path of 0..k windows, with the distinct persons of the path."""
    parts = []
    for depth in range(k + 1):
        state = f"m{depth}" if depth else "'index'"
        cols = ", ".join(f"m{i}" for i in range(1, depth + 1))
        group = f", {cols}" if cols else ""
        parts.append(
            f"""SELECT {quote_literal(pathway)} AS pathway, year,
                CASE WHEN grouping(dpt) = 0 THEN 'departement'
                     WHEN grouping(region) = 0 THEN 'region' ELSE 'france' END AS geo_level,
                CASE WHEN grouping(dpt) = 0 THEN dpt
                     WHEN grouping(region) = 0 THEN region ELSE 'FR' END AS geo_code,
                CASE WHEN grouping(region) = 0 THEN region END AS region,
                CAST({depth} AS BIGINT) AS depth, {path_expr(depth)} AS path,
                {state} AS state, CAST(count(*) AS BIGINT) AS persons
            FROM {merged}
            GROUP BY GROUPING SETS ((year{group}), (year, region{group}),
                                   (year, region, dpt{group}))"""
        )
    return " UNION ALL ".join(parts)
