"""Direct and indirect age standardisation with their confidence intervals.

Arrays of shape ``(..., k)`` hold one row of ``k`` age bands per group (territory, year,
sex…): every computation runs on the whole array at once. :func:`standardise_table` builds
those arrays from a long table (Arrow, pandas or a dict of columns) without a row loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from scipy import special

from sndslab.errors import InvalidArgumentError
from sndslab.indicators.stats._poisson import (
    Estimate,
    FloatArray,
    PoissonMethod,
    as_float_array,
    check_counts,
    check_level,
    poisson_ci,
)

__all__ = [
    "StandardisedRatio",
    "direct_standardise",
    "indirect_standardise",
    "standardise_table",
]

DirectMethod = Literal["fay-feuer", "tiwari"]


@dataclass(frozen=True)
class StandardisedRatio(Estimate):
    """An indirectly standardised ratio (SIR/SMR) with its observed and expected counts."""

    observed: FloatArray
    expected: FloatArray


def _gamma_quantile(q: float, mean: FloatArray, var: FloatArray) -> FloatArray:
    """Quantile ``q`` of the gamma law with this mean and variance (shape m²/v, scale v/m)."""
    safe_mean = np.where(mean > 0, mean, 1.0)
    safe_var = np.where(var > 0, var, 1.0)
    shape = safe_mean**2 / safe_var
    scale = safe_var / safe_mean
    return np.asarray(special.gammaincinv(shape, q) * scale, dtype=np.float64)


def direct_standardise(
    events: npt.ArrayLike,
    population: npt.ArrayLike,
    standard: npt.ArrayLike,
    per: float = 100_000,
    level: float = 0.95,
    method: DirectMethod = "fay-feuer",
) -> Estimate:
    """Directly standardised rate with gamma confidence limits.

    ``events`` ``d`` and ``population`` ``n`` have shape ``(..., k)`` (``k`` age bands, any
    leading group axes); ``standard`` ``s`` has shape ``(k,)`` (counts or proportions: it is
    normalised). With weights per person ``w_i = s_i / (n_i * sum(s))``::

        DSR = per * y,   y = sum_i w_i d_i,   v = sum_i w_i^2 d_i

    Fay & Feuer (1997, *Stat Med* 16:791-801): ``y`` is treated as gamma with mean ``y`` and
    variance ``v``; with ``a = 1 - level`` and ``w_M = max_i w_i``::

        lower = G^-1(a/2;       shape y²/v,               scale v/y)          (0 if y = 0)
        upper = G^-1(1 - a/2;   shape (y+w_M)²/(v+w_M²),  scale (v+w_M²)/(y+w_M))

    ``method="tiwari"`` (Tiwari, Clegg & Zou 2006, *Stat Methods Med Res* 15:547-569; the
    ``wmtype="tcz"`` of R ``asht::wspoissonTest``) replaces ``w_M`` by ``mean(w)`` in ``y + w_M``
    and ``w_M²`` by ``mean(w²)`` in ``v + w_M²``: shorter upper limits, close to nominal
    coverage. With one band (or weights proportional to the population) the Fay-Feuer limits
    are Garwood's exact Poisson limits of the crude rate.

    A band with a positive standard weight and no population has no rate: error (merge bands).

    >>> e = direct_standardise([[5, 20]], [[1000, 2000]], [0.5, 0.5], per=1000)
    >>> round(float(e.estimate[0]), 6), round(float(e.lower[0]), 3), round(float(e.upper[0]), 3)
    (7.5, 4.728, 11.563)
    """
    d = check_counts(events, "events")
    n = as_float_array(population, "population")
    s = as_float_array(standard, "standard")
    check_level(level)
    if method not in ("fay-feuer", "tiwari"):
        raise InvalidArgumentError(f"method must be 'fay-feuer' or 'tiwari', got {method!r}")
    if s.ndim != 1 or np.any(s < 0) or s.sum() <= 0:
        raise InvalidArgumentError("standard: a 1-D array of non-negative weights, not all zero")
    try:
        d, n = np.broadcast_arrays(d, n)
    except ValueError:
        raise InvalidArgumentError(
            f"events {d.shape} and population {n.shape} do not have the same shape"
        ) from None
    if d.shape[-1:] != s.shape:
        raise InvalidArgumentError(
            f"the last axis of events/population ({d.shape[-1:]}) is not the {s.size} age bands "
            "of the standard"
        )
    empty = (n <= 0) & (s > 0)
    if np.any(empty):
        raise InvalidArgumentError(
            f"population: {int(empty.sum())} age band(s) with no population but a positive "
            "standard weight: the direct standardised rate is undefined (merge age bands)"
        )
    share = s / s.sum()
    w = np.where(share > 0, share / np.where(n > 0, n, 1.0), 0.0)
    y = np.sum(w * d, axis=-1)
    v = np.sum(w**2 * d, axis=-1)
    if method == "fay-feuer":
        w_m = np.max(w, axis=-1)
        y_up, v_up = y + w_m, v + w_m**2
    else:
        y_up, v_up = y + np.mean(w, axis=-1), v + np.mean(w**2, axis=-1)
    a = 1.0 - level
    lower = np.where(y > 0, _gamma_quantile(a / 2, y, v), 0.0)
    upper = _gamma_quantile(1 - a / 2, y_up, v_up)
    return Estimate(y * per, lower * per, upper * per, level, method)


def indirect_standardise(
    observed: npt.ArrayLike,
    population: npt.ArrayLike,
    reference_rates: npt.ArrayLike,
    level: float = 0.95,
    method: PoissonMethod = "exact",
) -> StandardisedRatio:
    """Indirectly standardised ratio (SIR, SMR): observed over expected events.

    ``population`` ``n`` has shape ``(..., k)``, ``reference_rates`` ``r`` (events per person
    of the reference population, e.g. France) shape ``(k,)``, ``observed`` ``O`` shape
    ``(...)``::

        E = sum_i n_i r_i,   SIR = O / E,   limits = [L(O), U(O)] / E

    with ``L, U`` the exact Poisson limits of Garwood (1936), i.e. the chi-square form of Ulm
    (1990, *Am J Epidemiol* 131:373-375), or Byar's approximation (``method="byar"``), see
    :func:`poisson_ci`. The SIR of a population that experiences the reference rates has
    expectation 1.

    >>> r = indirect_standardise([30], [[1000, 500]], [0.01, 0.02])
    >>> float(r.expected[0]), float(r.estimate[0]), round(float(r.lower[0]), 4)
    (20.0, 1.5, 1.012)
    """
    o = check_counts(observed, "observed")
    n = check_counts(population, "population")
    r = check_counts(reference_rates, "reference_rates")
    if r.ndim != 1 or n.shape[-1:] != r.shape:
        raise InvalidArgumentError(
            f"reference_rates ({r.shape}) must be 1-D with one rate per age band of the "
            f"population (last axis {n.shape[-1:]})"
        )
    expected = n @ r
    try:
        o, expected = np.broadcast_arrays(o, expected)
    except ValueError:
        raise InvalidArgumentError(
            f"observed {o.shape} does not match the groups of population {n.shape[:-1]}"
        ) from None
    if np.any(expected <= 0):
        raise InvalidArgumentError(
            f"{int(np.sum(expected <= 0))} group(s) with no expected events: the ratio is undefined"
        )
    lower, upper = poisson_ci(o, level, method)
    return StandardisedRatio(
        o / expected,
        lower / expected,
        upper / expected,
        level,
        f"poisson-{method}",
        observed=np.asarray(o, dtype=np.float64),
        expected=np.asarray(expected, dtype=np.float64),
    )


def _columns(table: Any, names: list[str]) -> dict[str, np.ndarray]:
    try:
        present = set(table.column_names if isinstance(table, pa.Table) else table.keys())
    except AttributeError:
        raise InvalidArgumentError(
            "table: expected an Arrow table, a pandas DataFrame, a DuckDB relation or a dict"
        ) from None
    missing = [c for c in names if c not in present]
    if missing:
        raise InvalidArgumentError(f"table: missing column(s) {', '.join(missing)}")
    return {c: np.asarray(table[c]) for c in names}


def standardise_table(
    table: Any,
    by: list[str],
    age_band: str,
    events: str,
    population: str,
    standard: npt.ArrayLike,
    per: float = 100_000,
    level: float = 0.95,
    method: DirectMethod = "fay-feuer",
) -> pa.Table:
    """Direct standardisation of a long table: one row per group × age band.

    ``age_band`` holds integer band indexes ``0..k-1`` into ``standard`` (see
    :func:`~sndslab.indicators.stats.age_band_index`); rows of the same group and band are
    added. A band missing from a group counts zero events and zero persons (an error if its
    standard weight is positive, as in :func:`direct_standardise`). The groups are found with
    ``numpy.unique`` and the ``groups × k`` matrices filled with ``numpy.add.at``: no row
    loop. Returns the group columns, ``events``, ``population``, ``crude``, ``rate``,
    ``lower``, ``upper``, sorted by group.

    >>> t = {"dep": ["01", "01", "02", "02"], "band": [0, 1, 0, 1],
    ...      "d": [5, 20, 1, 2], "n": [1000, 2000, 300, 400]}
    >>> out = standardise_table(t, ["dep"], "band", "d", "n", [0.5, 0.5], per=1000)
    >>> out.column("rate").to_pylist()
    [7.5, 4.166666666666667]
    """
    if isinstance(table, duckdb.DuckDBPyRelation):
        table = table.to_arrow_table()
    types = {f.name: f.type for f in table.schema} if isinstance(table, pa.Table) else {}
    cols = _columns(table, [*by, age_band, events, population])
    s = as_float_array(standard, "standard")
    band = cols[age_band]
    if band.size and (
        not np.issubdtype(band.dtype, np.integer) or band.min() < 0 or band.max() >= s.size
    ):
        raise InvalidArgumentError(
            f"{age_band}: integer age band indexes between 0 and {s.size - 1} expected"
        )
    # Each key column coded by numpy.unique, then the distinct combinations of codes.
    codes = [np.unique(cols[c], return_inverse=True) for c in by]
    combined = np.stack([inv.reshape(-1) for _, inv in codes] + [np.zeros(band.size, int)], axis=1)
    group_keys, group = np.unique(combined, axis=0, return_inverse=True)
    group = group.reshape(-1)
    n_groups = group_keys.shape[0]
    d = np.zeros((n_groups, s.size))
    n = np.zeros((n_groups, s.size))
    np.add.at(d, (group, band), check_counts(cols[events], events))
    np.add.at(n, (group, band), check_counts(cols[population], population))
    est = direct_standardise(d, n, s, per=per, level=level, method=method)
    out: dict[str, Any] = {
        c: pa.array(codes[j][0][group_keys[:, j]], type=types.get(c)) for j, c in enumerate(by)
    }
    total_d, total_n = d.sum(axis=1), n.sum(axis=1)
    out.update(
        {
            events: total_d,
            population: total_n,
            "crude": total_d / np.where(total_n > 0, total_n, np.nan) * per,
            "rate": est.estimate,
            "lower": est.lower,
            "upper": est.upper,
        }
    )
    return pa.table(out)
