"""Direct and indirect standardisation: hand computations, a second route (DuckDB SQL), the
shipped standard populations, and properties (hypothesis)."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats
from statsmodels.stats.rates import confint_poisson

from sndslab.errors import InvalidArgumentError
from sndslab.indicators.stats import (
    age_band_index,
    crude_rate,
    direct_standardise,
    indirect_standardise,
    poisson_ci,
    standard_population,
    standardise_table,
)

ESP = standard_population("esp2013")


def test_esp2013_weights() -> None:
    assert ESP.weights.sum() == 100_000
    assert ESP.weights[0] == 5000 and ESP.weights[-1] == 200  # 0-4 and 95+
    assert ESP.weights[8] == 7000 and ESP.labels[8] == "40-44"
    assert ESP.age_low.tolist() == list(range(0, 100, 5))


def test_france_population_matches_the_published_totals() -> None:
    men = standard_population("france_rp2018", sex="1")
    women = standard_population("france_rp2018", sex="2")
    both = standard_population("france_rp2018")
    # Insee POP1B RP2018 published totals; rows are rounded by Insee (a few units apart).
    assert abs(men.weights.sum() - 32_280_580) <= 5
    assert abs(women.weights.sum() - 34_451_958) <= 5
    assert abs(both.weights.sum() - 66_732_538) <= 5
    assert men.labels == ESP.labels
    assert men.weights[0] == 1_912_032 and women.weights[-1] == 135_150 + 17_392
    np.testing.assert_array_equal(both.weights, men.weights + women.weights)


def test_unknown_standard_is_one_error() -> None:
    with pytest.raises(InvalidArgumentError, match="unknown standard population"):
        standard_population("world2000")
    with pytest.raises(InvalidArgumentError, match="not split by sex"):
        standard_population("esp2013", sex="1")


def test_direct_rate_by_hand() -> None:
    # Two bands, standard 60/40: rates 2/1000 and 30/1500.
    d, n, s = np.array([2.0, 30.0]), np.array([1000.0, 1500.0]), np.array([60.0, 40.0])
    est = direct_standardise(d, n, s, per=1000)
    y = 0.6 * 2 / 1000 + 0.4 * 30 / 1500
    v = 0.6**2 * 2 / 1000**2 + 0.4**2 * 30 / 1500**2
    w_m = max(0.6 / 1000, 0.4 / 1500)
    assert est.estimate == pytest.approx(1000 * y, rel=1e-12)
    # Fay & Feuer (1997) eq. for the limits, through the chi-square route (a second route to the
    # gamma quantiles): G(q; shape k, scale t) = t * chi2(q; 2k) / 2.
    lower = v / y * stats.chi2.ppf(0.025, 2 * y**2 / v) / 2
    upper = (v + w_m**2) / (y + w_m) * stats.chi2.ppf(0.975, 2 * (y + w_m) ** 2 / (v + w_m**2)) / 2
    assert est.lower == pytest.approx(1000 * lower, rel=1e-9)
    assert est.upper == pytest.approx(1000 * upper, rel=1e-9)
    # Tiwari et al. (2006): mean weight and mean squared weight in the upper limit.
    tiw = direct_standardise(d, n, s, per=1000, method="tiwari")
    w = np.array([0.6 / 1000, 0.4 / 1500])
    y2, v2 = y + w.mean(), v + (w**2).mean()
    assert tiw.lower == pytest.approx(est.lower, rel=1e-12)
    assert tiw.upper == pytest.approx(
        1000 * stats.gamma.ppf(0.975, y2**2 / v2, scale=v2 / y2), rel=1e-9
    )
    assert tiw.upper < est.upper


def test_one_band_gives_the_exact_poisson_limits() -> None:
    d = np.array([[0.0], [1.0], [9.0], [250.0]])
    n = np.array([[500.0], [800.0], [10_000.0], [3e6]])
    est = direct_standardise(d, n, [1.0], per=1e5)
    crude = crude_rate(d[:, 0], n[:, 0], per=1e5)
    np.testing.assert_allclose(est.estimate, crude.estimate, rtol=1e-12)
    np.testing.assert_allclose(est.lower, crude.lower, rtol=1e-9)
    np.testing.assert_allclose(est.upper, crude.upper, rtol=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    rates=hnp.arrays(np.float64, 20, elements=st.floats(0, 0.05)),
    size=st.floats(1e3, 1e7),
    seed=st.integers(0, 2**16),
)
def test_population_equal_to_the_standard_gives_the_crude_rate(
    rates: np.ndarray, size: float, seed: int
) -> None:
    population = ESP.weights / ESP.weights.sum() * size
    events = np.random.default_rng(seed).poisson(rates * population).astype(float)
    est = direct_standardise(events, population, ESP.weights)
    crude = crude_rate(events.sum(), population.sum())
    assert est.estimate == pytest.approx(crude.estimate, rel=1e-9, abs=1e-12)
    # Equal weights per person: the Fay-Feuer limits are Garwood's (exact) limits.
    assert est.lower == pytest.approx(crude.lower, rel=1e-9, abs=1e-12)
    assert est.upper == pytest.approx(crude.upper, rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(
    events=hnp.arrays(np.int64, 5, elements=st.integers(0, 500)),
    population=hnp.arrays(np.float64, 5, elements=st.floats(100, 1e6)),
    standard=hnp.arrays(np.float64, 5, elements=st.floats(0.01, 10)),
    levels=st.lists(st.floats(0.5, 0.999), min_size=2, max_size=2, unique=True),
    method=st.sampled_from(["fay-feuer", "tiwari"]),
)
def test_interval_contains_estimate_and_widens_with_level(
    events: np.ndarray,
    population: np.ndarray,
    standard: np.ndarray,
    levels: list[float],
    method: str,
) -> None:
    lo_level, hi_level = sorted(levels)
    narrow = direct_standardise(events, population, standard, level=lo_level, method=method)  # type: ignore[arg-type]
    wide = direct_standardise(events, population, standard, level=hi_level, method=method)  # type: ignore[arg-type]
    assert narrow.lower[()] <= narrow.estimate[()] <= narrow.upper[()]
    assert wide.lower[()] <= narrow.lower[()] * (1 + 1e-12)
    assert wide.upper[()] >= narrow.upper[()] * (1 - 1e-12)


def test_fay_feuer_coverage_is_at_least_nominal() -> None:
    rng = np.random.default_rng(11)
    rates = np.array([0.001, 0.002, 0.004, 0.01, 0.03])
    population = np.array([8000.0, 5000.0, 3000.0, 900.0, 150.0])
    standard = np.array([30.0, 25.0, 20.0, 15.0, 10.0])
    truth = 1e5 * np.sum(standard / standard.sum() * rates)
    events = rng.poisson(rates * population, size=(20_000, 5))
    est = direct_standardise(events, population, standard)
    assert np.mean((est.lower <= truth) & (truth <= est.upper)) >= 0.95


def test_table_route_matches_duckdb_sql() -> None:
    rng = np.random.default_rng(3)
    deps = np.repeat(np.array(["01", "2A", "75", "971"]), 2 * 20)
    sexes = np.tile(np.repeat(np.array([1, 2]), 20), 4)
    band = np.tile(np.arange(20), 8)
    pop = rng.integers(50, 20_000, band.size).astype(float)
    events = rng.poisson(pop * np.linspace(0.0005, 0.05, 20)[band]).astype(float)
    table = pa.table({"dep": deps, "sex": sexes, "band": band, "d": events, "n": pop})
    ours = standardise_table(table, ["dep", "sex"], "band", "d", "n", ESP.weights)
    std = pa.table({"band": np.arange(20), "w": ESP.weights / ESP.weights.sum()})
    con = duckdb.connect()
    con.register("t", table)
    con.register("std", std)
    peer = con.sql(
        "SELECT dep, sex, sum(w * d / n) * 100000 AS rate, sum(d) AS d "
        "FROM t JOIN std USING (band) GROUP BY dep, sex ORDER BY dep, sex"
    ).to_arrow_table()
    assert ours.column("dep").to_pylist() == peer.column("dep").to_pylist()
    assert ours.column("sex").to_pylist() == peer.column("sex").to_pylist()
    np.testing.assert_allclose(ours.column("rate"), peer.column("rate"), rtol=1e-9)
    np.testing.assert_allclose(ours.column("d"), peer.column("d"), rtol=0)
    # The same with pandas and with a DuckDB relation as input.
    again = standardise_table(table.to_pandas(), ["dep", "sex"], "band", "d", "n", ESP.weights)
    assert again.equals(ours)
    whole = standardise_table(table, [], "band", "d", "n", ESP.weights)
    assert whole.num_rows == 1 and whole.column("d")[0].as_py() == events.sum()
    rel = standardise_table(
        con.sql("SELECT * FROM t"), ["dep", "sex"], "band", "d", "n", ESP.weights
    )
    assert rel.equals(ours)


def test_empty_table_and_empty_strata_are_zeros_not_errors() -> None:
    empty = pa.table(
        {
            "dep": pa.array([], pa.string()),
            "band": pa.array([], pa.int64()),
            "d": pa.array([], pa.float64()),
            "n": pa.array([], pa.float64()),
        }
    )
    out = standardise_table(empty, ["dep"], "band", "d", "n", [1, 1])
    assert out.num_rows == 0 and out.schema.field("dep").type == pa.string()
    zero = direct_standardise([[0, 0]], [[10, 10]], [1, 1])
    assert zero.estimate[0] == 0 and zero.lower[0] == 0 and zero.upper[0] > 0


def test_table_from_ages() -> None:
    ages = np.array([3, 7, 47, 96, 101])
    assert age_band_index(ages, ESP.age_low).tolist() == [0, 1, 9, 19, 19]
    assert ESP.band_index([0, 94, 95]).tolist() == [0, 18, 19]


def test_empty_band_with_weight_is_one_error() -> None:
    with pytest.raises(InvalidArgumentError, match="no population"):
        direct_standardise([[1, 0]], [[100, 0]], [1, 1])
    t = {"g": ["a", "b"], "band": [0, 1], "d": [1, 1], "n": [10, 10]}
    with pytest.raises(InvalidArgumentError, match="no population"):
        standardise_table(t, ["g"], "band", "d", "n", [1, 1])
    with pytest.raises(InvalidArgumentError, match="missing column"):
        standardise_table(t, ["dep"], "band", "d", "n", [1, 1])
    with pytest.raises(InvalidArgumentError, match="age band indexes"):
        standardise_table(t, ["g"], "band", "d", "n", [1])


def test_sir_by_hand_and_against_statsmodels() -> None:
    rates = np.array([0.001, 0.01, 0.05])
    population = np.array([[10_000.0, 2_000.0, 300.0], [500.0, 100.0, 20.0]])
    observed = np.array([60, 0])
    sir = indirect_standardise(observed, population, rates)
    expected = np.array([10 + 20 + 15, 0.5 + 1 + 1.0])
    np.testing.assert_allclose(sir.expected, expected, rtol=1e-12)
    np.testing.assert_allclose(sir.estimate, observed / expected, rtol=1e-12)
    lo, up = confint_poisson(observed, expected, method="exact-c")
    np.testing.assert_allclose(sir.lower, lo, rtol=1e-9, atol=0)
    np.testing.assert_allclose(sir.upper, up, rtol=1e-9)
    byar = indirect_standardise(observed, population, rates, method="byar")
    np.testing.assert_allclose(byar.lower * expected, poisson_ci(observed, method="byar")[0])


@settings(max_examples=100, deadline=None)
@given(
    rates=hnp.arrays(np.float64, 6, elements=st.floats(1e-4, 0.1)),
    population=hnp.arrays(np.float64, 6, elements=st.floats(1, 1e6)),
)
def test_sir_of_the_reference_itself_is_one(rates: np.ndarray, population: np.ndarray) -> None:
    expected = float(population @ rates)
    sir = indirect_standardise(expected, population, rates)  # observed = expected events
    assert sir.estimate[()] == pytest.approx(1.0, rel=1e-12)
    assert sir.lower[()] <= 1.0 <= sir.upper[()]


def test_sir_coverage_with_reference_rates() -> None:
    rng = np.random.default_rng(5)
    rates = np.array([0.002, 0.01, 0.04])
    population = rng.integers(10, 3000, size=(30_000, 3)).astype(float)
    observed = rng.poisson(population @ rates)
    sir = indirect_standardise(observed, population, rates)
    assert np.mean(sir.observed) / np.mean(sir.expected) == pytest.approx(1.0, abs=0.01)
    assert np.mean((sir.lower <= 1) & (sir.upper >= 1)) >= 0.95


def test_sir_bad_input() -> None:
    with pytest.raises(InvalidArgumentError, match="reference_rates"):
        indirect_standardise([1], [[10, 10]], [0.1])
    with pytest.raises(InvalidArgumentError, match="no expected events"):
        indirect_standardise([1], [[0, 0]], [0.1, 0.1])
