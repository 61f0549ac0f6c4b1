"""``sndslab screen STUDY LAKE``: one study file, one command: screen, write
``marts.signals``, release the signal table and the lag-curve plots."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sndslab.engines import Engine
from sndslab.errors import SndslabError
from sndslab.lake import open_lake, relation_or_none
from sndslab.release import DEFAULT_THRESHOLD
from sndslab.signals._data import Population
from sndslab.signals._output import ReleasedSignals, release_signals, write_signals
from sndslab.signals._screen import Screening
from sndslab.signals._spec import StudySpec, load_study
from sndslab.signals._truth import score_against_truth

__all__ = ["ScreenResult", "screen"]


@dataclass(frozen=True)
class ScreenResult:
    """A screening run: the fitted :class:`Screening`, the rows written to ``marts.signals``,
    the release (``None`` without ``out_dir``), the truth scores (``None`` without a truth),
    and the seconds spent."""

    screening: Screening
    rows: int
    released: ReleasedSignals | None
    scores: dict[str, Any] | None
    seconds: float


def screen(
    study: str | Path | StudySpec,
    lake: str | Path,
    out_dir: str | Path | None = None,
    *,
    engine: str | Engine = "duckdb",
    population: Population | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    overwrite: bool = False,
    truth: str | Path | None = None,
) -> ScreenResult:
    """Screen ``study`` (a study file or spec) on ``lake``: fit the ConvSCCS screening, write
    ``marts.signals``, release the signal table and plots into ``out_dir`` (when given) and
    score against the generator's ``truth`` (a manifest or ``truth/`` directory, optional)."""
    t0 = time.perf_counter()
    spec = study if isinstance(study, StudySpec) else load_study(study)
    with open_lake(lake, engine) as lk:
        if relation_or_none(lk.con, lk.paths, "events.events") is None:
            raise SndslabError(f"{lake} has no events layer: run `sndslab events {lake}` first")
        fitted = Screening(spec, population=population).fit(lk)
        rows = write_signals(lk, fitted)
        released = (
            None
            if out_dir is None
            else release_signals(lk, spec.name, out_dir, threshold=threshold, overwrite=overwrite)
        )
    scores = None if truth is None else score_against_truth(fitted, truth)
    return ScreenResult(fitted, rows, released, scores, time.perf_counter() - t0)
