"""SQL templates of the catalogue: every indicator spec becomes a few engine-neutral queries
(DuckDB dialect, transpiled for Spark by the engine seam) over ``events.events``,
``events.patients`` and the practitioners' table.

The steps, for one indicator:

1. ``population``: the persons of ``events.patients`` with a birth date, a sex (1 or 2) and a
   residence (département and région), fictitious NIRs left out (counted by the caller);
2. ``denominator``: one row per person and period in which the person is covered and alive
   (born on or before the period end, not dead before its start), with the strata of the period
   (age reached in the period's year, its 5-year and broad band, sex, residence), restricted to
   the spec's ages and sex;
3. ``numerator``: one row per person and period (``value`` = 1 for persons, the number of events
   for events), or per index event (readmissions), or per practitioner and period;
4. ``cells``: the finest cells (period × the requested strata), joined to a complete grid of
   the strata (empty cells are zeros) and rolled up with ``GROUPING SETS`` into every level of
   every requested stratum (France / région / département; all ages / broad bands / 5-year
   bands; both sexes / each sex). Every person of a period lies in exactly one finest cell, so
   the roll-up sums of distinct-person counts are exact.

>>> [b.label for b in AGE_5Y][:3], AGE_5Y[-1].label, [b.label for b in AGE_BROAD]
(['00-04', '05-09', '10-14'], '95+', ['00-14', '15-44', '45-64', '65-74', '75-84', '85+'])
>>> code_match(code_sets()["gp_visit"])
"(e.code IN ('SPECIALTY//1', 'SPECIALTY//22', 'SPECIALTY//23'))"
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from sndslab.engines import quote_literal
from sndslab.indicators._spec import (
    CodeSet,
    Criterion,
    Denominator,
    EventsNumerator,
    IndicatorSpec,
    PractitionersNumerator,
    ReadmissionsNumerator,
    TimeSpec,
    code_sets,
)

__all__ = [
    "AGE_5Y",
    "AGE_BROAD",
    "OUTPUT_COLUMNS",
    "AgeBand",
    "Period",
    "ages_sql",
    "cell_dims",
    "cells_sql",
    "code_match",
    "codes_match",
    "denominator_sql",
    "expenditure_sql",
    "numerator_sql",
    "periods",
    "periods_sql",
    "population_sql",
    "practitioners_sql",
    "readmissions_sql",
    "rollup_sql",
]

#: Oldest age kept (older ages are counted at this age).
MAX_AGE = 120


@dataclass(frozen=True)
class AgeBand:
    lo: int
    hi: int | None  # inclusive; None: open

    @property
    def label(self) -> str:
        return f"{self.lo:02d}+" if self.hi is None else f"{self.lo:02d}-{self.hi:02d}"

    def contains(self, age: int) -> bool:
        return age >= self.lo and (self.hi is None or age <= self.hi)


AGE_5Y: tuple[AgeBand, ...] = (
    *(AgeBand(lo, lo + 4) for lo in range(0, 95, 5)),
    AgeBand(95, None),
)
#: Broad bands, unions of 5-year bands (so that 5-year cells add up to broad cells).
AGE_BROAD: tuple[AgeBand, ...] = (
    AgeBand(0, 14),
    AgeBand(15, 44),
    AgeBand(45, 64),
    AgeBand(65, 74),
    AgeBand(75, 84),
    AgeBand(85, None),
)

#: (name, SQL type) of ``marts.indicators``, in order.
OUTPUT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("indicator", "VARCHAR"),
    ("year", "BIGINT"),
    ("month", "BIGINT"),
    ("period_start", "DATE"),
    ("period_end", "DATE"),
    ("geo_level", "VARCHAR"),
    ("geo_code", "VARCHAR"),
    ("region", "VARCHAR"),
    ("age_level", "VARCHAR"),
    ("age_band", "VARCHAR"),
    ("age_broad", "VARCHAR"),
    ("sex", "VARCHAR"),
    ("numerator", "DOUBLE"),
    ("numerator_persons", "BIGINT"),
    ("denominator", "BIGINT"),
    ("denominator_persons", "BIGINT"),
    ("rate", "DOUBLE"),
    ("unit", "BIGINT"),
    ("amount_reimbursed", "DOUBLE"),
    ("amount_paid", "DOUBLE"),
)


@dataclass(frozen=True)
class Period:
    """One period: ``month`` is 0 for a yearly period; ``start``/``end`` inclusive."""

    year: int
    month: int
    start: dt.date
    end: dt.date

    def window_start(self, lookback_years: int) -> dt.date:
        return self.start.replace(year=self.start.year - lookback_years)


def _add_months(d: dt.date, months: int) -> dt.date:
    m = d.year * 12 + d.month - 1 + months
    return dt.date(m // 12, m % 12 + 1, 1)


def periods(time: TimeSpec, years: Sequence[int]) -> list[Period]:
    """The periods of ``years``: calendar years (shifted by ``time.shift_months``) or months.

    >>> [(p.start, p.end) for p in periods(TimeSpec(unit="year", shift_months=6), [2019])]
    [(datetime.date(2019, 7, 1), datetime.date(2020, 6, 30))]
    """
    out: list[Period] = []
    for y in years:
        if time.unit == "year":
            start = _add_months(dt.date(y, 1, 1), time.shift_months)
            out.append(Period(y, 0, start, _add_months(start, 12) - dt.timedelta(days=1)))
        else:
            for m in range(1, 13):
                start = dt.date(y, m, 1)
                out.append(Period(y, m, start, _add_months(start, 1) - dt.timedelta(days=1)))
    return out


def _values(rows: Sequence[Sequence[object]], cols: Sequence[str]) -> str:
    body = ", ".join("(" + ", ".join(quote_literal(v) for v in r) + ")" for r in rows)
    return f"(SELECT * FROM (VALUES {body}) AS v({', '.join(cols)}))"


def periods_sql(items: Sequence[Period], lookback_years: int = 0) -> str:
    """The periods as a relation ``(year, month, p_start, p_end, w_start)``; ``w_start`` is
    the window start (``lookback_years`` before the period start)."""
    rows = [(p.year, p.month, p.start, p.end, p.window_start(lookback_years)) for p in items]
    return _values(rows, ["year", "month", "p_start", "p_end", "w_start"])


def ages_sql(den: Denominator) -> str:
    """``(age, age5, broad)`` for every age the denominator keeps."""
    lo = den.min_age or 0
    hi = MAX_AGE if den.max_age is None else den.max_age
    rows = []
    for age in range(lo, hi + 1):
        five = next(b for b in AGE_5Y if b.contains(age))
        broad = next(b for b in AGE_BROAD if b.contains(age))
        rows.append((age, five.label, broad.label))
    return _values(rows, ["age", "age5", "broad"])


def population_sql(patients: str, *, fictitious_column: bool) -> str:
    """Persons with a birth date, a sex and a residence (``dpt``, ``region``)."""
    fict = " AND NOT coalesce(p.fictitious_nir, FALSE)" if fictitious_column else ""
    return f"""SELECT p.person_id, CAST(p.sex AS BIGINT) AS sex, CAST(p.birth_date AS DATE) AS
        birth_date, CAST(p.death_date AS DATE) AS death_date,
        CAST(p.residence_dpt AS VARCHAR) AS dpt, CAST(p.residence_region AS VARCHAR) AS region
    FROM {patients} p
    WHERE p.person_id IS NOT NULL AND p.birth_date IS NOT NULL AND p.sex IN (1, 2)
      AND p.residence_dpt IS NOT NULL AND p.residence_region IS NOT NULL{fict}"""


def denominator_sql(population: str, items: Sequence[Period], den: Denominator) -> str:
    """One row per person and period in which the person is covered, alive and of the
    denominator's ages and sex, with the strata of the period."""
    sex = f" AND p.sex = {den.sex}" if den.sex is not None else ""
    return f"""SELECT p.person_id, v.year, v.month, v.p_start, v.p_end, p.dpt, p.region, p.sex,
        a.age5, a.broad, p.death_date
    FROM {population} p CROSS JOIN {periods_sql(items)} v
    JOIN {ages_sql(den)} a
      ON a.age = least(greatest(v.year - year(p.birth_date), 0), {MAX_AGE})
    WHERE p.birth_date <= v.p_end AND (p.death_date IS NULL OR p.death_date >= v.p_start){sex}"""


