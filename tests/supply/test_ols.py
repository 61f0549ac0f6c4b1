"""sndslab.supply.ols against statsmodels (OLS and WLS, to 1e-8) and its refusals."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from sndslab.errors import InvalidArgumentError
from sndslab.supply import ols


def _data(seed: int, n: int = 96, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, k)) * [0.4, 0.05, 0.03][:k] + [1.5, 0.18, 0.1][:k]
    y = 3 + x @ np.array([0.5, -2.0, 4.0][:k]) + rng.normal(scale=0.3, size=n)
    return y, x


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_statsmodels(seed: int, weighted: bool) -> None:
    y, x = _data(seed)
    w = np.random.default_rng(seed + 10).uniform(100, 5000, len(y)) if weighted else None
    fit = ols(y, {"a": x[:, 0], "b": x[:, 1], "c": x[:, 2]}, weights=w)
    exog = sm.add_constant(x)
    peer = (sm.WLS(y, exog, weights=w) if weighted else sm.OLS(y, exog)).fit()
    ci = peer.conf_int(alpha=0.05)
    np.testing.assert_allclose(fit.coef, peer.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.se, peer.bse, rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.lower, ci[:, 0], rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.upper, ci[:, 1], rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.p_value, peer.pvalues, rtol=0, atol=1e-8)
    assert fit.r2 == pytest.approx(peer.rsquared, abs=1e-8)
    assert fit.df_resid == peer.df_resid
    assert fit.names == ("intercept", "a", "b", "c")


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(5, 60),
    level=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_interval_matches_statsmodels_at_any_level(seed: int, n: int, level: float) -> None:
    y, x = _data(seed, n=n, k=2)
    fit = ols(y, {"a": x[:, 0], "b": x[:, 1]}, level=level)
    peer = sm.OLS(y, sm.add_constant(x)).fit()
    ci = peer.conf_int(alpha=1 - level)
    np.testing.assert_allclose(fit.lower, ci[:, 0], rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(fit.upper, ci[:, 1], rtol=1e-9, atol=1e-8)


def test_refusals() -> None:
    x = np.arange(10.0)
    with pytest.raises(InvalidArgumentError, match=r"\['b'\] are constant or collinear"):
        ols(x * 2 + 1, {"a": x, "b": 2 * x})
    with pytest.raises(InvalidArgumentError, match="constant or collinear"):
        ols(x, {"a": np.ones(10)})
    with pytest.raises(InvalidArgumentError, match="at least 3 are needed"):
        ols([1.0, 2.0], {"a": [1.0, 3.0]})
    with pytest.raises(InvalidArgumentError, match="finite"):
        ols([1.0, np.nan, 3.0, 4.0], {"a": [1.0, 2.0, 3.0, 5.0]})
    with pytest.raises(InvalidArgumentError, match="weights"):
        ols(x, {"a": x**2}, weights=-np.ones(10))
    with pytest.raises(InvalidArgumentError, match="unknown term"):
        ols(x + np.sin(x), {"a": x}).term("b")
