"""Funnel-plot control limits (Spiegelhalter 2005) for a proportion and a standardised ratio.

A funnel plot draws each unit's indicator against its precision (number of persons ``n`` for
a proportion, expected count ``E`` for an SIR/SMR) with the limits that a unit *in control*
(true value = the target, e.g. France's) stays within with probability ``level``. Two levels
are customary: 95 % ("warning") and 99.8 % ("alarm").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from sndslab.errors import InvalidArgumentError
from sndslab.indicators.stats._poisson import FloatArray, as_float_array, check_level

__all__ = [
    "FunnelLimits",
    "Overdispersion",
    "estimate_overdispersion",
    "funnel_limits",
]

Indicator = Literal["proportion", "ratio"]


@dataclass(frozen=True)
class FunnelLimits:
    """Lower and upper control limits at each precision, for one level."""

    precision: FloatArray
    lower: FloatArray
    upper: FloatArray
    target: float
    level: float
    method: str


@dataclass(frozen=True)
class Overdispersion:
    """Overdispersion of a set of units around the target (Spiegelhalter 2005, QSHC).

    ``phi``: multiplicative factor (mean of the squared winsorised z-scores); ``tau2``: the
    between-unit variance of the additive random-effects model (0 when ``I phi <= I - 1``);
    ``p_value``: the test of ``I phi ~ chi2(I - 1)`` for no overdispersion.
    """

    phi: float
    tau2: float
    p_value: float
    units: int


def _variance(indicator: Indicator, target: float) -> float:
    """``g(theta0)``: the variance of the indicator per unit of precision at the target."""
    return target * (1 - target) if indicator == "proportion" else target


def _check(indicator: str, precision: npt.ArrayLike, target: float) -> FloatArray:
    rho = as_float_array(precision, "precision")
    if indicator not in ("proportion", "ratio"):
        raise InvalidArgumentError(f"indicator must be 'proportion' or 'ratio', got {indicator!r}")
    if np.any(rho <= 0):
        raise InvalidArgumentError("precision (n or expected count) must be positive")
    if indicator == "proportion" and np.any(rho != np.round(rho)):
        raise InvalidArgumentError("the precision of a proportion is a whole number of persons")
    if indicator == "proportion" and not 0 < target < 1:
        raise InvalidArgumentError(f"a target proportion lies strictly between 0 and 1: {target!r}")
    if indicator == "ratio" and not target > 0:
        raise InvalidArgumentError(f"a target ratio is positive: {target!r}")
    return rho


def funnel_limits(
    precision: npt.ArrayLike,
    target: float,
    indicator: Indicator = "proportion",
    level: float = 0.95,
    overdispersion: Overdispersion | None = None,
    random_effects: bool = False,
) -> FunnelLimits:
    """Control limits of a funnel plot at each ``precision``.

    Exact limits (Spiegelhalter 2005, *Stat Med* 24:1185-1202, appendix A.1.1): for a
    proportion, ``Y ~ Binomial(n, theta0)``; for a ratio ``O/E``, ``O ~ Poisson(E theta0)``.
    For ``p`` = ``(1 - level)/2`` (lower) or ``(1 + level)/2`` (upper), let ``r_p`` be the
    ``p`` quantile of the count (smallest ``r`` with ``F(r) >= p``); the limit is interpolated
    between integers so that the funnel is smooth::

        alpha = (F(r_p) - p) / (F(r_p) - F(r_p - 1)),   limit = (r_p - alpha) / rho

    with ``rho = n`` (proportion) or ``E`` (ratio).

    With ``overdispersion`` (from :func:`estimate_overdispersion`) the limits are the normal
    approximations of Spiegelhalter (2005, *Qual Saf Health Care* 14:347-351), ``z`` the
    ``p`` normal quantile and ``g(theta0)`` = ``theta0 (1 - theta0)`` or ``theta0``::

        multiplicative:  theta0 + z sqrt(phi g(theta0) / rho)
        random effects:  theta0 + z sqrt(g(theta0) / rho + tau2)   (random_effects=True)

    Lower limits are floored at 0 (and proportions capped at 1).

    >>> f = funnel_limits([100, 1000], 0.2, level=0.95)
    >>> [round(float(x), 4) for x in f.lower], [round(float(x), 4) for x in f.upper]
    ([0.1197, 0.175], [0.2765, 0.2246])
    """
    rho = _check(indicator, precision, target)
    level = check_level(level)
    p = np.array([(1 - level) / 2, (1 + level) / 2])[:, None]
    if overdispersion is None:
        if indicator == "proportion":
            law = stats.binom(rho.astype(np.int64), target)
        else:
            law = stats.poisson(rho * target)
        r_p = law.ppf(p)
        f_r, f_below = law.cdf(r_p), law.cdf(r_p - 1)
        alpha = (f_r - p) / np.where(f_r > f_below, f_r - f_below, 1.0)
        limits = (r_p - alpha) / rho
        method = "exact-binomial" if indicator == "proportion" else "exact-poisson"
    else:
        z = stats.norm.ppf(p)
        g = _variance(indicator, target)
        if random_effects:
            sd = np.sqrt(g / rho + overdispersion.tau2)
            method = "random-effects"
        else:
            sd = np.sqrt(overdispersion.phi * g / rho)
            method = "multiplicative"
        limits = target + z * sd
    lower = np.maximum(limits[0], 0.0)
    upper = np.minimum(limits[1], 1.0) if indicator == "proportion" else limits[1]
    return FunnelLimits(rho, lower, upper, float(target), level, method)


def estimate_overdispersion(
    value: npt.ArrayLike,
    precision: npt.ArrayLike,
    target: float,
    indicator: Indicator = "proportion",
    winsorise: float = 0.10,
) -> Overdispersion:
    """Estimate the overdispersion of units around ``target`` (Spiegelhalter 2005, QSHC).

    ``value`` is each unit's proportion or ratio, ``precision`` its ``n`` or ``E``. The
    z-scores ``z_i = (y_i - theta0) / s_i``, ``s_i = sqrt(g(theta0) / rho_i)``, are winsorised
    (the ``winsorise`` share at each end set to the quantile there; 10 % as in the paper) and::

        phi  = (1/I) sum z_i²
        tau2 = max(0, (I phi - (I - 1)) / (sum w_i - sum w_i² / sum w_i)),  w_i = 1 / s_i²

    >>> od = estimate_overdispersion([0.1, 0.3, 0.2, 0.25, 0.15], [500] * 5, 0.2)
    >>> round(od.phi, 3), od.units
    (11.125, 5)
    """
    rho = _check(indicator, precision, target)
    y = as_float_array(value, "value")
    y, rho = np.broadcast_arrays(y, rho)
    if y.size < 2:
        raise InvalidArgumentError("overdispersion needs at least two units")
    if not 0 <= winsorise < 0.5:
        raise InvalidArgumentError(f"winsorise is a share in [0, 0.5), got {winsorise!r}")
    s2 = _variance(indicator, target) / rho
    z = (y - target) / np.sqrt(s2)
    if winsorise > 0:
        lo, hi = np.quantile(z, [winsorise, 1 - winsorise])
        z = np.clip(z, lo, hi)
    units = int(y.size)
    phi = float(np.mean(z**2))
    w = 1 / s2
    excess = units * phi - (units - 1)
    tau2 = max(0.0, float(excess / (w.sum() - (w**2).sum() / w.sum())))
    p_value = float(stats.chi2.sf(units * phi, units - 1))
    return Overdispersion(phi, tau2, p_value, units)
