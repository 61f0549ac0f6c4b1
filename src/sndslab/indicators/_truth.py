"""Score the indicators against the truth the synthetic generator injected.

The synthetic SNDS (``sndslab synth``) writes what it injected to ``truth/manifest.json``: the
calendar of every care type (seasonality, the first 2020 lockdown's relative change, the
catch-up) under ``calendar.care_types``, and the territorial multipliers (columns of the
generator's ``departements.csv``, named under ``regional_differences``). Two scores:

* :func:`score_lockdown`: an interrupted time series (segmented negative binomial regression
  with calendar-month seasonality, the first lockdown as a temporary interruption) on a
  monthly indicator of ``marts.indicators``; its level rate ratio is compared with the
  injected one, ``1 + first_lockdown_change`` of the care type. The same model fitted to the
  noise-free injected intensity (the manifest's ``monthly_mean`` × the monthly population)
  gives the value the estimator converges to (the decline of the week before the lockdown,
  the summer catch-up and the later lockdowns move it slightly away from the injected change);
* :func:`score_regional_ranking`: Spearman rank correlation between the regional prevalence
  of an indicator (crude, and directly age-standardised on the European Standard Population
  2013) and the population-weighted regional mean of a département multiplier, plus the slope
  of a Poisson regression of the regional counts on log(multiplier) (truth: 1).

>>> truth = {"calendar": {"care_types": {"gp": {"first_lockdown_change": -0.35}},
...          "lockdowns": {"first": {"start": "2020-03-17", "end": "2020-05-10"}}}}
>>> t = lockdown_truth(truth, "gp")
>>> t.rate_ratio, t.start.isoformat(), t.end.isoformat()
(0.65, '2020-03-17', '2020-05-10')
>>> rr = region_multipliers("diabetes_rr")
>>> len(rr), round(rr["11"], 3) < round(rr["32"], 3)   # Île-de-France below Hauts-de-France
(18, True)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np
from scipy import stats

from sndslab.errors import InvalidArgumentError
from sndslab.indicators.stats import (
    direct_standardise,
    interrupted_time_series,
    standard_population,
)

__all__ = [
    "LockdownScore",
    "LockdownTruth",
    "RankingScore",
    "lockdown_truth",
    "region_multipliers",
    "score_lockdown",
    "score_regional_ranking",
]

#: Broad age bands (lower bounds) of ``marts.indicators`` (``age_level = 'broad'``).
BROAD_BANDS = (0, 15, 45, 65, 75, 85)


@dataclass(frozen=True)
class LockdownTruth:
    """The injected first-lockdown change of one care type: rate ratio inside the lockdown."""

    care_type: str
    rate_ratio: float
    start: dt.date
    end: dt.date


@dataclass(frozen=True)
class LockdownScore:
    """ITS level rate ratio (estimate, CI) against the injected one and the noise-free target."""

    indicator: str
    months: int
    events: int
    estimate: float
    lower: float
    upper: float
    injected: float
    noise_free: float
    contains_injected: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RankingScore:
    """Regional ranking of an indicator against an injected multiplier."""

    indicator: str
    multiplier: str
    year: int
    regions: int
    cases: int
    spearman_crude: float
    spearman_standardised: float
    standardised_bands: tuple[int, ...]
    slope: float
    slope_lower: float
    slope_upper: float

    def to_dict(self) -> dict[str, Any]:
        out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        out["standardised_bands"] = list(self.standardised_bands)
        return out


def lockdown_truth(manifest: Mapping[str, Any], care_type: str = "gp") -> LockdownTruth:
    """The injected first-lockdown rate ratio of ``care_type`` read from a truth manifest."""
    try:
        cal = manifest["calendar"]
        change = float(cal["care_types"][care_type]["first_lockdown_change"])
        first = cal["lockdowns"]["first"]
        start, end = dt.date.fromisoformat(first["start"]), dt.date.fromisoformat(first["end"])
    except (KeyError, TypeError) as exc:
        raise InvalidArgumentError(
            f"truth manifest: no first-lockdown change for care type {care_type!r} ({exc})"
        ) from None
    return LockdownTruth(care_type, round(1.0 + change, 10), start, end)


def region_multipliers(column: str) -> dict[str, float]:
    """Population-weighted mean per région (IR_DPT_V codes: ``'1'``, not ``'01'``) of a
    multiplier column of the generator's ``departements.csv``."""
    text = resources.files("sndslab.synth").joinpath("data", "departements.csv").read_text("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or column not in rows[0]:
        raise InvalidArgumentError(f"departements.csv has no column {column!r}")
    region = np.array([str(int(r["region"])) for r in rows])
    pop = np.array([float(r["population"]) for r in rows])
    value = np.array([float(r[column]) for r in rows])
    codes, inv = np.unique(region, return_inverse=True)
    mean = np.bincount(inv, weights=pop * value) / np.bincount(inv, weights=pop)
    return dict(zip(codes.tolist(), mean.tolist(), strict=True))


def _monthly(lake: Any, indicator: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = lake.sql(
        f"""SELECT year, month, numerator, denominator FROM marts.indicators
        WHERE indicator = '{indicator}' AND geo_level = 'france' AND age_level = 'all'
          AND sex = 'all' AND month IS NOT NULL ORDER BY year, month"""
    ).to_arrow()
    if t.num_rows < 13:
        raise InvalidArgumentError(
            f"{indicator}: {t.num_rows} monthly rows in marts.indicators (a monthly indicator "
            "over at least 13 months is needed)"
        )
    year = np.asarray(t.column("year").to_pylist(), dtype=np.int64)
    month = np.asarray(t.column("month").to_pylist(), dtype=np.int64)
    months = (year - 1970) * 12 + month - 1
    return (
        months.astype("datetime64[M]"),
        np.asarray(t.column("numerator").to_pylist(), dtype=np.float64),
        np.asarray(t.column("denominator").to_pylist(), dtype=np.float64),
    )


def score_lockdown(
    lake: Any,
    manifest: Mapping[str, Any],
    indicator: str = "gp_visits_monthly",
    care_type: str = "gp",
    level: float = 0.95,
) -> LockdownScore:
    """ITS of the monthly France series of ``indicator`` (``lake``: an opened lake with
    ``marts.indicators``), scored against the injected first-lockdown change of ``care_type``."""
    truth = lockdown_truth(manifest, care_type)
    months, counts, pop = _monthly(lake, indicator)
    kw: dict[str, Any] = {"break_date": truth.start, "end_date": truth.end}
    fit = interrupted_time_series(counts, months, pop, family="negbin", **kw)
    rr = fit.rate_ratio("level", level=level)
    # noise-free target: the same model on the injected monthly intensity × population
    monthly = manifest["calendar"]["care_types"][care_type]["monthly_mean"]
    years = months.astype("datetime64[Y]").astype(np.int64) + 1970
    moy = months.astype(np.int64) % 12
    try:
        intensity = np.array([monthly[str(y)][m] for y, m in zip(years, moy, strict=True)])
    except KeyError as exc:
        raise InvalidArgumentError(f"truth manifest: no monthly intensity for {exc}") from None
    expected = intensity * pop * (counts.sum() / (intensity * pop).sum()) * 1e3
    target = interrupted_time_series(expected, months, pop, family="poisson", **kw)
    est, lo, hi = float(rr.estimate[0]), float(rr.lower[0]), float(rr.upper[0])
    return LockdownScore(
        indicator=indicator,
        months=int(months.size),
        events=int(counts.sum()),
        estimate=est,
        lower=lo,
        upper=hi,
        injected=truth.rate_ratio,
        noise_free=float(target.rate_ratio("level").estimate[0]),
        contains_injected=bool(lo <= truth.rate_ratio <= hi),
    )


def _merge_empty(pop: np.ndarray, lows: list[int]) -> list[list[int]]:
    """Groups of adjacent band indexes such that no région has an empty group: a group empty
    somewhere is merged into the group below it (the first into the one above)."""
    groups = [[i] for i in range(len(lows))]
    while len(groups) > 1:
        sums = np.stack([pop[:, g].sum(axis=1) for g in groups], axis=1)
        empty = np.flatnonzero((sums <= 0).any(axis=0))
        if empty.size == 0:
            break
        j = int(empty[-1])
        k = j - 1 if j > 0 else 1
        a, b = sorted((j, k))
        groups[a : b + 1] = [groups[a] + groups[b]]
    return groups


def _poisson_slope(cases: np.ndarray, exposure: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Slope and standard error of log E[cases] = log exposure + a + b x (Newton-Raphson)."""
    design = np.column_stack([np.ones_like(x), x])
    beta = np.array([np.log(cases.sum() / exposure.sum()), 0.0])
    for _ in range(100):
        mu = exposure * np.exp(design @ beta)
        step = np.linalg.solve(design.T @ (design * mu[:, None]), design.T @ (cases - mu))
        beta = beta + step
        if np.abs(step).max() < 1e-12:
            break
    mu = exposure * np.exp(design @ beta)
    cov = np.linalg.inv(design.T @ (design * mu[:, None]))
    return float(beta[1]), float(np.sqrt(cov[1, 1]))


def score_regional_ranking(
    lake: Any,
    indicator: str = "diabetes",
    multiplier: str = "diabetes_rr",
    year: int | None = None,
) -> RankingScore:
    """Rank agreement of the regional prevalence of ``indicator`` (a yearly indicator with
    région × broad age strata, ``year`` default the latest computed) with ``multiplier``.

    The standardised prevalence uses the ESP 2013 weights summed into the broad bands; bands
    empty in some région are merged with their neighbour for every région (recorded in
    ``standardised_bands``, the lower bounds kept)."""
    where = f"indicator = '{indicator}' AND geo_level = 'region' AND sex = 'all'"
    if year is None:
        y = lake.sql(f"SELECT max(year) AS y FROM marts.indicators WHERE {where}").to_arrow()
        if y.num_rows == 0 or y.column("y")[0].as_py() is None:
            raise InvalidArgumentError(f"{indicator}: no regional rows in marts.indicators")
        year = int(y.column("y")[0].as_py())
    t = lake.sql(
        f"""SELECT geo_code, age_level, age_band, numerator_persons AS d, denominator AS n
        FROM marts.indicators WHERE {where} AND year = {int(year)}
          AND age_level IN ('all', 'broad') ORDER BY geo_code, age_band"""
    ).to_arrow()
    rr = region_multipliers(multiplier)
    geo = np.asarray(t.column("geo_code").to_pylist(), dtype=object)
    level = np.asarray(t.column("age_level").to_pylist(), dtype=object)
    band = np.asarray(t.column("age_band").to_pylist(), dtype=object)
    d = np.asarray(t.column("d").to_pylist(), dtype=np.float64)
    n = np.asarray(t.column("n").to_pylist(), dtype=np.float64)
    regions = sorted(set(geo[level == "all"].tolist()) & set(rr))
    if len(regions) < 3:
        raise InvalidArgumentError(f"{indicator}: {len(regions)} régions with a multiplier")
    idx = {r: i for i, r in enumerate(regions)}
    keep = np.array([g in idx for g in geo])
    row = np.array([idx.get(g, -1) for g in geo])
    tot = keep & (level == "all")
    cases, popn = np.zeros(len(regions)), np.zeros(len(regions))
    cases[row[tot]], popn[row[tot]] = d[tot], n[tot]
    lows = list(BROAD_BANDS)
    b_idx = np.array([lows.index(int(str(b)[:2])) if lv == "broad" else -1 for b, lv in
                      zip(band, level, strict=True)])  # fmt: skip
    br = keep & (level == "broad")
    db, nb = np.zeros((len(regions), len(lows))), np.zeros((len(regions), len(lows)))
    np.add.at(db, (row[br], b_idx[br]), d[br])
    np.add.at(nb, (row[br], b_idx[br]), n[br])
    esp = standard_population("esp2013")
    w = np.bincount(np.searchsorted(lows, esp.age_low, side="right") - 1, weights=esp.weights)
    groups = _merge_empty(nb, lows)
    dg = np.stack([db[:, g].sum(axis=1) for g in groups], axis=1)
    ng = np.stack([nb[:, g].sum(axis=1) for g in groups], axis=1)
    wg = np.array([w[g].sum() for g in groups])
    dsr = direct_standardise(dg, ng, wg).estimate
    x = np.array([rr[r] for r in regions])
    slope, se = _poisson_slope(cases, popn, np.log(x))
    return RankingScore(
        indicator=indicator,
        multiplier=multiplier,
        year=int(year),
        regions=len(regions),
        cases=int(cases.sum()),
        spearman_crude=float(stats.spearmanr(cases / popn, x).statistic),
        spearman_standardised=float(stats.spearmanr(dsr, x).statistic),
        standardised_bands=tuple(lows[g[0]] for g in groups),
        slope=slope,
        slope_lower=slope - 1.96 * se,
        slope_upper=slope + 1.96 * se,
    )
