"""The conditional Poisson (SCCS) likelihood against a Poisson GLM with one fixed effect per
case (statsmodels), and the penalised fit's optimality."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import statsmodels.api as sm

from sndslab.signals import fit_conditional_poisson, lag_penalty


def _simulated(seed: int, n_cases: int = 60, k: int = 4) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    rows = rng.integers(3, 9, n_cases)
    case = np.repeat(np.arange(n_cases), rows)
    X = (rng.random((len(case), k)) < 0.3).astype(np.float64)
    length = rng.integers(1, 60, len(case)).astype(np.float64)
    beta = rng.normal(0, 0.5, k)
    base = rng.gamma(2.0, 0.02, n_cases)[case]
    y = rng.poisson(base * length * np.exp(X @ beta)).astype(np.float64)
    return X, y, length, case


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_fixed_effects_poisson_glm(seed: int) -> None:
    X, y, length, case = _simulated(seed)
    keep = np.isin(case, np.flatnonzero(np.bincount(case, weights=y) > 0))
    X, y, length, case = X[keep], y[keep], length[keep], case[keep]
    ours = fit_conditional_poisson(X, y, length, case)
    dummies = (case[:, None] == np.unique(case)[None, :]).astype(np.float64)
    glm = sm.GLM(y, np.hstack([X, dummies]), family=sm.families.Poisson(), offset=np.log(length))
    ref = glm.fit(tol=1e-13, maxiter=200)
    k = X.shape[1]
    assert np.max(np.abs(ours.coef - ref.params[:k])) < 1e-6
    assert np.max(np.abs(ours.se - ref.bse[:k])) < 1e-6
    assert ours.converged


def test_penalised_fit_is_stationary_and_shrinks() -> None:
    X, y, length, case = _simulated(3, n_cases=80, k=6)
    P = lag_penalty(2, 3, 0, smoothness=5.0, ridge=1.0)
    free = fit_conditional_poisson(X, y, length, case)
    pen = fit_conditional_poisson(sp.csr_matrix(X), y, length, case, penalty=P)
    assert pen.converged
    assert float(pen.coef @ (P @ pen.coef)) < float(free.coef @ (P @ free.coef))
    # Newton-Krylov (large problems) reaches the same optimum as dense Newton
    krylov = fit_conditional_poisson(
        sp.csr_matrix(X), y, length, case, penalty=P, dense_max=0, blocks=[np.arange(6)]
    )
    assert np.max(np.abs(krylov.coef - pen.coef)) < 1e-5
    assert np.max(np.abs(krylov.se - pen.se)) < 1e-5


def test_nothing_to_fit_is_one_clear_error() -> None:
    from sndslab.errors import SndslabError

    with pytest.raises(SndslabError, match="nothing to fit"):
        fit_conditional_poisson(np.zeros((0, 1)), np.zeros(0), np.ones(0), np.zeros(0))
