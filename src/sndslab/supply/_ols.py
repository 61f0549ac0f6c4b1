"""Ordinary least squares with classical standard errors and t-based confidence intervals.

The model of the 2015 Open DAMIR hackathon: one row per territory, ``y = X b + e`` with
homoskedastic errors, coefficients ``b = (X'X)^-1 X'y`` (solved by QR, not by inverting
``X'X``), standard errors ``sqrt(diag(s² (X'X)^-1))`` with ``s² = e'e / (n - p)`` and
Student-t intervals on ``n - p`` degrees of freedom (Greene, *Econometric Analysis*, ch. 4).
Optional weights give weighted least squares (rows scaled by ``sqrt(w)``). Tested against
statsmodels' ``OLS`` / ``WLS`` to 1e-8 (tests/supply/test_ols.py).

>>> import numpy as np
>>> x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
>>> fit = ols(np.array([2.1, 3.9, 6.2, 7.8, 10.1]), {"density": x})
>>> [round(float(v), 3) for v in fit.coef]
[0.05, 1.99]
>>> fit.names
('intercept', 'density')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from sndslab.errors import InvalidArgumentError

__all__ = ["OLSFit", "ols"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class OLSFit:
    """A fitted linear model: one entry per term (``names``, intercept first)."""

    names: tuple[str, ...]
    coef: FloatArray
    se: FloatArray
    lower: FloatArray
    upper: FloatArray
    t: FloatArray
    p_value: FloatArray
    n: int
    df_resid: int
    r2: float
    level: float

    def term(self, name: str) -> dict[str, float]:
        """Estimate, SE and interval of one term."""
        if name not in self.names:
            raise InvalidArgumentError(f"unknown term {name!r}; terms: {', '.join(self.names)}")
        j = self.names.index(name)
        return {
            "estimate": float(self.coef[j]),
            "se": float(self.se[j]),
            "lower": float(self.lower[j]),
            "upper": float(self.upper[j]),
        }


def ols(
    y: npt.ArrayLike,
    regressors: Mapping[str, npt.ArrayLike],
    *,
    weights: npt.ArrayLike | None = None,
    level: float = 0.95,
) -> OLSFit:
    """Fit ``y`` on an intercept and ``regressors`` (name → column); ``weights``: WLS.

    Errors (``InvalidArgumentError``): non-finite values, fewer rows than terms + 1, a
    regressor that is constant or collinear with the others (rank deficiency), a level not in
    (0, 1), non-positive weights.
    """
    if not 0 < level < 1:
        raise InvalidArgumentError(f"level must be in (0, 1), got {level}")
    yv = np.asarray(y, dtype=np.float64)
    names = ("intercept", *regressors)
    cols = [np.ones(len(yv))]
    for name, col in regressors.items():
        arr = np.asarray(col, dtype=np.float64)
        if arr.shape != yv.shape:
            raise InvalidArgumentError(f"regressor {name!r} has {arr.shape[0]} rows, y {len(yv)}")
        cols.append(arr)
    x = np.column_stack(cols)
    n, p = x.shape
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(yv))):
        raise InvalidArgumentError("the outcome and regressors must be finite numbers")
    if n <= p:
        raise InvalidArgumentError(
            f"{n} territories for {p} coefficients: at least {p + 1} are needed"
        )
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != yv.shape or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise InvalidArgumentError("weights: one positive finite value per territory")
        sw = np.sqrt(w)
        x, yv = x * sw[:, None], yv * sw
    q, r = np.linalg.qr(x)
    diag = np.abs(np.diag(r))
    if np.any(diag <= 1e-10 * max(float(diag.max()), 1.0)):
        bad = [names[j] for j in np.flatnonzero(diag <= 1e-10 * max(float(diag.max()), 1.0))]
        raise InvalidArgumentError(
            f"regressor(s) {bad} are constant or collinear with the others: drop them"
        )
    coef = np.linalg.solve(r, q.T @ yv)
    resid = yv - x @ coef
    df = n - p
    s2 = float(resid @ resid) / df
    r_inv = np.linalg.solve(r, np.eye(p))
    se = np.sqrt(s2 * np.sum(r_inv**2, axis=1))
    tq = float(stats.t.ppf(1 - (1 - level) / 2, df))
    tval = coef / se
    if weights is None:
        centred = yv - yv.mean()
    else:  # weighted R² (statsmodels WLS): around the weighted mean
        ybar = float(np.sum(sw * yv) / np.sum(sw**2))
        centred = yv - sw * ybar
    tss = float(centred @ centred)
    r2 = 1.0 - float(resid @ resid) / tss if tss > 0 else float("nan")
    return OLSFit(
        names=names,
        coef=coef,
        se=se,
        lower=coef - tq * se,
        upper=coef + tq * se,
        t=tval,
        p_value=2 * stats.t.sf(np.abs(tval), df),
        n=n,
        df_resid=df,
        r2=r2,
        level=level,
    )
