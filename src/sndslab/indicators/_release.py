"""Releasing the indicator catalogue: ``marts.indicators`` through the release gate.

For each indicator, two tables an ARS reads (see docs/indicators.md, "Releasing the
indicators"), both counted on ``numerator_persons`` (what statistical secrecy is judged on):

* ``<indicator>__territory_sex``: period × territory (France, région, département) × sex, all
  ages: numerator, denominator, crude rate with its exact Poisson 95 % interval and, when the
  indicator has 5-year age bands, the direct age-standardised rate with its Fay–Feuer interval
  (computed from the 5-year rows with :func:`sndslab.indicators.stats.standardise_table`);
* ``<indicator>__region_age_sex``: period × France/région × broad age band × sex, crude.

Both tables carry the same spec ``name`` (the indicator): the gate protects them as one linked
table, so a cell hidden in one cannot be read in the other. Derived columns are declared as
measures and blanked with their count.

>>> from sndslab.indicators._release import territory_spec
>>> spec = territory_spec("diabetes", unit=100, standardised=True, persons=True)
>>> spec.stem, [d.name for d in spec.dimensions], spec.count
('diabetes__territory_sex', ['period', 'geo', 'sex'], 'numerator_persons')
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import sndslab
from sndslab.errors import SndslabError
from sndslab.indicators._spec import IndicatorSpec, load_indicators
from sndslab.indicators.stats import crude_rate, standard_population, standardise_table
from sndslab.release import DEFAULT_THRESHOLD, ReleaseResult, TableSpec, release

__all__ = [
    "DEMO_INDICATORS",
    "GEO_DEPARTEMENT_SQL",
    "GEO_REGION_SQL",
    "STANDARDS",
    "IndicatorReleaseError",
    "ReleasedIndicators",
    "geo_dimension",
    "indicator_about",
    "indicator_tables",
    "region_age_spec",
    "release_indicators",
    "round_significant",
    "territory_spec",
]

#: ``--standard`` choices → shipped standard populations (docs/indicators.md, "Statistics").
STANDARDS: dict[str, str] = {"esp2013": "esp2013", "france": "france_rp2018"}
Standard = Literal["esp2013", "france"]

#: The headline indicators `sndslab demo` releases (one per family: a treated condition, the
#: hospital, mortality, prevention, practitioner supply and a monthly series), so that the
#: demo stays short; `sndslab release` releases the whole catalogue by default.
DEMO_INDICATORS: tuple[str, ...] = (
    "diabetes",
    "hospitalisation_rate",
    "mortality",
    "influenza_vaccination_65",
    "density_gp",
    "gp_visits_monthly",
)

_PERIOD = "CASE WHEN month IS NULL THEN CAST(year AS VARCHAR) ELSE CAST(year AS VARCHAR) || '-' || lpad(CAST(month AS VARCHAR), 2, '0') END"  # noqa: E501
#: The released geography columns from ``marts`` rows (``geo_level``, ``geo_code``, ``region``):
#: ``region`` (ALL = France) and ``departement`` (ALL = the whole région or France).
GEO_REGION_SQL = (
    "CASE geo_level WHEN 'france' THEN 'ALL' WHEN 'region' THEN geo_code ELSE region END"
)
GEO_DEPARTEMENT_SQL = "CASE WHEN geo_level = 'departement' THEN geo_code ELSE 'ALL' END"
_KEYS = ["period", "region", "departement", "sex"]


class IndicatorReleaseError(SndslabError):
    """The indicators cannot be released as asked (not computed, no period in --years)."""


@dataclass(frozen=True)
class ReleasedIndicators:
    """A release of the indicator catalogue: the gate's result, the released Arrow tables by
    file stem, and the time spent (seconds, in all and in the gate's solver per table)."""

    result: ReleaseResult
    indicators: list[str]
    seconds: float
    tables: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def out_dir(self) -> Path:
        return self.result.out_dir

    @property
    def release_id(self) -> str:
        return self.result.release_id

    def cells(self) -> int:
        return sum(int(t["cells"]) for t in self.result.audit["tables"])

    def suppressed(self) -> int:
        return sum(int(t["primary"]) + int(t["secondary"]) for t in self.result.audit["tables"])


def geo_dimension() -> dict[str, Any]:
    """The gate dimension of the released geography (région > département)."""
    return {
        "name": "geo",
        "levels": [
            {"column": "region", "total": "ALL", "description": "région code; ALL = France"},
            {
                "column": "departement",
                "total": "ALL",
                "description": "département code; ALL = the whole région (or France)",
            },
        ],
    }


def _common(name: str, unit: int, persons: bool) -> tuple[list[dict[str, Any]], list[Any]]:
    per = f"per {unit:,}" if unit != 1 else "per person"
    dims = [
        {
            "name": "period",
            "levels": [{"column": "period", "description": "year (YYYY) or month (YYYY-MM)"}],
        },
        geo_dimension(),
        {
            "name": "sex",
            "levels": [{"column": "sex", "total": "all", "description": "1 men, 2 women"}],
        },
    ]
    what = "persons" if persons else "events (or practitioners, stays)"
    measures = [
        {"column": "numerator", "kind": "events", "description": f"numerator ({what})"},
        {"column": "denominator", "kind": "population", "description": "denominator"},
        {"column": "rate", "kind": "rate", "description": f"crude rate {per}"},
        {"column": "rate_lower", "kind": "rate", "description": "exact Poisson 95 % lower limit"},
        {"column": "rate_upper", "kind": "rate", "description": "exact Poisson 95 % upper limit"},
    ]
    return dims, measures


def indicator_about(spec: IndicatorSpec, *, standardised: bool, standard: str = "esp2013") -> str:
    """What a reader of a released table needs to know about its indicator, as ``" | "``-
    separated ``key: value`` segments appended to the table's description (read back by the
    dashboard): titles and definitions (fr, en), source, population, standardisation.

    >>> from sndslab.indicators import load_indicators
    >>> about = indicator_about(load_indicators(names=["diabetes"])[0], standardised=True)
    >>> about.split(" | ")[0], "standardisation: direct" in about
    ('title_fr: Diabète', True)
    """
    den = spec.denominator
    if den.kind == "population":
        ages = (
            ""
            if den.min_age is None and den.max_age is None
            else f", aged {den.min_age or 0}-{den.max_age if den.max_age is not None else '+'}"
        )
        sex = {None: "", 1: ", men", 2: ", women"}[den.sex]
        population = f"persons covered and alive in the period, by residence{ages}{sex}"
    else:
        population = "the index events of the numerator (readmission)"
    std = (
        f"direct, {STANDARDS.get(standard, standard)} standard population, 5-year age bands "
        "(std_rate); crude rates in rate"
        if standardised
        else "none (crude rates)"
    )
    parts = {
        "title_fr": spec.title.fr,
        "title_en": spec.title.en,
        "definition_fr": spec.description.fr,
        "definition_en": spec.description.en,
        "source": spec.source,
        "population": population,
        "standardisation": std,
        "unit": str(spec.unit),
        "time": spec.time.unit,
    }
    return " | ".join(f"{k}: {' '.join(v.replace('|', '/').split())}" for k, v in parts.items())


def territory_spec(
    name: str, *, unit: int, standardised: bool, persons: bool, about: str = ""
) -> TableSpec:
    """The spec of ``<name>__territory_sex`` (period × France/région/département × sex);
    ``about`` (see :func:`indicator_about`) is appended to its description."""
    dims, measures = _common(name, unit, persons)
    if standardised:
        per = f"per {unit:,}" if unit != 1 else "per person"
        measures += [
            {
                "column": "std_rate",
                "kind": "rate",
                "description": f"direct age-standardised rate {per} (5-year bands); empty when "
                "an age band has no population",
            },
            {"column": "std_lower", "kind": "rate", "description": "Fay-Feuer 95 % lower limit"},
            {"column": "std_upper", "kind": "rate", "description": "Fay-Feuer 95 % upper limit"},
        ]
    return TableSpec.parse(
        {
            "name": name,
            "file": f"{name}__territory_sex",
            "count": "numerator_persons",
            "count_description": "distinct persons of the numerator",
            "dimensions": dims,
            "measures": measures,
            "description": f"{name} by period, territory and sex (all ages)"
            + (f" | {about}" if about else ""),
        },
        where=f"indicator {name}",
    )


def region_age_spec(name: str, *, unit: int, persons: bool, about: str = "") -> TableSpec:
    """The spec of ``<name>__region_age_sex`` (period × France/région × broad age × sex);
    ``about`` (see :func:`indicator_about`) is appended to its description."""
    dims, measures = _common(name, unit, persons)
    dims.insert(
        2,
        {
            "name": "age",
            "levels": [{"column": "age_band", "total": "all", "description": "broad age band"}],
        },
    )
    return TableSpec.parse(
        {
            "name": name,
            "file": f"{name}__region_age_sex",
            "count": "numerator_persons",
            "count_description": "distinct persons of the numerator",
            "dimensions": dims,
            "measures": measures,
            "description": f"{name} by period, région, broad age band and sex (crude)"
            + (f" | {about}" if about else ""),
        },
        where=f"indicator {name}",
    )


def _with_crude(table: pa.Table, unit: int) -> pa.Table:
    """Crude rate and exact Poisson limits (NULL where the denominator is 0)."""
    num = table.column("numerator").to_numpy(zero_copy_only=False).astype(np.float64)
    den = table.column("denominator").to_numpy(zero_copy_only=False).astype(np.float64)
    ok = den > 0
    est = crude_rate(np.round(num), np.where(ok, den, 1.0), per=unit)
    mask = pa.array(~ok)
    for col, values in (
        ("rate", est.estimate),
        ("rate_lower", est.lower),
        ("rate_upper", est.upper),
    ):
        table = table.append_column(col, pa.array(values, mask=mask.to_numpy(zero_copy_only=False)))
    return table


def _standardised(lake: Any, name: str, where: str, unit: int, standard: str) -> pa.Table:
    """Direct age-standardised rates by period × territory × sex from the 5-year rows; groups
    with an empty 5-year band (no population) are left out (their rate is undefined)."""
    pop = standard_population(STANDARDS[standard])
    rows = lake.sql(
        f"""
        SELECT * FROM (
          SELECT {_PERIOD} AS period, {GEO_REGION_SQL} AS region,
                 {GEO_DEPARTEMENT_SQL} AS departement, sex,
                 CAST(CASE WHEN age_band = '95+' THEN 95
                      ELSE CAST(split_part(age_band, '-', 1) AS INTEGER) END AS INTEGER)
                   AS age_low,
                 numerator, denominator,
                 count(*) FILTER (WHERE denominator > 0) OVER (
                   PARTITION BY year, month, geo_level, geo_code, sex) AS filled
          FROM marts.indicators
          WHERE indicator = '{name}' AND age_level = '5y' {where}
        ) t WHERE filled = {len(pop.labels)}
        """
    ).to_arrow()
    if not rows.num_rows:
        empty = {c: pa.array([], pa.string()) for c in _KEYS}
        empty.update(
            {c: pa.array([], pa.float64()) for c in ("std_rate", "std_lower", "std_upper")}
        )
        return pa.table(empty)
    band = pop.band_index(rows.column("age_low").to_numpy())
    rows = rows.append_column("band", pa.array(band))
    rows = rows.set_column(
        rows.schema.get_field_index("numerator"),
        "numerator",
        pc.round(pc.cast(rows.column("numerator"), pa.float64())),
    )
    out = standardise_table(rows, _KEYS, "band", "numerator", "denominator", pop.weights, per=unit)
    return out.select([*_KEYS, "rate", "lower", "upper"]).rename_columns(
        [*_KEYS, "std_rate", "std_lower", "std_upper"]
    )


#: Significant digits of a released standardised rate (see ``round_significant``).
STD_DIGITS = 3


def round_significant(values: Any, digits: int = STD_DIGITS) -> pa.Array:
    """Round to ``digits`` significant digits (nulls kept). A standardised rate is a weighted
    sum of the unreleased 5-year band counts with weights ``s_i / n_i``; at full precision
    and with the band populations known (census), one number could pin those counts, so it
    is released rounded, as public tables do.

    >>> round_significant(pa.array([5.871400913, 0.0012345, None, 0.0, 12345.6])).to_pylist()
    [5.87, 0.00123, None, 0.0, 12300.0]
    """
    arr = pa.array(values) if not isinstance(values, pa.ChunkedArray) else values.combine_chunks()
    x = arr.to_numpy(zero_copy_only=False).astype(np.float64)
    finite = np.isfinite(x) & (x != 0)
    mag = np.floor(np.log10(np.abs(np.where(finite, x, 1.0))))
    k = digits - 1 - mag  # decimals to keep (negative: round to tens, hundreds, ...)
    up, down = 10.0 ** np.maximum(k, 0), 10.0 ** np.maximum(-k, 0)  # exact powers of ten
    out = np.where(finite, np.round(x * up / down) * down / up, x)
    return pa.array(out, type=pa.float64(), mask=np.isnan(x) if arr.null_count else None)


def _years_filter(years: tuple[int, int] | None) -> str:
    return "" if years is None else f"AND year BETWEEN {int(years[0])} AND {int(years[1])}"


def indicator_tables(
    lake: str | Path,
    *,
    only: Sequence[str] | None = None,
    years: tuple[int, int] | None = None,
    standard: Standard = "esp2013",
) -> list[tuple[pa.Table, TableSpec]]:
    """The tables to release (true values, internal) with their specs, from
    ``marts.indicators``: two per indicator (one when it has no age strata)."""
    if standard not in STANDARDS:
        raise IndicatorReleaseError(f"unknown standard {standard!r}: one of {', '.join(STANDARDS)}")
    chosen = load_indicators(names=list(only) if only else None)
    specs: dict[str, IndicatorSpec] = {s.name: s for s in chosen}
    where = _years_filter(years)
    out: list[tuple[pa.Table, TableSpec]] = []
    with sndslab.open_lake(lake) as opened:
        if "marts.indicators" not in opened.tables("marts"):
            raise IndicatorReleaseError(
                f"{lake}: no marts.indicators: run `sndslab indicators {lake}` first"
            )
        present = set(
            opened.sql(f"SELECT DISTINCT indicator FROM marts.indicators WHERE true {where}")
            .to_arrow()
            .column("indicator")
            .to_pylist()
        )
        missing = [n for n in specs if n not in present]
        if only and missing:
            raise IndicatorReleaseError(
                f"indicator(s) {', '.join(missing)} not in marts.indicators"
                + (f" for years {years[0]}-{years[1]}" if years else "")
                + f": run `sndslab indicators {lake} --only {missing[0]}`"
            )
        names = sorted(n for n in specs if n in present)
        if not names:
            raise IndicatorReleaseError(f"{lake}: no indicator computed for the requested years")
        for name in names:
            spec = specs[name]
            persons = spec.numerator.count == "persons"
            base = f"""
                SELECT {_PERIOD} AS period, {GEO_REGION_SQL} AS region,
                 {GEO_DEPARTEMENT_SQL} AS departement, sex,
                       numerator_persons, numerator, denominator
                FROM marts.indicators WHERE indicator = '{name}' {where}"""
            terr = opened.sql(f"{base} AND age_level = 'all' ORDER BY 1, 2, 3, 4").to_arrow()
            terr = _with_crude(terr, spec.unit)
            has_age = "age_5y" in spec.strata
            if has_age:
                std = _standardised(opened, name, where, spec.unit, standard)
                terr = terr.join(std, _KEYS, join_type="left outer").sort_by(
                    [(k, "ascending") for k in _KEYS]
                )
                for col in ("std_rate", "std_lower", "std_upper"):
                    i = terr.schema.get_field_index(col)
                    terr = terr.set_column(i, col, round_significant(terr.column(col)))
            about = indicator_about(spec, standardised=has_age, standard=standard)
            t_spec = territory_spec(
                name, unit=spec.unit, standardised=has_age, persons=persons, about=about
            )
            out.append((terr.select(t_spec.columns()), t_spec))
            if "age_broad" in spec.strata:
                reg = opened.sql(
                    f"""
                    SELECT {_PERIOD} AS period, {GEO_REGION_SQL} AS region, 'ALL' AS departement,
                           CASE WHEN age_level = 'all' THEN 'all' ELSE age_band END AS age_band,
                           sex, numerator_persons, numerator, denominator
                    FROM marts.indicators
                    WHERE indicator = '{name}' {where} AND geo_level IN ('france', 'region')
                      AND age_level IN ('all', 'broad')
                    ORDER BY 1, 2, 4, 5"""
                ).to_arrow()
                r_spec = region_age_spec(
                    name,
                    unit=spec.unit,
                    persons=persons,
                    about=indicator_about(spec, standardised=False, standard=standard),
                )
                out.append((_with_crude(reg, spec.unit).select(r_spec.columns()), r_spec))
    return out


def release_indicators(
    lake: str | Path,
    out_dir: str | Path,
    *,
    only: Sequence[str] | None = None,
    years: tuple[int, int] | None = None,
    standard: Standard = "esp2013",
    threshold: int = DEFAULT_THRESHOLD,
    decimal_comma: bool = False,
    overwrite: bool = False,
    requested_by: str = "sndslab.indicators.release_indicators",
    extra: Sequence[tuple[pa.Table, TableSpec]] = (),
) -> ReleasedIndicators:
    """Release the indicators of ``marts.indicators`` (all, or ``only``) through the gate into
    ``out_dir`` (Parquet + CSV + data dictionary + README + audit; the lake's release log is
    updated). Returns the released Arrow tables (suppressed cells blanked) and timings.
    ``extra`` tables (e.g. the care pathways, ``sndslab.pathways.pathway_tables``) are released
    in the same folder and the same gate call."""
    start = time.perf_counter()
    own = indicator_tables(lake, only=only, years=years, standard=standard)
    tables = own + list(extra)
    result = release(
        tables,
        out_dir,
        lake=lake,
        threshold=threshold,
        decimal_comma=decimal_comma,
        overwrite=overwrite,
        requested_by=requested_by,
    )
    released = {t.spec.stem: t.released() for t in result.tables}
    names = sorted({spec.name for _, spec in own})
    return ReleasedIndicators(result, names, time.perf_counter() - start, released)
