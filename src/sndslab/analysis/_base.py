"""The analytic base protocol every analysis follows (cohorts, signals, prediction, networks,
fraud, indicators), in scikit-learn's shape:

- the constructor stores its parameters, unchanged, as attributes of the same names, and does
  nothing else (no data access, no validation that needs data);
- ``fit(lake)`` reads a :class:`sndslab.lake.Lake` (either engine), computes, and returns
  ``self``; results are attributes ending with ``_``, absent before ``fit``;
- ``summary()`` returns a tidy Arrow table (one row per result cell, documented columns);
- ``to_release()`` returns a :class:`ReleaseCandidate`: the aggregates meant to leave the lake,
  with the column counting distinct persons per cell, which the release gate checks before
  anything is written outside the lake (no identifiers: the candidate refuses identifier
  columns);
- ``get_params`` / ``set_params`` / :func:`clone` as in scikit-learn.

:mod:`sndslab.analysis.checks` is the conformance suite (scikit-learn's
``parametrize_with_checks``): every analysis class must pass it on both engines.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Self

import pyarrow as pa

from sndslab.errors import SndslabError

__all__ = [
    "IDENTIFIER_COLUMNS",
    "Analysis",
    "NotFittedError",
    "ReleaseCandidate",
    "clone",
]

#: Columns that identify persons, practitioners or records: never in a release candidate.
IDENTIFIER_COLUMNS: frozenset[str] = frozenset(
    {
        "person_id", "ben_nir_psa", "ben_idt_ano", "BEN_NIR_PSA", "BEN_IDT_ANO", "BEN_NIR_ANO",
        "NIR_ANO_17", "subject_id", "source_key", "stay_id", "prescriber_id", "executor_id",
        "PFS_EXE_NUM", "PFS_PRE_NUM", "_source_file", "_source_line",
    }
)  # fmt: skip


class NotFittedError(SndslabError):
    """A result was asked of an analysis that has not been fitted."""


@dataclass(frozen=True)
class ReleaseCandidate:
    """Aggregates an analysis wants to release, before the release gate.

    ``table`` has one row per cell: the ``dimensions`` columns, ``count_column`` (distinct
    persons in the cell: what statistical secrecy is judged on) and ``measures`` derived from
    the cell's persons (rates, amounts), which the gate suppresses with the count.
    """

    table: pa.Table
    dimensions: tuple[str, ...]
    count_column: str
    measures: tuple[str, ...] = ()
    title: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = set(self.table.column_names)
        needed = {*self.dimensions, self.count_column, *self.measures}
        if needed - names:
            raise SndslabError(f"release candidate lacks column(s) {sorted(needed - names)}")
        if names - needed:
            raise SndslabError(
                f"release candidate has undeclared column(s) {sorted(names - needed)}"
            )
        leaked = names & IDENTIFIER_COLUMNS
        if leaked:
            raise SndslabError(f"identifiers never leave the lake: {sorted(leaked)}")


class Analysis:
    """Base class of the analyses (see the module docstring)."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [
            p.name
            for p in sig.parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    def get_params(self) -> dict[str, Any]:
        """The constructor's parameters and their current values."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Self:
        """Change parameters (unknown names are an error); returns ``self``."""
        unknown = set(params) - set(self._param_names())
        if unknown:
            raise SndslabError(f"{type(self).__name__} has no parameter(s) {sorted(unknown)}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def fit(self, lake: Any) -> Self:  # pragma: no cover - abstract
        raise NotImplementedError

    def summary(self) -> pa.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_release(self) -> ReleaseCandidate:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not any(k.endswith("_") and not k.startswith("_") for k in vars(self)):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(lake) first")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def clone(analysis: Analysis) -> Analysis:
    """A new, unfitted analysis with the same parameters."""
    return type(analysis)(**analysis.get_params())
