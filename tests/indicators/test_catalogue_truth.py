"""The catalogue recovers the territorial differences the generator injects: the regional
prevalence of treated diabetes follows the ``diabetes_rr`` multipliers of
``synth/data/departements.csv`` (named by the truth manifest's ``regional_differences``).

At the session's 2,000 persons (112 cases in 18 régions) the check is loose: a positive rank
correlation and a Poisson regression of the regional counts on log(multiplier) whose slope
(truth: 1) has a 95 % interval containing 1 and excluding 0. Measured on the fixture (seed 1):
Spearman 0.54, slope 1.30 [0.42, 2.17]; see docs/indicators.md for larger extracts.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from sndslab.lake import Lake


def _region_multipliers(column: str) -> pd.Series:
    """Population-weighted mean of a département multiplier per région (lake codes)."""
    dep = pd.read_csv(
        str(resources.files("sndslab.synth") / "data" / "departements.csv"), dtype=str
    )
    dep["region"] = dep.region.astype(int).astype(str)  # IR_DPT_V codes: '1', not '01'
    pop, rr = dep.population.astype(float), dep[column].astype(float)
    return (rr * pop).groupby(dep.region).sum() / pop.groupby(dep.region).sum()


def _ranks(x: np.ndarray) -> np.ndarray:
    return pd.Series(x).rank().to_numpy()


def _poisson_slope(cases: np.ndarray, exposure: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """Slope and its standard error of log E[cases] = log exposure + a + b·x (Newton)."""
    design = np.column_stack([np.ones_like(x), x])
    beta = np.array([np.log(cases.sum() / exposure.sum()), 0.0])
    for _ in range(50):
        mu = exposure * np.exp(design @ beta)
        info = design.T @ (design * mu[:, None])
        step = np.linalg.solve(info, design.T @ (cases - mu))
        beta = beta + step
        if np.abs(step).max() < 1e-12:
            break
    cov = np.linalg.inv(design.T @ (design * (exposure * np.exp(design @ beta))[:, None]))
    return float(beta[1]), float(np.sqrt(cov[1, 1]))


def test_regional_diabetes_follows_the_injected_multipliers(
    opened: Lake, indicators_lake: tuple[Path, object], ingested_synth: tuple[Path, Path]
) -> None:
    truth = json.loads((ingested_synth[0] / "truth" / "manifest.json").read_text())
    assert "diabetes_rr" in truth["regional_differences"]
    rows = opened.sql(
        """SELECT geo_code, numerator_persons, denominator FROM marts.indicators
        WHERE indicator = 'diabetes' AND geo_level = 'region' AND age_level = 'all'
          AND sex = 'all'"""
    ).to_pandas()
    data = rows.groupby("geo_code")[["numerator_persons", "denominator"]].sum()
    data = data.join(_region_multipliers("diabetes_rr").rename("rr"), how="inner")
    assert len(data) == 18  # every région of the extract has its multiplier
    prevalence = data.numerator_persons / data.denominator
    rho = np.corrcoef(_ranks(prevalence.to_numpy()), _ranks(data.rr.to_numpy()))[0, 1]
    slope, se = _poisson_slope(
        data.numerator_persons.to_numpy(float),
        data.denominator.to_numpy(float),
        np.log(data.rr.to_numpy()),
    )
    assert rho > 0.3, rho
    assert slope - 1.96 * se <= 1.0 <= slope + 1.96 * se, (slope, se)
    assert slope - 1.96 * se > 0.0, (slope, se)
