"""Conditional Poisson regression on case-only data: the SCCS likelihood.

For case ``i`` with ``n_i`` events and intervals ``k`` of length ``e_ik`` and covariates
``x_ik``, conditioning on ``n_i`` removes the case's baseline (Farrington 1995; Whitaker et
al., Stat Med 2006)::

    ℓ(β) = Σ_ik y_ik x_ik·β − Σ_i n_i log Σ_k e_ik exp(x_ik·β)

which equals the profile likelihood of a Poisson GLM with one fixed effect per case and
offset ``log e_ik`` (the test suite checks it against statsmodels). An optional quadratic
penalty ``½ βᵀPβ`` (ConvSCCS smoothness and ridge) is subtracted; its covariance is the
inverse of the penalised information (the "Bayesian" intervals of penalised GLMs).

>>> import numpy as np, scipy.sparse as sp
>>> X = sp.csr_matrix(np.array([[0.0], [1.0], [0.0], [1.0]]))
>>> fit = fit_conditional_poisson(X, y=np.array([1, 3, 2, 2]), length=np.ones(4),
...                               case=np.array([0, 0, 1, 1]))
>>> round(float(np.exp(fit.coef[0])), 6)   # (3 + 2) / (1 + 2)
1.666667
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize

from sndslab.errors import SndslabError

__all__ = ["ConditionalPoissonFit", "fit_conditional_poisson"]


@dataclass(frozen=True)
class ConditionalPoissonFit:
    """Coefficients (log relative incidences), their covariance, the log-likelihood (without
    the penalty), iterations and whether the optimiser converged."""

    coef: np.ndarray
    cov: np.ndarray | None
    se: np.ndarray
    loglik: float
    iterations: int
    converged: bool
    blocks: list[np.ndarray]


class _Problem:
    def __init__(
        self,
        X: sp.csr_matrix,
        y: np.ndarray,
        length: np.ndarray,
        case: np.ndarray,
        penalty: sp.spmatrix | None,
    ) -> None:
        self.X = X.tocsr()
        self.XT = self.X.T.tocsr()
        self.y = y.astype(np.float64)
        self.log_e = np.log(length.astype(np.float64))
        _, self.case = np.unique(case, return_inverse=True)
        self.n_cases = int(self.case.max()) + 1 if len(self.case) else 0
        self.N = np.bincount(self.case, weights=self.y, minlength=self.n_cases)
        self.N_row = self.N[self.case]
        rows = np.arange(len(self.case))
        self.A = sp.csr_matrix(
            (np.ones(len(self.case)), (self.case, rows)), shape=(self.n_cases, len(self.case))
        )
        self.P = penalty
        self.Xty = self.XT @ self.y

    def probs(self, beta: np.ndarray) -> tuple[np.ndarray, float]:
        eta = self.X @ beta + self.log_e
        # per-case log-sum-exp, stabilised by the case's maximum
        m = np.full(self.n_cases, -np.inf)
        np.maximum.at(m, self.case, eta)
        w = np.exp(eta - m[self.case])
        s = np.bincount(self.case, weights=w, minlength=self.n_cases)
        p = w / s[self.case]
        lse = m + np.log(s)
        ll = float(self.y @ (eta - self.log_e) - self.N @ lse)
        return p, ll

    def value_grad(self, beta: np.ndarray) -> tuple[float, np.ndarray]:
        p, ll = self.probs(beta)
        g = self.Xty - self.XT @ (self.N_row * p)
        f = -ll
        if self.P is not None:
            pb = self.P @ beta
            f += 0.5 * float(beta @ pb)
            g = g - pb
        return f, -g

    def hess(self, beta: np.ndarray) -> sp.csc_matrix:
        p, _ = self.probs(beta)
        W = sp.diags(self.N_row * p)
        U = self.A @ sp.diags(p) @ self.X
        H = self.XT @ W @ self.X - U.T @ sp.diags(self.N) @ U
        if self.P is not None:
            H = H + self.P
        return sp.csc_matrix(H)

    def hess_dense(self, beta: np.ndarray) -> np.ndarray:
        """The information as a dense array: the sparse X'WX plus the dense rank-per-case
        correction (much faster than a sparse difference when cases buy many drugs)."""
        p, _ = self.probs(beta)
        H = (self.XT @ sp.diags(self.N_row * p) @ self.X).toarray()
        U = (self.A @ sp.diags(p) @ self.X).toarray()
        H -= U.T @ (self.N[:, None] * U)
        if self.P is not None:
            H += self.P.toarray() if sp.issparse(self.P) else self.P
        return H

    def hessp(self, beta: np.ndarray, v: np.ndarray, p: np.ndarray) -> np.ndarray:
        xv = self.X @ v
        t = self.N_row * p * xv
        u = np.bincount(self.case, weights=p * xv, minlength=self.n_cases)
        out = self.XT @ (t - self.N_row * p * u[self.case])
        if self.P is not None:
            out = out + self.P @ v
        return np.asarray(out)


def fit_conditional_poisson(
    X: sp.spmatrix | np.ndarray,
    y: np.ndarray,
    length: np.ndarray,
    case: np.ndarray,
    *,
    penalty: sp.spmatrix | None = None,
    covariance: bool = True,
    blocks: list[np.ndarray] | None = None,
    tol: float = 1e-10,
    max_iter: int = 200,
    dense_max: int = 6000,
) -> ConditionalPoissonFit:
    """Maximise the (penalised) conditional Poisson likelihood.

    ``X``: one row per case interval (sparse or dense), ``y`` its events, ``length`` its days,
    ``case`` its case. Problems of up to ``dense_max`` coefficients use Newton's method with
    a line search on the dense information (a few iterations); larger ones a trust-region
    Newton-Krylov method with Hessian-vector products. ``covariance`` inverts
    the information (a sparse LU for large problems); with ``blocks`` (lists of coefficient
    indices, e.g. the lags of one drug) only those diagonal blocks of the covariance are
    computed and returned, ``cov`` stays ``None``.
    """
    Xs = sp.csr_matrix(X, dtype=np.float64)
    n, k = Xs.shape
    if n == 0 or k == 0:
        raise SndslabError("nothing to fit: no case interval or no covariate")
    if np.any(length <= 0):
        raise SndslabError("interval lengths must be > 0")
    prob = _Problem(Xs, np.asarray(y), np.asarray(length), np.asarray(case), penalty)
    beta = np.zeros(k)
    converged = False
    iterations = 0
    if k <= dense_max:
        f, g = prob.value_grad(beta)
        for iterations in range(1, max_iter + 1):  # noqa: B007 - iterations reported
            H = prob.hess_dense(beta)
            H[np.diag_indices(k)] += 1e-12
            try:
                step = -cho_solve(cho_factor(H), g)
            except np.linalg.LinAlgError:
                step = -np.linalg.lstsq(H, g, rcond=None)[0]
            t = 1.0
            while True:
                f_new, g_new = prob.value_grad(beta + t * step)
                if f_new <= f + 1e-4 * t * float(g @ step) or t < 1e-8:
                    break
                t /= 2
            beta = beta + t * step
            done = abs(f - f_new) < tol * (1 + abs(f)) and np.max(np.abs(t * step)) < 1e-8
            f, g = f_new, g_new
            if done or np.max(np.abs(g)) < 1e-9:
                converged = True
                break
    else:
        state: dict[str, np.ndarray] = {}

        def hessp(b: np.ndarray, v: np.ndarray) -> np.ndarray:
            if "b" not in state or not np.array_equal(state["b"], b):
                state["b"] = b.copy()
                state["p"] = prob.probs(b)[0]
            return prob.hessp(b, v, state["p"])

        res = minimize(
            prob.value_grad,
            beta,
            jac=True,
            hessp=hessp,
            method="trust-krylov",
            options={"gtol": 1e-7, "maxiter": max_iter},
        )
        beta, converged, iterations = res.x, bool(res.success), int(res.nit)
    _, ll = prob.probs(beta)
    cov: np.ndarray | None = None
    se = np.full(k, np.nan)
    out_blocks: list[np.ndarray] = []
    if covariance:
        if blocks is None or k <= dense_max:
            Hd = prob.hess_dense(beta)
            try:
                cov = cho_solve(cho_factor(Hd), np.eye(k))
            except np.linalg.LinAlgError:
                cov = np.linalg.pinv(Hd)
            se = np.sqrt(np.clip(np.diag(cov), 0, None))
            if blocks is not None:
                out_blocks = [cov[np.ix_(idx, idx)] for idx in blocks]
                cov = None
        else:
            out_blocks = _inverse_blocks(prob.hess(beta), blocks)
            for idx, c in zip(blocks, out_blocks, strict=True):
                se[idx] = np.sqrt(np.clip(np.diag(c), 0, None))
    return ConditionalPoissonFit(beta, cov, se, ll, iterations, converged, out_blocks)


def _inverse_blocks(H: sp.csc_matrix, blocks: list[np.ndarray]) -> list[np.ndarray]:
    """Diagonal blocks of the inverse of a sparse symmetric positive-definite matrix: one
    sparse LU, then one solve per block (its columns of the inverse)."""
    k = H.shape[0]
    lu = spla.splu(sp.csc_matrix(H))
    out = []
    for idx in blocks:
        rhs = np.zeros((k, len(idx)))
        rhs[idx, np.arange(len(idx))] = 1.0
        sol = lu.solve(rhs)
        c = sol[idx, :]
        out.append(0.5 * (c + c.T))
    return out
