"""Analyses over a lake, all following one protocol (:class:`Analysis`): parameters in the
constructor, ``fit(lake)`` returns self, results with a trailing underscore, ``summary()``,
``to_release()``. :mod:`sndslab.analysis.checks` is the conformance suite.

>>> from sndslab.analysis import EventCounts
>>> EventCounts(codes=["ATC//A10"]).get_params()["codes"]
['ATC//A10']
"""

from __future__ import annotations

from sndslab.analysis._base import (
    IDENTIFIER_COLUMNS,
    Analysis,
    NotFittedError,
    ReleaseCandidate,
    clone,
)
from sndslab.analysis._event_counts import EventCounts

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "Analysis",
    "EventCounts",
    "IDENTIFIER_COLUMNS",
    "NotFittedError",
    "ReleaseCandidate",
    "clone",
]
