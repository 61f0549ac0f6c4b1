"""Interrupted time series of monthly counts: segmented Poisson / negative binomial regression.

The model (Bernal, Cummins & Gasparrini 2017, "Interrupted time series regression for the
evaluation of public health interventions: a tutorial", *Int J Epidemiol* 46:348-355)::

    log E[y_t] = log(pop_t) + b0 + b1 t + b2 level_t + b3 slope_t + seasonality_t

``t`` counts months from the first one; ``level_t`` is 0 before the break and 1 after it
(in the month of the break, the share of its days on or after the break date, unless
``partial="month"``); ``slope_t = max(0, t - t_break)`` is the months elapsed since the
break month. For a temporary interruption (``end_date``, e.g. the first lockdown ended on
10 May 2020) ``level_t`` is the share of the month's days inside it and there is no slope
term. ``exp(b2)`` is the rate ratio of the level change at the break and ``exp(b3)``
the monthly rate ratio of the slope change. Seasonality: 11 calendar-month dummies (January
the reference) or ``K`` pairs of Fourier terms ``sin(2 pi k m / 12), cos(2 pi k m / 12)``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

from sndslab.errors import InvalidArgumentError
from sndslab.indicators.stats._glm import CountFit, Family, fit_count_model
from sndslab.indicators.stats._poisson import Estimate, FloatArray, check_level

__all__ = [
    "FIRST_LOCKDOWN_FRANCE",
    "FIRST_LOCKDOWN_FRANCE_END",
    "ITSResult",
    "interrupted_time_series",
    "its_design",
]

#: Start of the first COVID-19 lockdown in France (décret n° 2020-260 du 16 mars 2020,
#: confinement from 17 March 2020, 12:00).
FIRST_LOCKDOWN_FRANCE = dt.date(2020, 3, 17)
#: Last day of the first lockdown (lifted on 11 May 2020).
FIRST_LOCKDOWN_FRANCE_END = dt.date(2020, 5, 10)

Seasonality = Literal["month", "fourier", "none"]


def _months(months: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Months as integers (months since 1970-01), from datetime64, dates or 'YYYY-MM' text."""
    arr = np.asarray(months)
    try:
        if arr.dtype.kind in "OUS":
            arr = np.array([str(m)[:7] for m in arr.tolist()], dtype="datetime64[M]")
        return arr.astype("datetime64[M]").astype(np.int64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"months: expected dates or 'YYYY-MM' ({exc})") from None


def its_design(
    months: npt.ArrayLike,
    break_date: dt.date = FIRST_LOCKDOWN_FRANCE,
    seasonality: Seasonality = "month",
    harmonics: int = 2,
    partial: Literal["fraction", "month"] = "fraction",
    end_date: dt.date | None = None,
) -> tuple[FloatArray, list[str]]:
    """The design matrix of the segmented regression and its column names.

    Columns: ``const``, ``time``, ``level``, ``slope``, then ``month_2``…``month_12`` or
    ``sin_1, cos_1, …`` (see the module docstring). With ``end_date`` the interruption is
    temporary (a lockdown from ``break_date`` to ``end_date`` inclusive): ``level`` is the
    share of each month's days inside it and there is no ``slope`` term.

    >>> x, names = its_design(["2020-01", "2020-02", "2020-03", "2020-04"], seasonality="none")
    >>> names
    ['const', 'time', 'level', 'slope']
    >>> x[:, 2].round(4).tolist(), x[:, 3].round(4).tolist()
    ([0.0, 0.0, 0.4839, 1.0], [0.0, 0.0, 0.0, 1.0])
    >>> x, names = its_design(["2020-02", "2020-03", "2020-04", "2020-05", "2020-06"],
    ...                       seasonality="none", end_date=FIRST_LOCKDOWN_FRANCE_END)
    >>> names, x[:, 2].round(4).tolist()
    (['const', 'time', 'level'], [0.0, 0.4839, 1.0, 0.3226, 0.0])
    """
    m = _months(months)
    if m.size < 3:
        raise InvalidArgumentError("an interrupted time series needs at least 3 months")
    if np.any(np.diff(np.sort(m)) == 0):
        raise InvalidArgumentError("months: each month at most once")
    if partial not in ("fraction", "month"):
        raise InvalidArgumentError(f"partial must be 'fraction' or 'month', got {partial!r}")
    b = np.datetime64(break_date, "D")
    b_month = int(b.astype("datetime64[M]").astype(np.int64))
    if not m.min() < b_month <= m.max():
        raise InvalidArgumentError(f"the break {break_date} is not inside the series of months")
    # Days of each month within the interruption [break_date, end_date] (open-ended if None).
    stop = np.datetime64("9999-01-01") if end_date is None else np.datetime64(end_date, "D") + 1
    if stop <= b:
        raise InvalidArgumentError(f"end_date {end_date} is before the break {break_date}")
    month_start = m.astype("datetime64[M]").astype("datetime64[D]")
    month_stop = (m + 1).astype("datetime64[M]").astype("datetime64[D]")
    inside = np.minimum(month_stop, stop) - np.maximum(month_start, b)
    overlap = np.maximum(inside.astype(np.int64), 0)
    days = (month_stop - month_start).astype(np.int64)
    level = overlap / days if partial == "fraction" else (overlap > 0).astype(np.float64)
    time = (m - m.min()).astype(np.float64)
    cols = [np.ones(m.size), time, level]
    names = ["const", "time", "level"]
    if end_date is None:
        cols.append(np.where(m > b_month, (m - b_month).astype(np.float64), 0.0))
        names.append("slope")
    calendar = m % 12  # 0 = January
    if seasonality == "month":
        for k in range(1, 12):
            if np.any(calendar == k):
                cols.append((calendar == k).astype(np.float64))
                names.append(f"month_{k + 1}")
    elif seasonality == "fourier":
        if not 1 <= harmonics <= 6:
            raise InvalidArgumentError(f"harmonics between 1 and 6, got {harmonics!r}")
        for k in range(1, harmonics + 1):
            angle = 2 * np.pi * k * calendar / 12
            cols += [np.sin(angle), np.cos(angle)]
            names += [f"sin_{k}", f"cos_{k}"]
        if harmonics == 6:  # sin(pi m) is 0 at every month: drop it
            cols.pop(-2)
            names.pop(-2)
    elif seasonality != "none":
        raise InvalidArgumentError(
            f"seasonality must be 'month', 'fourier' or 'none': {seasonality!r}"
        )
    return np.column_stack(cols), names


