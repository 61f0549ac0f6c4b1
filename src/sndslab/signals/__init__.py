"""Drug-safety signals: purchase-based exposures, outcomes on events, the self-controlled case
series (SCCS) and ConvSCCS screening of many drugs at once, scored against the generator's
truth (see docs/signals.md)."""

from __future__ import annotations

from sndslab.signals._convsccs import (
    ConvDesign,
    build_design,
    convolution_design,
    fit_convsccs,
    lag_penalty,
    tick_inputs,
)
from sndslab.signals._cpoisson import ConditionalPoissonFit, fit_conditional_poisson
from sndslab.signals._data import POPULATION_COLUMNS, Population, StudyData, default_population
from sndslab.signals._output import (
    ReleasedSignals,
    release_signals,
    signals_spec,
    write_signals,
)
from sndslab.signals._run import ScreenResult, screen
from sndslab.signals._sccs import SCCS, sccs_cells
from sndslab.signals._screen import SIGNAL_COLUMNS, Screening, benjamini_hochberg
from sndslab.signals._spec import (
    FALLS_STUDY,
    DurationSpec,
    ExposureSpec,
    OutcomeSpec,
    PeriodSpec,
    PopulationSpec,
    RiskWindow,
    SccsSpec,
    ScreeningSpec,
    StudySpec,
    StudySpecError,
    load_study,
)
from sndslab.signals._truth import score_against_truth

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "ConditionalPoissonFit",
    "ConvDesign",
    "DurationSpec",
    "ExposureSpec",
    "FALLS_STUDY",
    "OutcomeSpec",
    "POPULATION_COLUMNS",
    "PeriodSpec",
    "Population",
    "PopulationSpec",
    "ReleasedSignals",
    "RiskWindow",
    "SCCS",
    "SIGNAL_COLUMNS",
    "SccsSpec",
    "ScreenResult",
    "Screening",
    "ScreeningSpec",
    "StudyData",
    "StudySpec",
    "StudySpecError",
    "benjamini_hochberg",
    "build_design",
    "convolution_design",
    "default_population",
    "fit_conditional_poisson",
    "fit_convsccs",
    "lag_penalty",
    "load_study",
    "release_signals",
    "sccs_cells",
    "score_against_truth",
    "screen",
    "signals_spec",
    "tick_inputs",
    "write_signals",
]