def code_match(cs: CodeSet, col: str = "e.code") -> str:
    """SQL condition: ``col`` is a code of ``cs`` (exact or prefix entries, minus excludes)."""
    return codes_match(cs.codes, cs.exclude, col)


def codes_match(codes: Sequence[str], exclude: Sequence[str] = (), col: str = "e.code") -> str:
    """SQL condition: ``col`` is one of ``codes`` (exact, or prefix when ending in ``*``) and
    none of ``exclude``.

    >>> codes_match(["ICD10//S7*", "ICD10//S720"], ["ICD10//S73*"], "c")
    "((c IN ('ICD10//S720') OR starts_with(c, 'ICD10//S7')) AND NOT (starts_with(c, 'ICD10//S73')))"
    """

    def part(items: Sequence[str]) -> str:
        exact = [c for c in items if not c.endswith("*")]
        ors = [f"starts_with({col}, {quote_literal(c[:-1])})" for c in items if c.endswith("*")]
        if exact:
            ors.insert(0, f"{col} IN ({', '.join(quote_literal(c) for c in exact)})")
        return " OR ".join(ors)

    inc = part(codes)
    return f"(({inc}) AND NOT ({part(exclude)}))" if exclude else f"({inc})"


def _criterion_where(c: Criterion, sets: dict[str, CodeSet]) -> str:
    where = [code_match(sets[c.code_set])]
    where.append(f"e.category IN ({', '.join(quote_literal(x.value) for x in c.categories)})")
    if c.sources:
        where.append(f"e.source_table IN ({', '.join(quote_literal(s) for s in c.sources)})")
    if c.modifiers:
        where.append(f"e.modifier IN ({', '.join(quote_literal(m) for m in c.modifiers)})")
    return " AND ".join(where)


