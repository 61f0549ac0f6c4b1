"""Standardised mean differences between two groups, from group summaries (Austin 2009).

Austin P.C., "Balance diagnostics for comparing the distribution of baseline covariates
between treatment groups in propensity-score matched samples", Stat Med 2009;28:3083-3107
(continuous and binary variables); Yang D., Dalton J.E., "A unified approach to measuring the
effect size between two groups using SAS", SAS Global Forum 2012, paper 335 (categorical
variables, the multivariate generalisation Austin's formula reduces to for two levels).

>>> round(smd_continuous(76.0, 6.0, 73.0, 5.0), 4)
0.5432
>>> round(smd_binary(0.30, 0.20), 4)
0.2325
>>> round(smd_categorical([0.30, 0.70], [0.20, 0.80]), 4)  # two levels: |binary SMD|
0.2325
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["smd_binary", "smd_categorical", "smd_continuous"]


def smd_continuous(mean_1: float, sd_1: float, mean_2: float, sd_2: float) -> float:
    """(x̄₁ − x̄₂) / √((s₁² + s₂²)/2); NaN when both variances are 0."""
    pooled = math.sqrt((sd_1**2 + sd_2**2) / 2)
    if pooled == 0:
        return 0.0 if mean_1 == mean_2 else math.nan
    return (mean_1 - mean_2) / pooled


def smd_binary(p_1: float, p_2: float) -> float:
    """(p̂₁ − p̂₂) / √((p̂₁(1 − p̂₁) + p̂₂(1 − p̂₂))/2); 0 when both proportions are 0 or 1 and
    equal, NaN when they differ with no variance."""
    pooled = math.sqrt((p_1 * (1 - p_1) + p_2 * (1 - p_2)) / 2)
    if pooled == 0:
        return 0.0 if p_1 == p_2 else math.nan
    return (p_1 - p_2) / pooled


def smd_categorical(p_1: Sequence[float], p_2: Sequence[float]) -> float:
    """√((T − C)ᵀ S⁻¹ (T − C)) over levels 2..K (the first level is the reference), with
    S = (S₁ + S₂)/2, S_kk = p_k(1 − p_k), S_kl = −p_k p_l (a pseudo-inverse when a level is
    empty in both groups)."""
    t = np.asarray(p_1, dtype=float)[1:]
    c = np.asarray(p_2, dtype=float)[1:]
    if t.size == 0:
        return 0.0

    def cov(p: np.ndarray) -> np.ndarray:
        return np.diag(p) - np.outer(p, p)

    s = (cov(t) + cov(c)) / 2
    d = t - c
    value = float(d @ np.linalg.pinv(s) @ d)
    return math.sqrt(max(value, 0.0))
