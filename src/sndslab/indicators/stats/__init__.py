"""Statistics for territorial indicators: rates, standardisation, funnel plots, time series.

Vectorised over numpy arrays (Arrow and pandas columns convert to them); every formula, its
source and what tests it are in ``docs/indicators.md`` (section "Statistics").

* :func:`crude_rate`, :func:`poisson_ci`: crude rates with exact (Garwood) or Byar limits;
* :func:`direct_standardise`, :func:`standardise_table`: direct age standardisation with
  Fay-Feuer (or Tiwari) gamma limits, over :func:`standard_population` (ESP 2013, France);
* :func:`indirect_standardise`: SIR/SMR with exact Poisson limits;
* :func:`funnel_limits`, :func:`estimate_overdispersion`: funnel plots (Spiegelhalter 2005);
* :func:`interrupted_time_series`: segmented Poisson / negative binomial regression.

>>> from sndslab.indicators.stats import crude_rate
>>> round(float(crude_rate([12], [40_000]).estimate[0]), 1)
30.0
"""

from __future__ import annotations

from sndslab.indicators.stats._funnel import (
    FunnelLimits,
    Overdispersion,
    estimate_overdispersion,
    funnel_limits,
)
from sndslab.indicators.stats._glm import CountFit, fit_count_model, negbin_loglik
from sndslab.indicators.stats._its import (
    FIRST_LOCKDOWN_FRANCE,
    FIRST_LOCKDOWN_FRANCE_END,
    ITSResult,
    interrupted_time_series,
    its_design,
)
from sndslab.indicators.stats._poisson import Estimate, crude_rate, poisson_ci
from sndslab.indicators.stats._populations import (
    STANDARD_POPULATIONS,
    StandardPopulation,
    age_band_index,
    standard_population,
)
from sndslab.indicators.stats._standardise import (
    StandardisedRatio,
    direct_standardise,
    indirect_standardise,
    standardise_table,
)

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "CountFit",
    "Estimate",
    "FIRST_LOCKDOWN_FRANCE",
    "FIRST_LOCKDOWN_FRANCE_END",
    "FunnelLimits",
    "ITSResult",
    "Overdispersion",
    "STANDARD_POPULATIONS",
    "StandardPopulation",
    "StandardisedRatio",
    "age_band_index",
    "crude_rate",
    "direct_standardise",
    "estimate_overdispersion",
    "fit_count_model",
    "funnel_limits",
    "indirect_standardise",
    "interrupted_time_series",
    "its_design",
    "negbin_loglik",
    "poisson_ci",
    "standard_population",
    "standardise_table",
]