def _criterion_persons(events: str, items: Sequence[Period], c: Criterion, sets: dict) -> str:
    """``(person_id, year, month)`` of the persons meeting criterion ``c`` in each period."""
    w = periods_sql(items, c.lookback_years)
    where = _criterion_where(c, sets)
    if c.active:
        return f"""SELECT DISTINCT e.person_id, w.year, w.month FROM {events} e JOIN {w} w
            ON e.start <= w.p_end AND coalesce(e."end", DATE '9999-12-31') >= w.w_start
            WHERE {where}"""
    on = "e.start >= w.w_start AND e.start <= w.p_end"
    if c.min_dates == 1:
        return f"""SELECT DISTINCT e.person_id, w.year, w.month FROM {events} e JOIN {w} w
            ON {on} WHERE {where}"""
    if not c.per_year:
        return f"""SELECT e.person_id, w.year, w.month FROM {events} e JOIN {w} w ON {on}
            WHERE {where} GROUP BY e.person_id, w.year, w.month
            HAVING count(DISTINCT e.start) >= {c.min_dates}"""
    return f"""SELECT DISTINCT x.person_id, x.year, x.month FROM (
            SELECT e.person_id, w.year, w.month FROM {events} e JOIN {w} w ON {on}
            WHERE {where} GROUP BY e.person_id, w.year, w.month, year(e.start)
            HAVING count(DISTINCT e.start) >= {c.min_dates}) x"""


