"""Funnel-plot limits (Spiegelhalter 2005): a second route through the binomial / Poisson
distribution functions summed by hand, the normal limit for large precision, overdispersion."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sndslab.errors import InvalidArgumentError
from sndslab.indicators.stats import estimate_overdispersion, funnel_limits


def _interpolated_limit(cdf: list[float], p: float) -> float:
    """Spiegelhalter's appendix A.1.1, from a list of cumulative probabilities F(0), F(1), …"""
    r = next(i for i, f in enumerate(cdf) if f >= p)
    below = cdf[r - 1] if r > 0 else 0.0
    return r - (cdf[r] - p) / (cdf[r] - below)


def _binomial_cdf(n: int, theta: float) -> list[float]:
    pmf = [math.comb(n, k) * theta**k * (1 - theta) ** (n - k) for k in range(n + 1)]
    return list(np.cumsum(pmf))


def _poisson_cdf(mean: float, top: int) -> list[float]:
    pmf = [math.exp(-mean + k * math.log(mean) - math.lgamma(k + 1)) for k in range(top)]
    return list(np.cumsum(pmf))


@pytest.mark.parametrize("level", [0.95, 0.998])
@pytest.mark.parametrize("n", [20, 137, 600])
def test_proportion_limits_match_a_hand_summed_binomial(n: int, level: float) -> None:
    target = 0.12
    f = funnel_limits([n], target, "proportion", level)
    cdf = _binomial_cdf(n, target)
    lower = _interpolated_limit(cdf, (1 - level) / 2) / n
    upper = _interpolated_limit(cdf, (1 + level) / 2) / n
    assert f.lower[0] == pytest.approx(max(lower, 0.0), rel=1e-9, abs=1e-12)
    assert f.upper[0] == pytest.approx(upper, rel=1e-9)


@pytest.mark.parametrize("level", [0.95, 0.998])
@pytest.mark.parametrize("expected", [2.5, 17.0, 240.0])
def test_ratio_limits_match_a_hand_summed_poisson(expected: float, level: float) -> None:
    f = funnel_limits([expected], 1.0, "ratio", level)
    cdf = _poisson_cdf(expected, 2000)
    lower = _interpolated_limit(cdf, (1 - level) / 2) / expected
    upper = _interpolated_limit(cdf, (1 + level) / 2) / expected
    assert f.lower[0] == pytest.approx(max(lower, 0.0), rel=1e-9, abs=1e-12)
    assert f.upper[0] == pytest.approx(upper, rel=1e-9)


def test_exact_limits_approach_the_normal_ones() -> None:
    n = np.array([1e6])
    f = funnel_limits(n, 0.3, level=0.998)
    half = 3.090232306167813 * math.sqrt(0.3 * 0.7 / 1e6)
    assert f.lower[0] == pytest.approx(0.3 - half, abs=2e-6)
    assert f.upper[0] == pytest.approx(0.3 + half, abs=2e-6)
    g = funnel_limits([1e6], 1.0, "ratio", 0.95)
    assert g.upper[0] == pytest.approx(1 + 1.959963984540054e-3, abs=2e-6)


@settings(max_examples=100, deadline=None)
@given(
    precision=st.lists(st.integers(5, 100_000), min_size=2, max_size=30),
    target=st.floats(0.01, 0.9),
    indicator=st.sampled_from(["proportion", "ratio"]),
)
def test_funnel_shape(precision: list[int], target: float, indicator: str) -> None:
    rho = np.sort(np.array(precision, dtype=float))
    warn = funnel_limits(rho, target, indicator, 0.95)  # type: ignore[arg-type]
    alarm = funnel_limits(rho, target, indicator, 0.998)  # type: ignore[arg-type]
    assert np.all(alarm.lower <= warn.lower + 1e-12) and np.all(warn.lower <= target)
    assert np.all(alarm.upper >= warn.upper - 1e-12) and np.all(warn.upper >= target)
    # The funnel narrows with precision (up to the discreteness of small counts).
    width = alarm.upper - alarm.lower
    if rho[-1] >= 4 * rho[0]:
        assert width[-1] <= width[0] + 1e-12


def test_overdispersion_by_hand() -> None:
    y = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    od = estimate_overdispersion(y, [500] * 5, 0.2)
    z = (y - 0.2) / math.sqrt(0.2 * 0.8 / 500)  # -5.59, 5.59, 0, 2.80, -2.80
    lo, hi = np.quantile(z, [0.1, 0.9])  # winsorised at the 10th / 90th percentiles
    phi = float(np.mean(np.clip(z, lo, hi) ** 2))
    assert od.phi == pytest.approx(phi, rel=1e-12) and od.phi == pytest.approx(11.125)
    w = np.full(5, 500 / 0.16)
    tau2 = (5 * phi - 4) / (w.sum() - (w**2).sum() / w.sum())
    assert od.tau2 == pytest.approx(tau2, rel=1e-12)


def test_overdispersion_detected_only_when_present() -> None:
    rng = np.random.default_rng(2)
    n = rng.integers(200, 5000, 150)
    plain = rng.binomial(n, 0.2) / n
    assert estimate_overdispersion(plain, n, 0.2).p_value > 0.01
    spread = rng.binomial(n, np.clip(rng.normal(0.2, 0.04, n.size), 0.01, 0.99)) / n
    od = estimate_overdispersion(spread, n, 0.2)
    assert od.phi > 2 and od.p_value < 1e-6 and od.tau2 > 0
    plain_limits = funnel_limits(n, 0.2, level=0.998)
    for random_effects in (False, True):
        wide = funnel_limits(n, 0.2, level=0.998, overdispersion=od, random_effects=random_effects)
        assert np.all(wide.upper >= plain_limits.upper) and np.all(wide.lower <= plain_limits.lower)
        inside = np.mean((wide.lower <= spread) & (spread <= wide.upper))
        assert inside > 0.97  # the overdispersed units now sit inside the 99.8 % funnel


def test_bad_input() -> None:
    with pytest.raises(InvalidArgumentError, match="strictly between 0 and 1"):
        funnel_limits([10], 1.2)
    with pytest.raises(InvalidArgumentError, match="whole number"):
        funnel_limits([10.5], 0.5)
    with pytest.raises(InvalidArgumentError, match="positive"):
        funnel_limits([0], 0.5)
    with pytest.raises(InvalidArgumentError, match="indicator"):
        funnel_limits([10], 0.5, "rate")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="two units"):
        estimate_overdispersion([0.1], [10], 0.2)
