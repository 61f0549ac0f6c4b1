"""Territorial indicators: a catalogue of declarative specs (``specs/*.yaml``, code sets in
``code_sets.yaml``) computed on the lake's events into ``marts.indicators`` (counts,
populations and crude rates by period, territory, age band and sex).

>>> from sndslab.indicators import load_indicators
>>> len(load_indicators()) >= 40
True

``compute_indicators(lake)`` writes the ``marts`` generation; :class:`IndicatorSet` is the
same computation as an analysis (``fit(lake)`` → ``summary()``, ``to_release()``);
``release_indicators(lake, out_dir)`` releases them through the gate (``sndslab.release``).
:mod:`sndslab.indicators.stats` holds the statistics (rates, standardisation, funnel plots,
interrupted time series); ``score_lockdown`` and ``score_regional_ranking`` score the
indicators against the synthetic generator's injected truth.
"""

from __future__ import annotations

from sndslab.indicators._analysis import IndicatorSet
from sndslab.indicators._compute import (
    IndicatorAccountingError,
    IndicatorRun,
    IndicatorsResult,
    compute_indicators,
    data_years,
)
from sndslab.indicators._release import (
    DEMO_INDICATORS,
    IndicatorReleaseError,
    ReleasedIndicators,
    indicator_tables,
    release_indicators,
)
from sndslab.indicators._spec import (
    CodeSet,
    IndicatorSpec,
    IndicatorSpecError,
    code_sets,
    load_code_sets,
    load_indicators,
)
from sndslab.indicators._truth import (
    LockdownScore,
    LockdownTruth,
    RankingScore,
    lockdown_truth,
    region_multipliers,
    score_lockdown,
    score_regional_ranking,
)

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "CodeSet",
    "DEMO_INDICATORS",
    "IndicatorAccountingError",
    "IndicatorReleaseError",
    "IndicatorRun",
    "IndicatorSet",
    "IndicatorSpec",
    "IndicatorSpecError",
    "IndicatorsResult",
    "LockdownScore",
    "LockdownTruth",
    "RankingScore",
    "ReleasedIndicators",
    "code_sets",
    "compute_indicators",
    "data_years",
    "indicator_tables",
    "load_code_sets",
    "load_indicators",
    "lockdown_truth",
    "region_multipliers",
    "release_indicators",
    "score_lockdown",
    "score_regional_ranking",
]