def numerator_sql(events: str, items: Sequence[Period], num: EventsNumerator) -> str:
    """``(person_id, year, month, value)``: 1 per case (``count: persons``) or the number of
    matching events in the period (``count: events``)."""
    sets = code_sets()
    if num.count == "persons":
        union = " UNION ".join(_criterion_persons(events, items, c, sets) for c in num.any_of)
        return f"SELECT u.person_id, u.year, u.month, CAST(1 AS DOUBLE) AS value FROM ({union}) u"
    ors = " OR ".join(f"({_criterion_where(c, sets)})" for c in num.any_of)
    return f"""SELECT e.person_id, w.year, w.month, CAST(count(*) AS DOUBLE) AS value
        FROM {events} e JOIN {periods_sql(items)} w ON e.start >= w.p_start AND e.start <= w.p_end
        WHERE {ors} GROUP BY e.person_id, w.year, w.month"""


def expenditure_sql(events: str, items: Sequence[Period], numerator: str) -> str:
    """The numerator rows with the amounts of every event of the person in the period."""
    return f"""SELECT n.person_id, n.year, n.month, n.value,
        coalesce(sum(e.amount_reimbursed), 0) AS amount_reimbursed,
        coalesce(sum(e.amount_paid), 0) AS amount_paid
    FROM {numerator} n JOIN {periods_sql(items)} w ON w.year = n.year AND w.month = n.month
    LEFT JOIN {events} e ON e.person_id = n.person_id AND e.start >= w.p_start
        AND e.start <= w.p_end
    GROUP BY n.person_id, n.year, n.month, n.value"""


def readmissions_sql(events: str, num: ReadmissionsNumerator) -> str:
    """``(person_id, d, readmitted)``: one row per index event (``d`` its end, or its start
    when it has none), ``readmitted`` 1 when an event of ``num.readmission`` starts in
    (d, d + within_days]."""
    sets = code_sets()
    cats = ", ".join(quote_literal(c.value) for c in num.categories)
    idx_where = f"{code_match(sets[num.index])} AND e.category IN ({cats})"
    re_where = f"{code_match(sets[num.readmission])} AND e.category IN ({cats})"
    return f"""WITH idx AS (
        SELECT row_number() OVER (ORDER BY e.person_id, e.start, e."end", e.source_key) AS k,
            e.person_id, coalesce(e."end", e.start) AS d
        FROM {events} e WHERE {idx_where}),
    re AS (SELECT e.person_id, e.start FROM {events} e WHERE {re_where})
    SELECT i.k, i.person_id, i.d,
        max(CASE WHEN r.person_id IS NULL THEN 0 ELSE 1 END) AS readmitted
    FROM idx i LEFT JOIN re r ON r.person_id = i.person_id AND r.start > i.d
        AND r.start <= i.d + {num.within_days}
    GROUP BY i.k, i.person_id, i.d"""


