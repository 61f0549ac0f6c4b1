"""Indicators on Open DAMIR aggregates: consumption per capita by région × period, crude and
age-standardised, with the population protégée as denominator, monthly series and ITS.

Open DAMIR lines are cells (care month × région × age band × sex × prestation × specialty…)
with no person count, so the events-based specs of :mod:`sndslab.indicators` (numerators on
``events.events``) do not apply; an Open DAMIR indicator is a small YAML spec
(``supply/damir_specs/*.yaml``, twin :class:`DamirIndicatorSpec`) naming the measure column
(``PRS_ACT_QTE`` for counts, ``PRS_REM_MNT`` for amounts), the code filters (``PRS_NAT``,
``PSE_SPE_SNDS``…), the unit and the time unit, with the same ``title`` / ``description`` /
``source`` fields as the indicator specs. The statistics are those of
:mod:`sndslab.indicators.stats`: exact Poisson intervals of crude rates (:func:`crude_rate`),
direct standardisation with Fay-Feuer intervals over the ESP 2013 collapsed to the Open DAMIR
age bands (:func:`standardise_table`), and the segmented regression of
:func:`interrupted_time_series` on the national monthly series (population offset).

Rows of unknown care period (``SOI_ANN``, or ``SOI_MOI`` for monthly specs, empty), région
(``BEN_RES_REG`` 99, 0 or empty), age band (99 or empty) or sex (not 1 or 2) are counted per rule
in ``accounting_`` and left out of the rates. A région of the data without population
in the population file is an error naming it.

>>> [s.name for s in load_damir_indicators()]
['gp_consultations', 'gp_consultations_monthly', 'reimbursed_amount']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Self

import duckdb
import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sndslab._yaml import read_yaml_mapping
from sndslab.analysis import Analysis, ReleaseCandidate
from sndslab.errors import InvalidArgumentError, SndslabError
from sndslab.indicators._spec import Text
from sndslab.indicators.stats import (
    FIRST_LOCKDOWN_FRANCE,
    ITSResult,
    crude_rate,
    interrupted_time_series,
    standard_population,
    standardise_table,
)
from sndslab.supply._population import (
    OPENDAMIR_AGE_BANDS,
    PopulationError,
    PopulationFile,
    population_from_lake,
    read_population,
)
from sndslab.supply._sources import OPENDAMIR_TABLE, opendamir_relation

__all__ = [
    "DAMIR_SPECS_DIR",
    "DamirIndicatorSpec",
    "OpenDamirIndicators",
    "damir_standard",
    "load_damir_indicators",
]

DAMIR_SPECS_DIR = Path(__file__).parent / "damir_specs"
#: Coded columns an Open DAMIR spec may filter on (integer codes of the lexicon).
FILTER_COLUMNS = (
    "PRS_NAT",
    "PSE_SPE_SNDS",
    "PSE_ACT_CAT",
    "PSE_ACT_SNDS",
    "PSP_SPE_SNDS",
    "PSP_ACT_CAT",
    "ASU_NAT",
    "EXO_MTF",
    "CPT_ENV_TYP",
    "PRS_PPU_SEC",
    "ETE_CAT_SNDS",
    "MDT_TYP_COD",
)
MEASURES = (
    "PRS_ACT_QTE",
    "PRS_ACT_NBR",
    "PRS_PAI_MNT",
    "PRS_REM_MNT",
    "PRS_REM_BSE",
    "PRS_DEP_MNT",
)


class DamirIndicatorSpec(BaseModel):
    """One Open DAMIR indicator (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: Text
    description: Text
    source: str = Field(min_length=1)
    measure: Literal[MEASURES]  # type: ignore[valid-type]
    kind: Literal["count", "amount"]
    unit: Literal[1, 100, 1000, 100000]
    time: Literal["year", "month"] = "year"
    where: dict[str, tuple[int, ...]] = Field(default_factory=dict)

    @field_validator("where")
    @classmethod
    def _where(cls, v: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
        for col, codes in v.items():
            if col not in FILTER_COLUMNS:
                raise ValueError(f"cannot filter on {col!r} (known: {', '.join(FILTER_COLUMNS)})")
            if not codes:
                raise ValueError(f"{col}: at least one code")
        return v


def load_damir_indicators(
    names: Sequence[str] | None = None, extra_dirs: Sequence[Path] = ()
) -> list[DamirIndicatorSpec]:
    """The shipped Open DAMIR specs plus ``*.yaml`` of ``extra_dirs``; errors name the file."""
    files = sorted(DAMIR_SPECS_DIR.glob("*.yaml"))
    for d in extra_dirs:
        files += sorted(Path(d).glob("*.yaml"))
    specs: dict[str, DamirIndicatorSpec] = {}
    for f in files:
        raw = read_yaml_mapping(f, "Open DAMIR spec", InvalidArgumentError)
        try:
            spec = DamirIndicatorSpec.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(p) for p in err["loc"])
            raise InvalidArgumentError(f"Open DAMIR spec {f}: {loc}: {err['msg']}") from exc
        if spec.name != f.stem:
            raise InvalidArgumentError(f"Open DAMIR spec {f}: name {spec.name!r} ≠ file name")
        if spec.name in specs:
            raise InvalidArgumentError(f"Open DAMIR spec {f}: duplicate name {spec.name!r}")
        specs[spec.name] = spec
    if names is None:
        return list(specs.values())
    unknown = sorted(set(names) - set(specs))
    if unknown:
        raise InvalidArgumentError(
            f"unknown Open DAMIR indicator(s) {unknown}; known: {', '.join(sorted(specs))}"
        )
    return [specs[n] for n in names]


def damir_standard(name: str = "esp2013") -> np.ndarray:
    """A shipped standard population collapsed to the Open DAMIR age bands (0–19, 20–29, …,
    80+): sums of its 5-year bands.

    >>> w = damir_standard()
    >>> len(w), int(w.sum())
    (8, 100000)
    """
    std = standard_population(name)
    bounds = np.asarray(OPENDAMIR_AGE_BANDS, dtype=np.int64)
    idx = np.searchsorted(bounds, std.age_low, side="right") - 1
    return np.bincount(idx, weights=std.weights, minlength=len(bounds)).astype(np.float64)


def _cells(
    lake: Any, rel: str, spec: DamirIndicatorSpec, years: Sequence[int] | None, direct: bool
) -> pa.Table:
    where = [
        f"{col} IN ({', '.join(str(int(c)) for c in codes)})" for col, codes in spec.where.items()
    ]
    if years:
        where.append(f"SOI_ANN IN ({', '.join(str(int(y)) for y in years)})")
    month = "CAST(SOI_MOI AS BIGINT)" if spec.time == "month" else "CAST(0 AS BIGINT)"
    # an empty axis (a column the export did not detail) is its unknown code: counted per
    # rule in ``accounting_`` like the code itself (NULL care year or month: unknown period)
    query = f"""SELECT CAST(SOI_ANN AS BIGINT) AS year, {month} AS month,
            CAST(BEN_RES_REG AS VARCHAR) AS territory,
            CAST(coalesce(AGE_BEN_SNDS, 99) AS BIGINT) AS age_band,
            CAST(coalesce(BEN_SEX_COD, 9) AS BIGINT) AS sex,
            CAST(sum({spec.measure}) AS DOUBLE) AS value,
            count(*) AS lines
        FROM {rel} {"WHERE " + " AND ".join(where) if where else ""}
        GROUP BY ALL"""
    rows: pa.Table = (lake.con.sql(query) if direct else lake.sql(query)).to_arrow()
    return rows


class OpenDamirIndicators(Analysis):
    """Open DAMIR indicators ``only`` (default: every shipped spec) for ``years`` (default:
    every care year of the data), by région and France, with the population file
    ``population`` (a path, or ``"lake"``: derived from the lake's beneficiaries).

    Results: ``table_`` (one row per indicator × period × territory: numerator, population,
    crude rate with its exact Poisson interval for counts, age-standardised rate with its
    Fay-Feuer interval for counts), ``its_`` (monthly specs: indicator → :class:`ITSResult`
    on the national series, or the reason it was not fitted), ``accounting_``.
    """

    def __init__(
        self,
        only: Sequence[str] | None = None,
        population: str | Path = "lake",
        table: str | Path = OPENDAMIR_TABLE,
        years: Sequence[int] | None = None,
        standard: str = "esp2013",
        break_date: dt.date = FIRST_LOCKDOWN_FRANCE,
        level: float = 0.95,
    ):
        self.only = only
        self.population = population
        self.table = table
        self.years = years
        self.standard = standard
        self.break_date = break_date
        self.level = level

    def _population(self, lake: Any, years: list[int]) -> PopulationFile:
        if str(self.population) == "lake":
            return population_from_lake(lake, years, level="region")
        pop = read_population(self.population)
        if pop.territory_level != "region":
            raise PopulationError("Open DAMIR indicators need a population file by région")
        return pop

    def fit(self, lake: Any) -> Self:
        specs = load_damir_indicators(self.only)
        rel = opendamir_relation(lake, self.table)
        direct = rel != str(self.table)
        cells = {s.name: _cells(lake, rel, s, self.years, direct) for s in specs}
        years = sorted(
            {int(y) for t in cells.values() for y in t.column("year").to_pylist() if y is not None}
        )
        if not years:
            if any(t.num_rows for t in cells.values()):
                raise InvalidArgumentError(
                    "the Open DAMIR lines of these indicators have no care year (SOI_ANN "
                    "empty: files exported without that axis; export with --axis SOI_ANN, and "
                    "--axis SOI_MOI for monthly indicators)"
                )
            raise InvalidArgumentError("no Open DAMIR line for these indicators and years")
        pop = self._population(lake, years).to_arrow()
        covered = {
            (int(y), str(t))
            for y, t in zip(
                pop.column("year").to_pylist(), pop.column("territory").to_pylist(), strict=True
            )
        }
        weights = damir_standard(self.standard)
        parts, accounting, its = [], {}, {}
        for spec in specs:
            table, acc = self._one(spec, cells[spec.name], pop, covered, weights)
            parts.append(table)
            accounting[spec.name] = acc
            if spec.time == "month":
                its[spec.name] = self._its(table)
        self.table_ = pa.concat_tables(parts)
        self.accounting_ = accounting
        self.its_ = its
        self.years_ = years
        return self

    def _one(
        self,
        spec: DamirIndicatorSpec,
        cells: pa.Table,
        pop: pa.Table,
        covered: set[tuple[int, str]],
        weights: np.ndarray,
    ) -> tuple[pa.Table, dict[str, float]]:
        col = {c: np.asarray(cells.column(c).to_pylist(), dtype=object) for c in cells.column_names}
        terr = col["territory"].astype(str)
        value = col["value"].astype(np.float64)
        lines = col["lines"].astype(np.float64)
        bad_period = np.asarray([y is None for y in col["year"]], dtype=bool)
        if spec.time == "month":
            bad_period |= np.asarray([m is None or not 1 <= m <= 12 for m in col["month"]], bool)
        bad_region = ~bad_period & np.isin(terr, ["99", "0", "None"])
        bands = np.asarray(OPENDAMIR_AGE_BANDS)
        bad_age = ~bad_period & ~bad_region & ~np.isin(col["age_band"].astype(np.int64), bands)
        bad_sex = (
            ~bad_period & ~bad_region & ~bad_age & ~np.isin(col["sex"].astype(np.int64), [1, 2])
        )
        keep = ~(bad_period | bad_region | bad_age | bad_sex)
        acc = {
            "lines": float(lines.sum()),
            "value": float(value.sum()),
            "lines_unknown_period": float(lines[bad_period].sum()),
            "lines_unknown_region": float(lines[bad_region].sum()),
            "lines_unknown_age": float(lines[bad_age].sum()),
            "lines_unknown_sex": float(lines[bad_sex].sum()),
            "lines_kept": float(lines[keep].sum()),
            "value_kept": float(value[keep].sum()),
        }
        kept = cells.filter(pa.array(keep))
        have = {
            (int(y), str(t))
            for y, t in zip(
                kept.column("year").to_pylist(), kept.column("territory").to_pylist(), strict=True
            )
        }
        missing = sorted(have - covered)
        if missing:
            raise PopulationError(
                f"the population file does not cover région {missing[0][1]!r} in "
                f"{missing[0][0]} (a territory of the Open DAMIR data, indicator {spec.name})"
                + (f"; nor {missing[1:4]}" if len(missing) > 1 else "")
            )
        # Aggregate cells only (periods × régions × 8 age bands): a private DuckDB on Arrow.
        con = duckdb.connect()
        try:
            con.register("c", kept)
            con.register("p", pop)
            # every month of every year of the data (a month without acts counts zero)
            months = (
                "SELECT CAST(unnest(range(1, 13)) AS BIGINT) AS month"
                if spec.time == "month"
                else "SELECT CAST(0 AS BIGINT) AS month"
            )
            long = con.sql(
                f"""WITH acts AS (SELECT year, month, territory, age_band, sum(value) AS value
                                 FROM c GROUP BY ALL),
                     -- every Open DAMIR band of every (year, territory) of the population
                     -- file, 0 where the file has no row: acts of a band without population
                     -- stay in the numerator (the standardised rate is then NULL)
                     bands AS (SELECT CAST(unnest({list(OPENDAMIR_AGE_BANDS)}) AS BIGINT)
                                      AS age_band),
                     persons AS (SELECT t.year, t.territory, b.age_band,
                                        coalesce(sum(p.population), 0) AS population
                                 FROM (SELECT DISTINCT year, territory FROM p) t
                                 CROSS JOIN bands b
                                 LEFT JOIN p ON p.year = t.year AND p.territory = t.territory
                                     AND p.age_band = b.age_band
                                 GROUP BY ALL),
                     months AS ({months}),
                     grid AS (SELECT q.year, q.month, persons.territory, persons.age_band,
                                     persons.population
                              FROM (SELECT y.year, m.month FROM (SELECT DISTINCT year FROM c) y
                                    CROSS JOIN months m) q
                              JOIN persons ON persons.year = q.year)
                SELECT g.year, g.month, coalesce(g.territory, 'FR') AS territory, g.age_band,
                       sum(coalesce(a.value, 0)) AS value, sum(g.population) AS population
                FROM grid g LEFT JOIN acts a ON a.year = g.year AND a.month = g.month
                    AND a.territory = g.territory AND a.age_band = g.age_band
                GROUP BY GROUPING SETS ((g.year, g.month, g.territory, g.age_band),
                                        (g.year, g.month, g.age_band))
                ORDER BY 1, 2, 3, 4"""
            ).to_arrow_table()
        finally:
            con.close()
        bands = np.asarray(OPENDAMIR_AGE_BANDS, dtype=np.int64)
        band_idx = np.searchsorted(bands, long.column("age_band").to_numpy())
        long = long.append_column("band", pa.array(band_idx.astype(np.int64)))
        return self._rates(spec, long, weights), acc

    def _rates(self, spec: DamirIndicatorSpec, long: pa.Table, weights: np.ndarray) -> pa.Table:
        """Crude and standardised rates per period × territory from the long table."""
        by = ["year", "month", "territory"]
        counts = spec.kind == "count"
        value = np.asarray(long.column("value").to_numpy(), dtype=np.float64)
        if counts:
            if np.any(value < 0):
                raise SndslabError(
                    f"{spec.name}: a cell has a negative net count after regularisations"
                )
            long = long.set_column(
                long.column_names.index("value"), "value", pa.array(np.round(value))
            )
        std = _standardised(long, by, weights, spec.unit, counts, self.level)
        num = np.asarray(std.column("value").to_numpy(), dtype=np.float64)
        den = np.asarray(std.column("population").to_numpy(), dtype=np.float64)
        ok = den > 0
        crude = crude_rate(
            np.round(num) if counts else np.zeros_like(num),
            np.where(ok, den, 1.0),
            per=spec.unit,
            level=self.level,
        )
        rate = np.where(ok, num * spec.unit / np.where(ok, den, 1.0), np.nan)
        month = np.asarray(std.column("month").to_numpy(), dtype=np.int64)
        out = {
            "indicator": [spec.name] * std.num_rows,
            "year": std.column("year"),
            "month": pa.array([None if m == 0 else int(m) for m in month.tolist()], pa.int64()),
            "geo_level": [
                "france" if t == "FR" else "region" for t in std.column("territory").to_pylist()
            ],
            "territory": std.column("territory"),
            "numerator": pa.array(num),
            "population": pa.array(den),
            "rate": pa.array(rate, from_pandas=True),
            "rate_lower": pa.array(np.where(ok & counts, crude.lower, np.nan), from_pandas=True),
            "rate_upper": pa.array(np.where(ok & counts, crude.upper, np.nan), from_pandas=True),
            "std_rate": std.column("rate"),
            "std_lower": std.column("lower"),
            "std_upper": std.column("upper"),
            "unit": pa.array([spec.unit] * std.num_rows, pa.int64()),
        }
        return pa.table(out)

    def _its(self, table: pa.Table) -> ITSResult | str:
        """ITS of the national monthly series (counts, population offset), or why not."""
        fr = table.filter(pa.array(np.asarray(table.column("territory").to_pylist()) == "FR"))
        months = np.array(
            [
                f"{y:04d}-{m:02d}"
                for y, m in zip(
                    fr.column("year").to_pylist(), fr.column("month").to_pylist(), strict=True
                )
            ],
            dtype="datetime64[M]",
        )
        brk = np.datetime64(self.break_date, "M")
        before, after = int((months < brk).sum()), int((months > brk).sum())
        if before < 12 or after < 3:
            return (
                f"not fitted: {before} month(s) before and {after} after the break "
                f"{self.break_date} (needs 12 and 3)"
            )
        try:
            return interrupted_time_series(
                np.round(np.asarray(fr.column("numerator").to_numpy(), dtype=np.float64)),
                months,
                np.asarray(fr.column("population").to_numpy(), dtype=np.float64),
                break_date=self.break_date,
            )
        except SndslabError as exc:
            return f"not fitted: {exc}"

    def summary(self) -> pa.Table:
        """One row per indicator × period × territory (see the class docstring)."""
        self._check_fitted()
        return self.table_

    def its_summary(self) -> pa.Table:
        """One row per monthly indicator: ITS level rate ratio and its interval (or why not)."""
        self._check_fitted()
        rows: dict[str, list[Any]] = {
            "indicator": [],
            "rate_ratio": [],
            "lower": [],
            "upper": [],
            "note": [],
        }
        for name, res in self.its_.items():
            rows["indicator"].append(name)
            if isinstance(res, str):
                rows["rate_ratio"].append(None)
                rows["lower"].append(None)
                rows["upper"].append(None)
                rows["note"].append(res)
            else:
                est = res.rate_ratio("level", level=self.level)
                rows["rate_ratio"].append(float(est.estimate[0]))
                rows["lower"].append(float(est.lower[0]))
                rows["upper"].append(float(est.upper[0]))
                rows["note"].append(f"break {self.break_date}, {res.fit.family}")
        return pa.table(rows)

    def to_release(self) -> ReleaseCandidate:
        """The indicator table, counted on the population of each cell (Open DAMIR lines carry
        no person count: the cell describes its population). ``territory`` ``FR`` is the
        margin of the régions (release it with that total, so that the gate protects the
        relation France = sum of the régions)."""
        self._check_fitted()
        t = self.table_.drop_columns(["geo_level"])
        dims = ("indicator", "period", "territory")
        persons = np.round(np.asarray(t.column("population").to_numpy(), np.float64))
        period = [
            str(y) if m is None else f"{y:04d}-{m:02d}"
            for y, m in zip(
                t.column("year").to_pylist(), t.column("month").to_pylist(), strict=True
            )
        ]
        t = t.set_column(
            t.column_names.index("population"), "persons", pa.array(persons.astype(np.int64))
        )
        table = t.drop_columns(["year", "month"]).add_column(1, "period", pa.array(period))
        return ReleaseCandidate(
            table=table,
            dimensions=dims,
            count_column="persons",
            measures=tuple(c for c in table.column_names if c not in (*dims, "persons")),
            title="Open DAMIR indicators per capita (population protégée)",
        )


def _standardised(
    long: pa.Table, by: list[str], weights: np.ndarray, unit: int, counts: bool, level: float
) -> pa.Table:
    """Per group: ``value``, ``population`` and the direct standardised rate with its interval
    (Fay-Feuer, counts only); NULL rate for a group with an age band of no population (the
    rate is undefined there: :func:`direct_standardise`)."""
    totals = _standardise_amounts(long, by, weights, unit)
    if not counts:
        return totals
    pop = np.asarray(long.column("population").to_numpy(), dtype=np.float64)
    keys = list(zip(*(long.column(c).to_pylist() for c in by), strict=True))
    empty = {k for k, n in zip(keys, pop, strict=True) if n <= 0}
    full = long.filter(pa.array([k not in empty for k in keys]))
    if full.num_rows == 0:
        return totals
    std = standardise_table(full, by, "band", "value", "population", weights, per=unit, level=level)
    found = {
        k: (r, lo, up)
        for k, r, lo, up in zip(
            zip(*(std.column(c).to_pylist() for c in by), strict=True),
            std.column("rate").to_pylist(),
            std.column("lower").to_pylist(),
            std.column("upper").to_pylist(),
            strict=True,
        )
    }
    tkeys = list(zip(*(totals.column(c).to_pylist() for c in by), strict=True))
    none = (None, None, None)
    return (
        totals.drop_columns(["rate", "lower", "upper"])
        .append_column("rate", pa.array([found.get(k, none)[0] for k in tkeys], pa.float64()))
        .append_column("lower", pa.array([found.get(k, none)[1] for k in tkeys], pa.float64()))
        .append_column("upper", pa.array([found.get(k, none)[2] for k in tkeys], pa.float64()))
    )


def _standardise_amounts(long: pa.Table, by: list[str], weights: np.ndarray, unit: int) -> pa.Table:
    """Direct standardisation of amounts (no interval: an amount is not a Poisson count)."""
    con = duckdb.connect()
    try:
        w = pa.table({"band": np.arange(len(weights)), "w": weights / weights.sum()})
        con.register("l", long)
        con.register("w", w)
        keys = ", ".join(by)
        return con.sql(
            f"""SELECT {keys}, sum(value) AS value, sum(population) AS population,
                CASE WHEN bool_and(population > 0 OR w.w = 0)
                     THEN sum(CASE WHEN population > 0 THEN w.w * value / population ELSE 0 END)
                          * {unit} END AS rate,
                CAST(NULL AS DOUBLE) AS lower, CAST(NULL AS DOUBLE) AS upper
            FROM l JOIN w USING (band) GROUP BY {keys} ORDER BY {keys}"""
        ).to_arrow_table()
    finally:
        con.close()
