"""Crude rates and exact Poisson limits: classical table values, a peer (statsmodels), and
properties (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.rates import confint_poisson

from sndslab.errors import InvalidArgumentError
from sndslab.indicators.stats import crude_rate, poisson_ci

# Exact (Garwood 1936) 95 % limits of a Poisson mean, to 4 decimals: the values of the classical
# printed tables of exact Poisson confidence limits (0 events: upper 3.689, the "rule of 3.7").
GARWOOD_95 = {
    0: (0.0, 3.6889),
    1: (0.0253, 5.5716),
    2: (0.2422, 7.2247),
    3: (0.6187, 8.7673),
    5: (1.6235, 11.6683),
    10: (4.7954, 18.3904),
}


def test_exact_limits_match_the_classical_table() -> None:
    counts = np.array(list(GARWOOD_95))
    lower, upper = poisson_ci(counts)
    want = np.array(list(GARWOOD_95.values()))
    np.testing.assert_allclose(lower, want[:, 0], atol=5e-5)
    np.testing.assert_allclose(upper, want[:, 1], atol=5e-5)


@pytest.mark.parametrize("level", [0.9, 0.95, 0.998])
def test_exact_limits_match_statsmodels(level: float) -> None:
    counts = np.array([0, 1, 2, 7, 11, 50, 333, 10_000])
    exposure = np.array([1.0, 2.0, 10.0, 1e3, 5e4, 1e5, 2e6, 7e7])
    lower, upper = poisson_ci(counts, level=level)
    lo_peer, up_peer = confint_poisson(counts, exposure, method="exact-c", alpha=1 - level)
    np.testing.assert_allclose(lower / exposure, lo_peer, rtol=1e-9, atol=0)
    np.testing.assert_allclose(upper / exposure, up_peer, rtol=1e-9, atol=0)
    rate = crude_rate(counts, exposure, per=1, level=level)
    np.testing.assert_allclose(rate.lower, lo_peer, rtol=1e-9)
    np.testing.assert_allclose(rate.upper, up_peer, rtol=1e-9)


def test_byar_is_the_published_formula_and_close_to_exact_for_large_counts() -> None:
    o = np.array([1.0, 4.0, 25.0, 400.0])
    z = 1.959963984540054
    lower, upper = poisson_ci(o, method="byar")
    np.testing.assert_allclose(lower, o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3, rtol=1e-12)
    np.testing.assert_allclose(
        upper, (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * np.sqrt(o + 1))) ** 3, rtol=1e-12
    )
    exact_lo, exact_up = poisson_ci(o)
    # Byar's approximation is within 0.1 % of the exact limits from 25 events on.
    assert np.all(np.abs(lower[2:] / exact_lo[2:] - 1) < 1e-3)
    assert np.all(np.abs(upper[2:] / exact_up[2:] - 1) < 1e-3)


def test_crude_rate_units() -> None:
    per_1000 = crude_rate([30], [12_000], per=1000)
    per_100k = crude_rate([30], [12_000], per=100_000)
    assert per_1000.estimate[0] == pytest.approx(2.5)
    assert per_100k.estimate[0] == pytest.approx(250.0)
    assert per_100k.lower[0] == pytest.approx(per_1000.lower[0] * 100)


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(0, 100_000),
    population=st.floats(1.0, 1e8),
    levels=st.lists(st.floats(0.5, 0.999), min_size=2, max_size=2, unique=True),
    method=st.sampled_from(["exact", "byar"]),
)
def test_interval_contains_estimate_and_widens_with_level(
    count: int, population: float, levels: list[float], method: str
) -> None:
    population = max(population, float(count))
    low_level, high_level = sorted(levels)
    narrow = crude_rate([count], [population], level=low_level, method=method)  # type: ignore[arg-type]
    wide = crude_rate([count], [population], level=high_level, method=method)  # type: ignore[arg-type]
    assert narrow.lower[0] <= narrow.estimate[0] <= narrow.upper[0]
    assert wide.lower[0] <= narrow.lower[0] + 1e-12 * narrow.upper[0]
    assert wide.upper[0] >= narrow.upper[0] - 1e-12 * narrow.upper[0]


def test_exact_coverage_is_at_least_nominal() -> None:
    rng = np.random.default_rng(7)
    mean = 3.7
    draws = rng.poisson(mean, 40_000)
    lower, upper = poisson_ci(draws)
    assert np.mean((lower <= mean) & (mean <= upper)) >= 0.95


@pytest.mark.parametrize(
    ("events", "population", "level", "message"),
    [
        ([-1], [10], 0.95, "negative"),
        ([1], [0], 0.95, "not positive"),
        ([1], [10], 1.0, "level"),
        ([np.nan], [10], 0.95, "missing"),
        (["a"], [10], 0.95, "expected numbers"),
    ],
)
def test_bad_input_is_one_clear_error(
    events: list[object], population: list[float], level: float, message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        crude_rate(events, population, level=level)  # type: ignore[arg-type]