def practitioners_sql(
    table: str, dpt_ref: str, items: Sequence[Period], num: PractitionersNumerator
) -> str:
    """``(year, month, dpt, region, practitioners)``: distinct practitioners per period and
    département of practice (from the commune of practice: ``97x`` codes for the overseas
    départements, ``0`` + 2 characters otherwise), listed in a snapshot of the period's year
    or later and installed by the period end (when the installation date is known)."""
    com = f"CAST(x.{num.commune_column} AS VARCHAR)"
    dpt = (
        f"CASE WHEN starts_with({com}, '97') THEN substr({com}, 1, 3) "
        f"ELSE '0' || substr({com}, 1, 2) END"
    )
    where = [f"x.{num.id_column} IS NOT NULL", f"{com} IS NOT NULL"]
    spe = f"CAST(x.{num.specialty_column} AS VARCHAR)"
    if num.specialties:
        where.append(f"{spe} IN ({', '.join(quote_literal(s) for s in num.specialties)})")
    if num.exclude_specialties:
        excluded = ", ".join(quote_literal(s) for s in num.exclude_specialties)
        where.append(f"coalesce({spe}, '') NOT IN ({excluded})")
    if num.natures:
        nat = f"CAST(x.{num.nature_column} AS VARCHAR)"
        where.append(f"{nat} IN ({', '.join(quote_literal(s) for s in num.natures)})")
    inst = f"TRY_CAST(substr(CAST(x.{num.install_column} AS VARCHAR), 1, 4) AS INTEGER)"
    return f"""SELECT w.year, w.month, q.dpt, q.region, count(DISTINCT q.id) AS practitioners
    FROM (SELECT CAST(x.{num.id_column} AS VARCHAR) AS id, {dpt} AS dpt,
              CAST(r.reg AS VARCHAR) AS region, TRY_CAST(x.{num.year_column} AS INTEGER) AS snap,
              {inst} AS installed
          FROM {table} x
          LEFT JOIN (SELECT GEO_DPT_COD, any_value(GEO_REG_COD) AS reg FROM {dpt_ref}
                     GROUP BY GEO_DPT_COD) r ON r.GEO_DPT_COD = {dpt}
          WHERE {" AND ".join(where)}) q
    JOIN {periods_sql(items)} w ON (q.snap IS NULL OR q.snap >= w.year)
        AND (q.installed IS NULL OR q.installed <= year(w.p_end))
    WHERE q.region IS NOT NULL
    GROUP BY w.year, w.month, q.dpt, q.region"""


# ---- cells and roll-up ------------------------------------------------------------------------
_TIME = ("year", "month", "p_start", "p_end")


def cell_dims(spec: IndicatorSpec) -> list[str]:
    """The finest-cell stratum columns of ``spec`` (besides time)."""
    dims: list[str] = []
    if "departement" in spec.strata:
        dims += ["region", "dpt"]
    elif "region" in spec.strata:
        dims += ["region"]
    if "age_5y" in spec.strata:
        dims += ["broad", "age5"]
    elif "age_broad" in spec.strata:
        dims += ["broad"]
    if spec.by_sex:
        dims += ["sex"]
    return dims


def _grid(spec: IndicatorSpec, items: Sequence[Period], geo: str) -> str:
    """Every finest cell (empty ones too): periods × geography × age bands × sexes."""
    parts = [f"(SELECT year, month, p_start, p_end FROM {periods_sql(items)} pv) t"]
    dims = cell_dims(spec)
    if "region" in dims:
        cols = "region, dpt" if "dpt" in dims else "region"
        parts.append(f"(SELECT DISTINCT {cols} FROM {geo} gv) g")
    if "broad" in dims:
        cols = "broad, age5" if "age5" in dims else "broad"
        parts.append(f"(SELECT DISTINCT {cols} FROM {ages_sql(spec.denominator)} av) a")
    if "sex" in dims:
        sexes = [spec.denominator.sex] if spec.denominator.sex else [1, 2]
        parts.append(f"(SELECT sex FROM {_values([(s,) for s in sexes], ['sex'])} sv) s")
    return "SELECT * FROM " + " CROSS JOIN ".join(parts)


def cells_sql(spec: IndicatorSpec, items: Sequence[Period], geo: str, cells: str) -> str:
    """The complete grid of finest cells filled from ``cells`` (columns: time, the stratum
    columns, ``num``, ``num_persons``, ``den``, ``den_persons``, ``amount_reimbursed``,
    ``amount_paid``); empty cells are zeros (amounts NULL when not computed)."""
    keys = [*_TIME, *cell_dims(spec)]
    on = " AND ".join(f"c.{k} = g.{k}" for k in keys)
    amounts = isinstance(spec.numerator, EventsNumerator) and spec.numerator.expenditure
    amt = (
        "coalesce(c.amount_reimbursed, 0) AS amount_reimbursed, "
        "coalesce(c.amount_paid, 0) AS amount_paid"
        if amounts
        else "CAST(NULL AS DOUBLE) AS amount_reimbursed, CAST(NULL AS DOUBLE) AS amount_paid"
    )
    return f"""SELECT {", ".join(f"g.{k}" for k in keys)},
        coalesce(c.num, 0) AS num, coalesce(c.num_persons, 0) AS num_persons,
        coalesce(c.den, 0) AS den, coalesce(c.den_persons, 0) AS den_persons, {amt}
    FROM ({_grid(spec, items, geo)}) g LEFT JOIN {cells} c ON {on}"""


