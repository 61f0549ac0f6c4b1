"""Log-link count regression by iteratively reweighted least squares (IRLS), in numpy.

Poisson, quasi-Poisson and negative binomial (NB2, ``Var = mu + alpha mu²``) with an offset.
Written here rather than imported so that the core install needs only numpy/scipy; the tests
compare it with statsmodels' GLM to 1e-9 on the coefficients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from sndslab.errors import InvalidArgumentError
from sndslab.indicators.stats._poisson import FloatArray

__all__ = ["CountFit", "fit_count_model", "negbin_loglik"]

Family = Literal["poisson", "quasipoisson", "negbin"]

_MAX_ITER = 200
_ALPHA_BRACKET = (1e-10, 1e4)


@dataclass(frozen=True)
class CountFit:
    """A fitted log-link count model: ``log E[y] = offset + X @ coef``.

    ``cov`` is the inverse expected information ``(X' W X)^-1`` times ``scale`` (1, or the
    Pearson chi-square over the residual degrees of freedom for quasi-Poisson); ``alpha`` is
    the NB2 dispersion (0 for Poisson).
    """

    coef: FloatArray
    cov: FloatArray
    mu: FloatArray
    family: str
    alpha: float
    scale: float
    deviance: float
    loglik: float
    iterations: int

    @property
    def se(self) -> FloatArray:
        """Standard errors of the coefficients."""
        return np.sqrt(np.diag(self.cov))


def negbin_loglik(y: FloatArray, mu: FloatArray, alpha: float) -> float:
    """NB2 log-likelihood ``sum log P(y | mu, alpha)`` (Poisson when ``alpha = 0``)."""
    if alpha == 0:
        return float(np.sum(special.xlogy(y, mu) - mu - special.gammaln(y + 1)))
    r = 1.0 / alpha
    return float(
        np.sum(
            special.gammaln(y + r)
            - special.gammaln(r)
            - special.gammaln(y + 1)
            + r * np.log(r / (r + mu))
            + special.xlogy(y, mu / (r + mu))
        )
    )


def _deviance(y: FloatArray, mu: FloatArray, alpha: float) -> float:
    if alpha == 0:
        return float(2 * np.sum(special.xlogy(y, y / mu) - (y - mu)))
    r = 1.0 / alpha
    return float(2 * np.sum(special.xlogy(y, y / mu) - (y + r) * np.log((y + r) / (mu + r))))


def _irls(
    y: FloatArray, x: FloatArray, offset: FloatArray, alpha: float, start: FloatArray | None
) -> tuple[FloatArray, FloatArray, int]:
    """IRLS for a log link and variance ``mu + alpha mu²``; returns (coef, weights, iterations)."""
    if start is None:
        mu = (y + y.mean()) / 2  # statsmodels' start: every fit converges to the same MLE
        eta = np.log(mu)
    else:
        eta = offset + x @ start
        mu = np.exp(eta)
    coef = np.zeros(x.shape[1]) if start is None else start
    dev = np.inf
    for it in range(1, _MAX_ITER + 1):
        w = mu / (1 + alpha * mu)
        z = eta - offset + (y - mu) / mu
        sw = np.sqrt(w)
        new, *_ = np.linalg.lstsq(x * sw[:, None], z * sw, rcond=None)
        eta = offset + x @ new
        mu = np.exp(eta)
        new_dev = _deviance(y, mu, alpha)
        step = np.max(np.abs(new - coef))
        coef = new
        if step <= 1e-13 * (1 + np.max(np.abs(coef))) or abs(new_dev - dev) <= 1e-15 * (
            1 + abs(new_dev)
        ):
            return coef, mu / (1 + alpha * mu), it
        dev = new_dev
    raise InvalidArgumentError(
        f"the count regression did not converge in {_MAX_ITER} iterations (collinear design "
        "or counts all zero?)"
    )


def _profile_score(y: FloatArray, mu: FloatArray, alpha: float) -> float:
    """d loglik / d alpha at fixed mu (the profile score, by the envelope theorem)."""
    r = 1.0 / alpha
    d_r = special.digamma(y + r) - special.digamma(r) + np.log(r / (r + mu)) + (mu - y) / (r + mu)
    return float(-np.sum(d_r) * r**2)


def fit_count_model(
    y: npt.ArrayLike,
    x: npt.ArrayLike,
    offset: npt.ArrayLike | None = None,
    family: Family = "poisson",
    alpha: float | None = None,
) -> CountFit:
    """Fit ``log E[y] = offset + x @ coef`` by maximum likelihood (IRLS).

    ``family="negbin"`` estimates the NB2 dispersion ``alpha`` by maximum likelihood unless it
    is given: the root of the profile score ``d loglik / d alpha`` (each evaluation refits the
    coefficients by IRLS), found by Brent's method on ``log alpha``; ``alpha = 0`` (Poisson)
    when the score is negative already at ``alpha = 1e-10`` (no overdispersion).
    ``family="quasipoisson"`` fits the Poisson model and scales the covariance by
    ``X2 / (n - p)``, the Pearson chi-square over the residual degrees of freedom.

    >>> t = np.arange(24.0)
    >>> y = np.round(100 * np.exp(0.01 * t))
    >>> fit = fit_count_model(y, np.column_stack([np.ones(24), t]))
    >>> [round(float(c), 4) for c in fit.coef]
    [4.6043, 0.0101]
    """
    yy = np.asarray(y, dtype=np.float64)
    xx = np.asarray(x, dtype=np.float64)
    off = np.zeros_like(yy) if offset is None else np.asarray(offset, dtype=np.float64)
    if yy.ndim != 1 or xx.ndim != 2 or xx.shape[0] != yy.size or off.shape != yy.shape:
        raise InvalidArgumentError("y (n,), x (n, p) and offset (n,) do not match")
    if not (np.all(np.isfinite(yy)) and np.all(np.isfinite(xx)) and np.all(np.isfinite(off))):
        raise InvalidArgumentError("y, x and offset must be finite")
    if np.any(yy < 0) or yy.sum() <= 0:
        raise InvalidArgumentError("counts must be non-negative and not all zero")
    if np.linalg.matrix_rank(xx) < xx.shape[1]:
        raise InvalidArgumentError("the design matrix is collinear (rank-deficient)")
    if family not in ("poisson", "quasipoisson", "negbin"):
        raise InvalidArgumentError(f"unknown family {family!r}")
    a = 0.0
    if family == "negbin":
        a = _estimate_alpha(yy, xx, off) if alpha is None else float(alpha)
        if a < 0:
            raise InvalidArgumentError(f"alpha must be >= 0, got {a!r}")
    coef, w, iterations = _irls(yy, xx, off, a, None)
    mu = np.exp(off + xx @ coef)
    scale = 1.0
    if family == "quasipoisson":
        scale = float(np.sum((yy - mu) ** 2 / mu) / (yy.size - xx.shape[1]))
    cov = np.asarray(np.linalg.inv(xx.T @ (xx * w[:, None])) * scale, dtype=np.float64)
    return CountFit(
        coef, cov, mu, family, a, scale, _deviance(yy, mu, a), negbin_loglik(yy, mu, a), iterations
    )


def _estimate_alpha(y: FloatArray, x: FloatArray, offset: FloatArray) -> float:
    state: dict[str, FloatArray | None] = {"coef": None}

    def score(log_alpha: float) -> float:
        a = float(np.exp(log_alpha))
        coef, _, _ = _irls(y, x, offset, a, state["coef"])
        state["coef"] = coef
        return _profile_score(y, np.exp(offset + x @ coef), a)

    lo, hi = np.log(_ALPHA_BRACKET[0]), np.log(_ALPHA_BRACKET[1])
    s_lo = score(lo)
    if s_lo <= 0:
        return 0.0
    if score(hi) > 0:
        raise InvalidArgumentError("the negative binomial dispersion diverges (alpha > 1e4)")
    root = optimize.brentq(score, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=500)
    return float(np.exp(root))
