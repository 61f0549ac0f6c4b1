"""Exact Poisson confidence intervals and crude rates, elementwise over arrays.

Every function here takes array-likes (numpy arrays, lists, pandas Series, Arrow arrays or
chunked arrays) and computes on whole arrays: no loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy import special, stats

from sndslab.errors import InvalidArgumentError

__all__ = [
    "Estimate",
    "crude_rate",
    "poisson_ci",
]

FloatArray = npt.NDArray[np.float64]
PoissonMethod = Literal["exact", "byar"]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its two-sided confidence interval, elementwise over arrays.

    ``estimate``, ``lower`` and ``upper`` have the broadcast shape of the inputs; ``level`` is
    the confidence level (0.95 for a 95 % interval) and ``method`` names the interval.

    >>> e = crude_rate([10], [1000], per=1000)
    >>> e.to_arrow().column_names
    ['estimate', 'lower', 'upper']
    """

    estimate: FloatArray
    lower: FloatArray
    upper: FloatArray
    level: float
    method: str

    def to_arrow(self) -> pa.Table:
        """The estimate and its limits as an Arrow table (one row per element, flattened)."""
        return pa.table(
            {
                "estimate": np.ravel(self.estimate),
                "lower": np.ravel(self.lower),
                "upper": np.ravel(self.upper),
            }
        )


def as_float_array(values: npt.ArrayLike, name: str) -> FloatArray:
    """``values`` as a float array; one-line error if it is not numeric or not finite."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{name}: expected numbers ({exc})") from None
    if not np.all(np.isfinite(arr)):
        raise InvalidArgumentError(
            f"{name}: {int(np.sum(~np.isfinite(arr)))} missing or infinite value(s)"
        )
    return arr


def check_level(level: float) -> float:
    """The confidence level, checked to lie strictly between 0 and 1."""
    if not 0.0 < float(level) < 1.0:
        raise InvalidArgumentError(f"level must lie strictly between 0 and 1, got {level!r}")
    return float(level)


def check_counts(counts: npt.ArrayLike, name: str = "count") -> FloatArray:
    """Non-negative finite counts as floats."""
    arr = as_float_array(counts, name)
    if np.any(arr < 0):
        raise InvalidArgumentError(f"{name}: {int(np.sum(arr < 0))} negative value(s)")
    return arr


def poisson_ci(
    count: npt.ArrayLike, level: float = 0.95, method: PoissonMethod = "exact"
) -> tuple[FloatArray, FloatArray]:
    """Two-sided confidence limits for the mean of a Poisson count ``O``.

    ``method="exact"`` (Garwood 1936, "Fiducial limits for the Poisson distribution",
    *Biometrika* 28:437-442), with ``a = 1 - level``::

        lower = chi2(a/2; 2 O) / 2       = Gamma(a/2; shape O)      (0 when O = 0)
        upper = chi2(1 - a/2; 2 O + 2) / 2 = Gamma(1 - a/2; shape O + 1)

    ``method="byar"``: Byar's approximation (as given by Breslow & Day 1987, *Statistical
    methods in cancer research* vol. II, IARC), with ``z`` the ``1 - a/2`` normal quantile::

        lower = O (1 - 1/(9 O) - z / (3 sqrt(O)))^3
        upper = (O + 1) (1 - 1/(9 (O + 1)) + z / (3 sqrt(O + 1)))^3

    Returns ``(lower, upper)`` with the shape of ``count``.

    >>> lo, up = poisson_ci([0, 10])
    >>> [round(float(x), 4) for x in lo], [round(float(x), 4) for x in up]
    ([0.0, 4.7954], [3.6889, 18.3904])
    """
    o = check_counts(count)
    a = 1.0 - check_level(level)
    if method == "exact":
        lower = np.where(o > 0, special.gammaincinv(np.where(o > 0, o, 1.0), a / 2), 0.0)
        upper = special.gammaincinv(o + 1.0, 1.0 - a / 2)
    elif method == "byar":
        z = float(stats.norm.ppf(1.0 - a / 2))
        safe = np.where(o > 0, o, 1.0)
        lower = np.where(o > 0, safe * (1 - 1 / (9 * safe) - z / (3 * np.sqrt(safe))) ** 3, 0.0)
        upper = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * np.sqrt(o + 1))) ** 3
    else:
        raise InvalidArgumentError(f"method must be 'exact' or 'byar', got {method!r}")
    return np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)


def crude_rate(
    events: npt.ArrayLike,
    population: npt.ArrayLike,
    per: float = 100_000,
    level: float = 0.95,
    method: PoissonMethod = "exact",
) -> Estimate:
    """Crude rate ``per * O / N`` with Poisson limits ``per * [L(O), U(O)] / N``.

    ``events`` (O) and ``population`` (N, persons or person-years) broadcast together; the
    limits are those of :func:`poisson_ci` (exact Garwood by default) divided by ``N``.
    ``per`` is the unit: 1,000 or 100,000 persons, for example.

    >>> e = crude_rate([10, 0], [50_000, 2_000], per=100_000)
    >>> [round(float(x), 2) for x in e.estimate], [round(float(x), 2) for x in e.upper]
    ([20.0, 0.0], [36.78, 184.44])
    """
    o = check_counts(events, "events")
    n = as_float_array(population, "population")
    o, n = np.broadcast_arrays(o, n)
    if np.any(n <= 0):
        raise InvalidArgumentError(
            f"population: {int(np.sum(n <= 0))} value(s) not positive (a rate needs N > 0)"
        )
    if per <= 0:
        raise InvalidArgumentError(f"per must be positive, got {per!r}")
    lower, upper = poisson_ci(o, level, method)
    scale = per / n
    return Estimate(o * scale, lower * scale, upper * scale, level, f"poisson-{method}")