def rollup_sql(spec: IndicatorSpec, filled: str) -> str:
    """Every level of every requested stratum (``GROUPING SETS``), in the columns of
    ``marts.indicators`` (:data:`OUTPUT_COLUMNS`)."""
    geo_sets = {"france": [], "region": ["region"], "departement": ["region", "dpt"]}
    age_sets = {"all": [], "age_broad": ["broad"], "age_5y": ["broad", "age5"]}
    sex_sets = [[], ["sex"]] if spec.by_sex else [[]]
    sets = [
        [*_TIME, *geo_sets[g], *age_sets[a], *s]
        for g, a, s in itertools.product(spec.geo_levels, spec.age_levels, sex_sets)
    ]
    grouping = ", ".join("(" + ", ".join(s) + ")" for s in sets)

    def level(levels: list[tuple[str, str, str]], default: tuple[str, str]) -> tuple[str, str]:
        """CASE expressions (level, code) from the finest level down."""
        lv, code = "CASE", "CASE"
        for name, col, code_expr in levels:
            lv += f" WHEN grouping({col}) = 0 THEN '{name}'"
            code += f" WHEN grouping({col}) = 0 THEN {code_expr}"
        if not levels:
            return f"'{default[0]}'", default[1]
        return lv + f" ELSE '{default[0]}' END", code + f" ELSE {default[1]} END"

    geo_lv = [("departement", "dpt", "dpt")] if "departement" in spec.strata else []
    if {"region", "departement"} & set(spec.strata):
        geo_lv.append(("region", "region", "region"))
    geo_level, geo_code = level(geo_lv, ("france", "'FR'"))
    region = "CASE WHEN grouping(region) = 0 THEN region END" if geo_lv else "NULL"
    age_lv = [("5y", "age5", "age5")] if "age_5y" in spec.strata else []
    if {"age_broad", "age_5y"} & set(spec.strata):
        age_lv.append(("broad", "broad", "broad"))
    age_level, age_band = level(age_lv, ("all", "'all'"))
    broad = "CASE WHEN grouping(broad) = 0 THEN broad END" if age_lv else "NULL"
    sex = (
        "CASE WHEN grouping(sex) = 0 THEN CAST(sex AS VARCHAR) ELSE 'all' END"
        if spec.by_sex
        else "'all'"
    )
    num, den = "sum(num)", "sum(den)"
    exprs = {
        "indicator": quote_literal(spec.name),
        "year": "year",
        "month": "CASE WHEN month = 0 THEN NULL ELSE month END",
        "period_start": "p_start",
        "period_end": "p_end",
        "geo_level": geo_level,
        "geo_code": geo_code,
        "region": region,
        "age_level": age_level,
        "age_band": age_band,
        "age_broad": broad,
        "sex": sex,
        "numerator": num,
        "numerator_persons": "sum(num_persons)",
        "denominator": den,
        "denominator_persons": "sum(den_persons)",
        "rate": f"CASE WHEN {den} > 0 THEN CAST({num} AS DOUBLE) * {spec.unit} / {den} END",
        "unit": str(spec.unit),
        # euros to the cent: the same on both engines whatever the order of the sums
        "amount_reimbursed": "round(sum(amount_reimbursed), 2)",
        "amount_paid": "round(sum(amount_paid), 2)",
    }
    cols = ",\n    ".join(f"CAST({exprs[n]} AS {t}) AS {n}" for n, t in OUTPUT_COLUMNS)
    return f"SELECT {cols}\nFROM {filled} f\nGROUP BY GROUPING SETS ({grouping})"