@dataclass(frozen=True)
class ITSResult:
    """A fitted interrupted time series: coefficients by name, the fit, the design."""

    names: list[str]
    fit: CountFit
    design: FloatArray

    @property
    def coef(self) -> dict[str, float]:
        """Coefficients (log rate ratios) by name."""
        return dict(zip(self.names, self.fit.coef.tolist(), strict=True))

    def rate_ratio(self, term: str = "level", level: float = 0.95) -> Estimate:
        """``exp(coef)`` of a term with its Wald interval ``exp(coef -/+ z se)``.

        ``term="level"`` is the rate ratio of the level change at the break (e.g. 0.7: a 30 %
        drop), ``term="slope"`` the monthly rate ratio of the change in trend.
        """
        if term not in self.names:
            raise InvalidArgumentError(f"unknown term {term!r}; terms: {', '.join(self.names)}")
        check_level(level)
        j = self.names.index(term)
        b, se = self.fit.coef[j], self.fit.se[j]
        z = stats.norm.ppf(1 - (1 - level) / 2)
        return Estimate(
            np.exp(np.array([b])),
            np.exp(np.array([b - z * se])),
            np.exp(np.array([b + z * se])),
            level,
            f"wald-{self.fit.family}",
        )


def interrupted_time_series(
    counts: npt.ArrayLike,
    months: npt.ArrayLike,
    population: npt.ArrayLike | None = None,
    break_date: dt.date = FIRST_LOCKDOWN_FRANCE,
    family: Family = "negbin",
    seasonality: Seasonality = "month",
    harmonics: int = 2,
    partial: Literal["fraction", "month"] = "fraction",
    end_date: dt.date | None = None,
) -> ITSResult:
    """Fit a segmented count regression to monthly ``counts`` with a break at ``break_date``.

    ``population`` gives the offset ``log(population)`` (omit it to model counts); ``family``
    is ``"poisson"``, ``"quasipoisson"`` or ``"negbin"`` (NB2, dispersion by maximum
    likelihood); see :func:`its_design` for the terms and :func:`fit_count_model` for the fit.

    >>> months = np.arange("2018-01", "2022-01", dtype="datetime64[M]")
    >>> t = np.arange(months.size)
    >>> mu = 1000 * np.exp(0.002 * t) * np.where(months >= np.datetime64("2020-04"), 0.7, 1.0)
    >>> res = interrupted_time_series(np.round(mu), months, family="poisson",
    ...                               seasonality="none", partial="month",
    ...                               break_date=dt.date(2020, 4, 1))
    >>> round(float(res.rate_ratio("level").estimate[0]), 3)
    0.7
    """
    x, names = its_design(months, break_date, seasonality, harmonics, partial, end_date)
    y = np.asarray(counts, dtype=np.float64)
    if y.shape != (x.shape[0],):
        raise InvalidArgumentError(f"counts ({y.shape}) and months ({x.shape[0]}) differ in length")
    offset = None
    if population is not None:
        pop = np.asarray(population, dtype=np.float64)
        if pop.shape != y.shape or np.any(~np.isfinite(pop)) or np.any(pop <= 0):
            raise InvalidArgumentError("population: one positive value per month")
        offset = np.log(pop)
    return ITSResult(names, fit_count_model(y, x, offset, family), x)
