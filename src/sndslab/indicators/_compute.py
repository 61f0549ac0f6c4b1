"""Compute the catalogue on a lake (either engine) and write ``marts.indicators`` (one row per
indicator × period × stratum cell) and ``marts.indicator_specs`` (one row per indicator) as a
generation of the ``marts`` layer (:func:`sndslab.lake.write_generation`).

Counts that must add up are checked where they are produced: for every indicator and period,
the France / all ages / both sexes cell equals a direct count of the numerator persons inside
the denominator and of the denominator; numerator persons outside the denominator (no birth
date, sex or residence, fictitious NIR, outside the ages or dead before the period) are counted
per indicator in the manifest, never dropped silently. A period whose window (look-back,
follow-up) is not covered by the lake's data years is skipped, with the reason.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from sndslab.engines import Connection, Engine, get_engine
from sndslab.errors import InvalidArgumentError, SndslabError
from sndslab.indicators._spec import (
    DeathsNumerator,
    EventsNumerator,
    IndicatorSpec,
    PractitionersNumerator,
    ReadmissionsNumerator,
    load_indicators,
)
from sndslab.indicators._sql import (
    OUTPUT_COLUMNS,
    Period,
    cell_dims,
    cells_sql,
    denominator_sql,
    expenditure_sql,
    numerator_sql,
    periods,
    population_sql,
    practitioners_sql,
    readmissions_sql,
    rollup_sql,
)
from sndslab.lake import LakePaths, read_manifest, relation, relation_or_none, write_generation

__all__ = [
    "INDICATORS_ORDER",
    "IndicatorAccountingError",
    "IndicatorRun",
    "IndicatorsResult",
    "compute_indicators",
    "data_years",
    "run_catalogue",
]

#: Sort key of ``marts.indicators``.
INDICATORS_ORDER = (
    "indicator", "year", "month", "geo_level", "geo_code", "age_level", "age_band", "sex",
)  # fmt: skip
#: A year belongs to the data window when it holds at least this share of the busiest year's
#: dispensings and visits (a stray date does not stretch the window).
MIN_YEAR_SHARE = 0.05


class IndicatorAccountingError(SndslabError):
    """Cell counts of an indicator do not add up to its direct counts (a bug, named)."""


@dataclass(frozen=True)
class IndicatorRun:
    """What was computed for one indicator: periods, rows, and the accounting.

    ``numerator_units``: numerator rows inside the denominator, summed over the periods
    (person-periods; index stays for a readmission rate; practitioner-periods for a density);
    ``outside_denominator``: numerator rows outside it (counted, not written).
    """

    name: str
    periods: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    rows: int = 0
    numerator_units: int = 0
    outside_denominator: int = 0


@dataclass
class IndicatorsResult:
    """What :func:`compute_indicators` wrote (read it with
    ``sndslab.open_lake(lake).table("marts.indicators")``)."""

    lake: str
    generation: int
    years: tuple[int, ...]
    data_years: tuple[int, int]
    runs: list[IndicatorRun] = field(default_factory=list)
    rows: int = 0
    population: dict[str, int] = field(default_factory=dict)

    def run(self, name: str) -> IndicatorRun:
        return next(r for r in self.runs if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "years": list(self.years),
            "data_years": list(self.data_years),
            "population": self.population,
            "indicators": [asdict(r) for r in self.runs],
        }


def data_years(con: Connection, events: str) -> tuple[int, int]:
    """First and last year of the lake's care data: years whose dispensings and visits reach
    :data:`MIN_YEAR_SHARE` of the busiest year (ALD starts and death causes are not care)."""
    rows = con.fetchall(
        f"""SELECT CAST(year(e.start) AS BIGINT) AS y, count(*) AS n FROM {events} e
        WHERE e.category IN ('dispensing', 'visit') GROUP BY year(e.start)"""
    )
    if not rows:
        raise SndslabError("the lake's events hold no dispensing or visit: no data years")
    top = max(int(n) for _, n in rows)
    kept = sorted(int(y) for y, n in rows if int(n) >= MIN_YEAR_SHARE * top)
    return kept[0], kept[-1]


def _window(spec: IndicatorSpec, p: Period) -> tuple[dt.date, dt.date]:
    """The days of data a period of ``spec`` needs."""
    num = spec.numerator
    start, end = p.start, p.end
    if isinstance(num, EventsNumerator):
        start = min(p.window_start(c.lookback_years) for c in num.any_of)
    if isinstance(num, ReadmissionsNumerator):
        end = p.end + dt.timedelta(days=num.within_days)
    return start, end


def _label(p: Period) -> str:
    return f"{p.year}" if p.month == 0 else f"{p.year}-{p.month:02d}"


def _no_amounts(numerator: str) -> str:
    """The numerator rows with NULL amounts (indicators without expenditure)."""
    nulls = "CAST(NULL AS DOUBLE) AS amount_reimbursed, CAST(NULL AS DOUBLE) AS amount_paid"
    return f"(SELECT *, {nulls} FROM {numerator})"


class _Run:
    """One computation of the catalogue on a connection (temporary relations ``_ind_*``)."""

    def __init__(self, con: Connection, paths: LakePaths) -> None:
        self.con = con
        self.paths = paths
        self.created: list[str] = []
        self.events = relation(con, paths, "events.events")
        self._pops: dict[str, str] = {}
        self._dens: dict[str, str] = {}
        self.population: dict[str, int] = {}

    def table(self, name: str, query: str) -> str:
        self.con.create_table(name, query)
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        for name in reversed(self.created):
            with contextlib.suppress(Exception):  # temp relations only: never hide an error
                self.con.drop(name)
        self.created.clear()

    @staticmethod
    def empty() -> str:
        """An empty relation with the columns of ``marts.indicators``."""
        return f"({_empty_result()})"

    # ---- population and denominators ---------------------------------------------------------
    def population_of(self, table: str) -> str:
        if table in self._pops:
            return self._pops[table]
        rel = relation(self.con, self.paths, table)
        cols = {c for c, _ in self.con.describe(f"SELECT * FROM {rel} LIMIT 0")}
        fict = "fictitious_nir" in cols
        name = self.table(f"_ind_pop{len(self._pops)}", population_sql(rel, fictitious_column=fict))
        f_count = "count(*) FILTER (WHERE coalesce(fictitious_nir, FALSE))" if fict else "0"
        row = (
            self.con.fetchone(
                f"""SELECT count(*), count(*) FILTER (WHERE birth_date IS NULL),
                count(*) FILTER (WHERE sex IS NULL OR sex NOT IN (1, 2)),
                count(*) FILTER (WHERE residence_dpt IS NULL OR residence_region IS NULL),
                {f_count} FROM {rel}"""
            )
            or (0,) * 5
        )
        kept = int(self.con.scalar(f"SELECT count(*) FROM {name}"))
        total, no_birth, bad_sex, no_res, fictitious = (int(v or 0) for v in row)
        self.population[table] = kept
        self.population[f"{table}.excluded"] = total - kept
        self.population[f"{table}.no_birth_date"] = no_birth
        self.population[f"{table}.no_sex"] = bad_sex
        self.population[f"{table}.no_residence"] = no_res
        self.population[f"{table}.fictitious_nir"] = fictitious
        self._pops[table] = name
        return name

    def denominator(self, spec: IndicatorSpec, items: Sequence[Period]) -> str:
        den = spec.denominator
        key = json.dumps(
            [den.table, den.min_age, den.max_age, den.sex, [_label(p) for p in items],
             [str(p.start) for p in items]]
        )  # fmt: skip
        if key not in self._dens:
            pop = self.population_of(den.table)
            self._dens[key] = self.table(
                f"_ind_den{len(self._dens)}", denominator_sql(pop, items, den)
            )
        return self._dens[key]

    # ---- one indicator -------------------------------------------------------------------------
    def indicator(
        self, i: int, spec: IndicatorSpec, items: Sequence[Period]
    ) -> tuple[str, int, int]:
        """Materialise the result rows of ``spec`` as ``_ind_res<i>``; returns (relation,
        numerator persons in the denominator, numerator persons outside it)."""
        pop = self.population_of(spec.denominator.table)
        den = self.denominator(spec, items)
        dims = cell_dims(spec)
        keys = ", ".join(f"d.{k}" for k in ("year", "month", "p_start", "p_end", *dims))
        geo = f"(SELECT region, dpt FROM {pop})"
        num = spec.numerator
        if isinstance(num, EventsNumerator | DeathsNumerator):
            if isinstance(num, EventsNumerator):
                raw = self.table(f"_ind_num{i}", numerator_sql(self.events, items, num))
                numx = (
                    self.table(f"_ind_amt{i}", expenditure_sql(self.events, items, raw))
                    if num.expenditure
                    else _no_amounts(raw)
                )
            else:
                raw = self.table(
                    f"_ind_num{i}",
                    f"""SELECT person_id, year, month, CAST(1 AS DOUBLE) AS value FROM {den}
                    WHERE death_date >= p_start AND death_date <= p_end""",
                )
                numx = _no_amounts(raw)
            cells = f"""(SELECT {keys}, count(*) AS den, count(*) AS den_persons,
                count(n.person_id) AS num_persons, sum(n.value) AS num,
                sum(n.amount_reimbursed) AS amount_reimbursed, sum(n.amount_paid) AS amount_paid
                FROM {den} d LEFT JOIN {numx} n ON n.person_id = d.person_id
                    AND n.year = d.year AND n.month = d.month
                GROUP BY {keys})"""
            inside, total = self._num_counts(raw, den, "person_id")
        elif isinstance(num, ReadmissionsNumerator):
            raw = self.table(f"_ind_num{i}", readmissions_sql(self.events, num))
            cells = f"""(SELECT {keys}, count(*) AS den, count(DISTINCT d.person_id) AS den_persons,
                count(DISTINCT CASE WHEN n.readmitted = 1 THEN n.person_id END) AS num_persons,
                sum(n.readmitted) AS num, CAST(NULL AS DOUBLE) AS amount_reimbursed,
                CAST(NULL AS DOUBLE) AS amount_paid
                FROM {raw} n JOIN {den} d ON d.person_id = n.person_id
                    AND n.d >= d.p_start AND n.d <= d.p_end
                GROUP BY {keys})"""
            inside, total = self._index_counts(raw, den, items)
        else:
            assert isinstance(num, PractitionersNumerator)
            raw = prac = self.table(
                f"_ind_num{i}",
                practitioners_sql(
                    relation(self.con, self.paths, num.table),
                    relation(self.con, self.paths, "int.ref_ir_dpt_v"),
                    items,
                    num,
                ),
            )
            pk = ", ".join(("year", "month", *dims))
            cdims = "".join(", c." + k for k in dims)
            cells = f"""(SELECT c.year, c.month, t.p_start, t.p_end{cdims},
                sum(c.num) AS num, sum(c.num) AS num_persons, sum(c.den) AS den,
                sum(c.den) AS den_persons, CAST(NULL AS DOUBLE) AS amount_reimbursed,
                CAST(NULL AS DOUBLE) AS amount_paid
                FROM (SELECT {pk}, 0 AS num, count(*) AS den FROM {den} GROUP BY {pk}
                      UNION ALL SELECT {pk}, practitioners AS num, 0 AS den FROM {prac}) c
                JOIN (SELECT DISTINCT year, month, p_start, p_end FROM {den}) t
                    ON t.year = c.year AND t.month = c.month
                GROUP BY c.year, c.month, t.p_start, t.p_end{cdims})"""
            geo = f"(SELECT region, dpt FROM {pop} UNION SELECT region, dpt FROM {prac})"
            inside = int(self.con.scalar(f"SELECT coalesce(sum(practitioners), 0) FROM {prac}"))
            total = inside
        filled = self.table(f"_ind_cell{i}", cells_sql(spec, items, geo, cells))
        res = self.table(f"_ind_res{i}", rollup_sql(spec, filled))
        self._check(spec, res, den, raw, items)
        return res, inside, total - inside

    def _num_counts(self, raw: str, den: str, key: str) -> tuple[int, int]:
        row = self.con.fetchone(
            f"""SELECT count(*), count(d.{key}) FROM {raw} n LEFT JOIN {den} d
            ON d.{key} = n.{key} AND d.year = n.year AND d.month = n.month"""
        ) or (0, 0)
        return int(row[1] or 0), int(row[0] or 0)

    def _index_counts(self, raw: str, den: str, items: Sequence[Period]) -> tuple[int, int]:
        lo, hi = min(p.start for p in items), max(p.end for p in items)
        row = self.con.fetchone(
            f"""SELECT count(*), count(d.person_id) FROM {raw} n LEFT JOIN {den} d
            ON d.person_id = n.person_id AND n.d >= d.p_start AND n.d <= d.p_end
            WHERE n.d >= DATE '{lo}' AND n.d <= DATE '{hi}'"""
        ) or (0, 0)
        return int(row[1] or 0), int(row[0] or 0)

    def _per_period(self, query: str) -> dict[tuple[int, int], int]:
        """``(year, month) -> count`` from a query of (year, month, count) rows."""
        return {(int(y), int(m or 0)): int(n or 0) for y, m, n in self.con.fetchall(query)}

    def _check(
        self, spec: IndicatorSpec, res: str, den: str, raw: str, items: Sequence[Period]
    ) -> None:
        """The France / all / all cell of every period equals the direct counts."""
        top_where = "geo_level = 'france' AND age_level = 'all' AND sex = 'all'"
        top_num = self._per_period(
            f"SELECT year, month, numerator_persons FROM {res} WHERE {top_where}"
        )
        top_den = self._per_period(f"SELECT year, month, denominator FROM {res} WHERE {top_where}")
        num = spec.numerator
        in_den = f"{raw} n JOIN {den} d ON d.person_id = n.person_id"
        if isinstance(num, ReadmissionsNumerator):
            in_den += " AND n.d >= d.p_start AND n.d <= d.p_end"
            direct_num = self._per_period(
                f"""SELECT d.year, d.month, count(DISTINCT n.person_id) FROM {in_den}
                WHERE n.readmitted = 1 GROUP BY d.year, d.month"""
            )
            direct_den = self._per_period(
                f"SELECT d.year, d.month, count(*) FROM {in_den} GROUP BY d.year, d.month"
            )
        else:
            direct_den = self._per_period(
                f"SELECT year, month, count(*) FROM {den} GROUP BY year, month"
            )
            direct_num = self._per_period(
                f"SELECT year, month, sum(practitioners) FROM {raw} GROUP BY year, month"
                if isinstance(num, PractitionersNumerator)
                else f"""SELECT n.year, n.month, count(DISTINCT n.person_id) FROM {in_den}
                    AND d.year = n.year AND d.month = n.month GROUP BY n.year, n.month"""
            )
        for p in items:
            key = (p.year, p.month)
            got = (top_num.get(key), top_den.get(key))
            want = (direct_num.get(key, 0), direct_den.get(key, 0))
            if got != want:
                raise IndicatorAccountingError(
                    f"indicator {spec.name!r}, period {_label(p)}: cells give (numerator persons,"
                    f" denominator) {got}, direct counts {want}"
                )


def _select_years(
    years: Iterable[int] | tuple[int, int] | None, window: tuple[int, int]
) -> tuple[int, ...]:
    if years is None:
        return tuple(range(window[0], window[1] + 1))
    chosen = tuple(sorted(set(int(y) for y in years)))
    outside = [y for y in chosen if not window[0] <= y <= window[1]]
    if outside:
        raise InvalidArgumentError(
            f"year(s) {outside} are outside the lake's data years {window[0]}-{window[1]}"
        )
    return chosen


def run_catalogue(
    con: Connection,
    paths: LakePaths,
    specs: Sequence[IndicatorSpec],
    years: Iterable[int] | None = None,
) -> tuple[
    _Run, list[tuple[IndicatorSpec, str | None, IndicatorRun]], tuple[int, ...], tuple[int, int]
]:
    """Compute ``specs`` on ``con``; returns the run (its temporary relations are dropped by
    the caller with ``run.drop_all()``), per spec its result relation (None when no period
    could be computed) and run record, the years and the data years."""
    run = _Run(con, paths)
    window = data_years(con, run.events)
    chosen = _select_years(years, window)
    lo, hi = dt.date(window[0], 1, 1), dt.date(window[1], 12, 31)
    out: list[tuple[IndicatorSpec, str | None, IndicatorRun]] = []
    for i, spec in enumerate(specs):
        items, skipped = [], []
        for p in periods(spec.time, chosen):
            start, end = _window(spec, p)
            if start < lo or end > hi:
                skipped.append(
                    f"{_label(p)}: needs data from {start} to {end}, the lake has {lo} to {hi}"
                )
            else:
                items.append(p)
        if not items:
            out.append((spec, None, IndicatorRun(spec.name, skipped=tuple(skipped))))
            continue
        try:
            res, inside, outside = run.indicator(i, spec, items)
        except SndslabError:
            raise
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise SndslabError(f"indicator {spec.name!r} ({spec.path}) failed: {first}") from exc
        rows = int(con.scalar(f"SELECT count(*) FROM {res}"))
        record = IndicatorRun(
            spec.name,
            periods=tuple(_label(p) for p in items),
            skipped=tuple(skipped),
            rows=rows,
            numerator_units=inside,
            outside_denominator=outside,
        )
        out.append((spec, res, record))
    return run, out, chosen, window


def _spec_rows(specs: Sequence[IndicatorSpec]) -> pa.Table:
    def text(s: IndicatorSpec) -> str:
        return hashlib.sha256(s.model_dump_json().encode()).hexdigest()[:16]

    cols: dict[str, list[Any]] = {
        "indicator": [s.name for s in specs],
        "family": [s.family for s in specs],
        "title_fr": [s.title.fr for s in specs],
        "title_en": [s.title.en for s in specs],
        "description_fr": [s.description.fr for s in specs],
        "description_en": [s.description.en for s in specs],
        "unit": [int(s.unit) for s in specs],
        "time_unit": [s.time.unit for s in specs],
        "strata": [",".join(s.strata) for s in specs],
        "numerator_source": [s.numerator.source for s in specs],
        "numerator_count": [s.numerator.count for s in specs],
        "source": [s.source for s in specs],
        "deviations": [s.deviations for s in specs],
        "synthetic_note": [s.synthetic_note for s in specs],
        "spec_hash": [text(s) for s in specs],
    }
    schema = pa.schema([(k, pa.int64() if k == "unit" else pa.string()) for k in cols])
    return pa.table(cols, schema=schema)


def _empty_result() -> str:
    cols = ", ".join(f"CAST(NULL AS {t}) AS {n}" for n, t in OUTPUT_COLUMNS)
    return f"SELECT {cols} FROM (SELECT 1 AS one) x WHERE 1 = 0"


def compute_indicators(
    lake: Path | str,
    *,
    only: Sequence[str] | None = None,
    years: Iterable[int] | None = None,
    specs: Sequence[IndicatorSpec] | None = None,
    con: Connection | None = None,
    engine: str | Engine = "duckdb",
    notes: list[str] | None = None,
) -> IndicatorsResult:
    """Compute the catalogue (or the indicators named in ``only``, or ``specs``) for ``years``
    (default: the lake's data years) and write ``marts.indicators`` and
    ``marts.indicator_specs`` as a new generation of the ``marts`` layer. Rows of indicators
    and years not recomputed are carried over from the previous generation, and so are the
    other tables of the layer."""
    root = str(lake)
    chosen_specs = (
        list(specs)
        if specs is not None
        else load_indicators(names=None if only is None else list(only))
    )
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
        run, results, chosen, window = run_catalogue(connection, paths, chosen_specs, years)
        computed = [(s, r) for s, r, _ in results if r is not None]
        union = " UNION ALL ".join([_empty_result(), *(f"SELECT * FROM {r}" for _, r in computed)])
        pairs = sorted(
            {(s.name, int(p.split("-")[0])) for s, _, rec in results for p in rec.periods}
        )
        inputs = {"events_generation": read_manifest(paths, "events").generation}
        config = {
            "indicators": [s.model_dump(mode="json") for s in chosen_specs],
            "years": list(chosen),
        }
        with write_generation(
            paths, "marts", connection, config=config, inputs=inputs, notes=notes
        ) as w:
            prev_rows, prev_specs = _previous(w, pairs, [s.name for s in chosen_specs])
            # specs first: the indicators' relationship test reads marts.indicator_specs
            connection.register_arrow("_ind_specs_new", _spec_rows(chosen_specs))
            run.created.append("_ind_specs_new")
            w.write(
                "indicator_specs",
                " UNION ALL ".join(["SELECT * FROM _ind_specs_new", *prev_specs]),
                order_by=["indicator"],
            )
            total = w.write(
                "indicators",
                " UNION ALL ".join([union, *prev_rows]),
                order_by=list(INDICATORS_ORDER),
            )
            w.carry_rest()
            result = IndicatorsResult(
                lake=root,
                generation=w.generation,
                years=chosen,
                data_years=window,
                runs=[rec for _, _, rec in results],
                rows=total,
                population=dict(run.population),
            )
            w.counts.update({"indicators": result.to_dict()})
        return result
    finally:
        if run is not None:
            run.drop_all()
        if own:
            connection.close()


def _previous(
    w: Any, pairs: list[tuple[str, int]], names: list[str]
) -> tuple[list[str], list[str]]:
    """Queries of the previous generation's rows to keep: indicator rows whose (indicator,
    year) was not recomputed, spec rows of indicators not recomputed."""
    rows: list[str] = []
    rel = w.previous_relation("indicators")
    if rel is not None:
        cols = ", ".join(f"p.{n}" for n, _ in OUTPUT_COLUMNS)
        if pairs:
            vals = ", ".join(f"('{n}', {y})" for n, y in pairs)
            rows.append(
                f"""SELECT {cols} FROM {rel} p WHERE NOT EXISTS (SELECT 1 FROM
                (VALUES {vals}) AS r(indicator, year) WHERE r.indicator = p.indicator
                AND r.year = p.year)"""
            )
        else:
            rows.append(f"SELECT {cols} FROM {rel} p")
    return rows, w.kept_rows("indicator_specs", "indicator", names)
