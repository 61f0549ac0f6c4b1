"""Interrupted time series: the IRLS fit against statsmodels (peer) to 1e-9, the design by
hand, and simulated series with an injected lockdown drop recovered within its interval."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import statsmodels.api as sm

from sndslab.errors import InvalidArgumentError
from sndslab.indicators.stats import (
    FIRST_LOCKDOWN_FRANCE,
    FIRST_LOCKDOWN_FRANCE_END,
    fit_count_model,
    interrupted_time_series,
    its_design,
    negbin_loglik,
)

MONTHS = np.arange("2016-01", "2023-01", dtype="datetime64[M]")  # 84 months


def _simulate(
    seed: int, drop: float, alpha: float = 0.0, months: np.ndarray = MONTHS
) -> tuple[np.ndarray, np.ndarray]:
    """Monthly counts: 4 % a year trend, winter peak, population offset, a level drop from
    the lockdown (half of March 2020, then every month) and NB2 noise of dispersion alpha."""
    rng = np.random.default_rng(seed)
    t = np.arange(months.size)
    calendar = months.astype(int) % 12
    population = 2_000_000 * (1 + 0.002 * t)
    x, names = its_design(months, FIRST_LOCKDOWN_FRANCE, seasonality="none")
    level = x[:, names.index("level")]
    rate = 4e-4 * np.exp(0.04 / 12 * t + 0.15 * np.cos(2 * np.pi * calendar / 12))
    mu = population * rate * drop**level
    if alpha > 0:
        mu = rng.gamma(1 / alpha, alpha * mu)
    return rng.poisson(mu).astype(float), population


def _design(seasonality: str = "month") -> tuple[np.ndarray, list[str]]:
    return its_design(MONTHS, seasonality=seasonality)  # type: ignore[arg-type]


def test_design_by_hand() -> None:
    x, names = its_design(["2020-02", "2020-03", "2020-04", "2020-07"], seasonality="none")
    assert names == ["const", "time", "level", "slope"]
    np.testing.assert_allclose(x[:, 1], [0, 1, 2, 5])
    np.testing.assert_allclose(x[:, 2], [0, 15 / 31, 1, 1])  # 17..31 March: 15 of 31 days
    np.testing.assert_allclose(x[:, 3], [0, 0, 1, 4])
    x2, _ = its_design(["2020-02", "2020-03", "2020-04"], seasonality="none", partial="month")
    np.testing.assert_allclose(x2[:, 2], [0, 1, 1])
    xm, names_m = its_design(MONTHS, seasonality="month")
    assert names_m[4:] == [f"month_{k}" for k in range(2, 13)]
    assert np.all(xm[MONTHS.astype(int) % 12 == 0, 4:] == 0)
    xf, names_f = its_design(MONTHS, seasonality="fourier", harmonics=2)
    assert names_f[4:] == ["sin_1", "cos_1", "sin_2", "cos_2"]
    np.testing.assert_allclose(xf[2, 5], np.cos(2 * np.pi * 2 / 12))  # March 2016


@pytest.mark.parametrize("seasonality", ["month", "fourier"])
def test_poisson_matches_statsmodels(seasonality: str) -> None:
    y, pop = _simulate(1, 0.75)
    x, _ = _design(seasonality)
    ours = fit_count_model(y, x, np.log(pop), "poisson")
    peer = sm.GLM(y, x, family=sm.families.Poisson(), offset=np.log(pop)).fit(
        tol=1e-14, maxiter=200
    )
    np.testing.assert_allclose(ours.coef, peer.params, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.se, peer.bse, rtol=1e-9)
    assert ours.deviance == pytest.approx(peer.deviance, rel=1e-9)
    assert ours.loglik == pytest.approx(peer.llf, rel=1e-9)


def test_quasipoisson_matches_statsmodels_x2_scale() -> None:
    y, pop = _simulate(2, 0.75, alpha=0.004)
    x, _ = _design()
    ours = fit_count_model(y, x, np.log(pop), "quasipoisson")
    peer = sm.GLM(y, x, family=sm.families.Poisson(), offset=np.log(pop)).fit(
        tol=1e-14, maxiter=200, scale="X2"
    )
    np.testing.assert_allclose(ours.coef, peer.params, rtol=1e-9, atol=1e-9)
    assert ours.scale == pytest.approx(peer.scale, rel=1e-9)
    np.testing.assert_allclose(ours.cov, peer.cov_params(), rtol=1e-9)


def test_negbin_matches_statsmodels() -> None:
    y, pop = _simulate(3, 0.7, alpha=0.005)
    x, _ = _design()
    ours = fit_count_model(y, x, np.log(pop), "negbin")
    assert ours.alpha > 0
    # At our alpha, statsmodels' GLM with the NB2 family gives the same fit to 1e-9.
    glm = sm.GLM(
        y, x, family=sm.families.NegativeBinomial(alpha=ours.alpha), offset=np.log(pop)
    ).fit(tol=1e-14, maxiter=200)
    np.testing.assert_allclose(ours.coef, glm.params, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours.se, glm.bse, rtol=1e-9)
    assert ours.loglik == pytest.approx(glm.llf, rel=1e-9)
    # The dispersion itself is the joint maximum likelihood of statsmodels' NB2 model (its
    # optimiser stops at a gradient tolerance, hence the looser comparison).
    start = np.append(
        sm.GLM(y, x, family=sm.families.Poisson(), offset=np.log(pop)).fit().params, 0.01
    )
    joint = sm.NegativeBinomial(y, x, offset=np.log(pop), loglike_method="nb2").fit(
        start_params=start, method="bfgs", maxiter=20_000, gtol=1e-10, disp=0
    )
    assert ours.alpha == pytest.approx(joint.params[-1], rel=1e-6)
    np.testing.assert_allclose(ours.coef, joint.params[:-1], rtol=1e-6, atol=1e-8)
    assert ours.loglik >= joint.llf - 1e-8
    # And it maximises the profile likelihood.
    for factor in (0.99, 1.01):
        other = fit_count_model(y, x, np.log(pop), "negbin", alpha=ours.alpha * factor)
        assert negbin_loglik(y, other.mu, other.alpha) < ours.loglik


def test_negbin_without_overdispersion_is_poisson() -> None:
    y = np.array([100.0, 100, 100, 100, 100, 100, 100, 100])
    x = np.column_stack([np.ones(8), np.arange(8.0)])
    fit = fit_count_model(y, x, family="negbin")
    assert fit.alpha == 0.0
    poisson = fit_count_model(y, x)
    np.testing.assert_allclose(fit.coef, poisson.coef, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("family", "seasonality", "alpha"),
    [
        ("negbin", "month", 0.003),
        ("negbin", "fourier", 0.003),
        ("quasipoisson", "month", 0.003),
        ("poisson", "month", 0.0),
    ],
)
def test_injected_lockdown_drop_is_recovered(family: str, seasonality: str, alpha: float) -> None:
    y, pop = _simulate(11, 0.7, alpha=alpha)
    res = interrupted_time_series(
        y,
        MONTHS,
        pop,
        family=family,
        seasonality=seasonality,  # type: ignore[arg-type]
    )
    rr = res.rate_ratio("level")
    assert rr.lower[0] < 0.7 < rr.upper[0]
    assert rr.upper[0] < 1  # the drop is detected
    assert abs(rr.estimate[0] - 0.7) < 0.05
    slope = res.rate_ratio("slope")
    assert slope.lower[0] < 1 < slope.upper[0]  # no trend change injected


def test_temporary_lockdown_drop_is_recovered() -> None:
    """A drop only from 17 March to 10 May 2020 (the synthetic SNDS's first lockdown)."""
    rng = np.random.default_rng(21)
    x, names = its_design(MONTHS, seasonality="none", end_date=FIRST_LOCKDOWN_FRANCE_END)
    share = x[:, names.index("level")]
    may_2020 = int(np.searchsorted(MONTHS, np.datetime64("2020-05")))
    assert share[may_2020] == pytest.approx(10 / 31)
    t = np.arange(MONTHS.size)
    mu = 30_000 * np.exp(0.003 * t + 0.1 * np.cos(2 * np.pi * (MONTHS.astype(int) % 12) / 12))
    mu = mu * 0.6**share  # the rate during the lockdown days is 0.6 times the usual one
    y = rng.poisson(rng.gamma(1 / 0.002, 0.002 * mu)).astype(float)
    res = interrupted_time_series(y, MONTHS, end_date=FIRST_LOCKDOWN_FRANCE_END)
    assert "slope" not in res.names
    rr = res.rate_ratio("level")
    assert rr.lower[0] < 0.6 < rr.upper[0] and rr.upper[0] < 1
    with pytest.raises(InvalidArgumentError, match="before the break"):
        its_design(MONTHS, end_date=dt.date(2020, 1, 1))


def test_level_interval_coverage_over_replicates() -> None:
    hits = 0
    for seed in range(40):
        y, pop = _simulate(100 + seed, 0.8)
        rr = interrupted_time_series(y, MONTHS, pop, family="poisson").rate_ratio("level")
        hits += bool(rr.lower[0] <= 0.8 <= rr.upper[0])
    assert hits >= 34  # nominal 95 %: 38 expected, P(hits < 34) < 1 %


def test_bad_input() -> None:
    with pytest.raises(InvalidArgumentError, match="not inside"):
        its_design(MONTHS[:24])  # 2016-2017 only
    with pytest.raises(InvalidArgumentError, match="differ in length"):
        interrupted_time_series(np.ones(5), MONTHS)
    with pytest.raises(InvalidArgumentError, match="collinear"):
        fit_count_model(np.ones(4), np.ones((4, 2)))
    with pytest.raises(InvalidArgumentError, match="unknown term"):
        y, pop = _simulate(1, 0.7)
        interrupted_time_series(y, MONTHS, pop, family="poisson").rate_ratio("drop")
    with pytest.raises(InvalidArgumentError, match="YYYY-MM"):
        its_design(["not a month", "x", "y"])
    with pytest.raises(InvalidArgumentError, match="at most once"):
        its_design(["2020-01", "2020-01", "2020-05"], dt.date(2020, 3, 1))
