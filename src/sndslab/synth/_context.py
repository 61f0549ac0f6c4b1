"""Everything a chunk's generation steps share (read-only inputs and the chunk's persons)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sndslab.synth._calendar import Calendar, build_calendar
from sndslab.synth._conditions import ConditionState
from sndslab.synth._config import SynthConfig
from sndslab.synth._frame import Frame
from sndslab.synth._population import Identities, KeyQuirks, Persons
from sndslab.synth._world import World


@dataclass
class Chunk:
    """One chunk of persons and its generation state."""

    index: int
    rng: np.random.Generator
    config: SynthConfig
    world: World
    ref: Any  # sndslab.synth._reference.Reference
    study_start: int
    study_end: int  # last day of the study (inclusive)
    persons: Persons
    ident: Identities  # main/extra keys of the persons, then fictitious keys
    cond: ConditionState
    death_cause: np.ndarray  # condition index the death is attributed to (-1 none)
    counters: dict[str, int] = field(default_factory=dict)
    #: risk windows of drugs with an injected effect (truth, set by the falls step)
    truth_windows: Frame | None = None
    #: persons behind the fictitious-NIR keys and the first such key row (truth)
    fictitious_truth: tuple[np.ndarray, int] | None = None
    #: rows of ``ident`` left out of IR_BEN_R (set when IR_BEN_R is written; truth)
    absent_keys: np.ndarray | None = None
    # -- falls world (issue 10 item 5; set by ``_falls.falls`` and ``_falls_care``) --------------
    #: the chunk's fall intensity (``_falls.FallModel``)
    fall_model: Any = None
    #: hospitalised fractures not due to a fall (person, day, dp, mechanism), read by draw_stays
    fracture_rows: Frame | None = None
    #: effect-drug risk windows with their dispensing day and irr (truth, power figures)
    fall_windows: Frame | None = None
    #: deaths moved earlier by a hip fracture (person, day, previous)
    hip_fracture_deaths: Frame | None = None
    #: dispensings added per bias mechanism (post_fall, frailty, co_prescription)
    fall_care_counts: dict[str, int] | None = None
    _artefact_rng: np.random.Generator | None = field(default=None, repr=False)
    #: record-number counters of the run, carried across chunks (``_numbering``)
    numbering: Any = None
    # -- identity (issue 10 item 8; _population) --
    #: identity difficulties per row of ``ident`` (None: none injected)
    key_quirks: KeyQuirks | None = None
    #: counts for the truth manifest accumulated by the identity steps (PMSI NIR faults…)
    identity_counts: dict[str, int] = field(default_factory=dict)
    _identity_rng: np.random.Generator | None = field(default=None, repr=False)

    @property
    def identity_rng(self) -> np.random.Generator:
        """A random stream of its own for the identity difficulties (keys, PMSI NIR_ANO_17),
        so that their rates leave every other draw of the chunk unchanged."""
        if self._identity_rng is None:
            self._identity_rng = np.random.default_rng([self.config.seed, 5, self.index])
        return self._identity_rng

    @property
    def care_start(self) -> np.ndarray:
        """First day each person can receive care: the study start, or the entry day of a
        person born or arriving during the study (open cohort)."""
        entry = np.asarray(self.persons.entry, np.int64)
        return np.maximum(entry, self.study_start)

    #: COVID-19 infections of the chunk's persons (set by ``_covid.draw_covid``; truth)
    covid: Frame | None = None

    @property
    def calendar(self) -> Calendar:
        """Relative intensities of care per day (seasons, epidemics, lockdowns) of the run."""
        return build_calendar(self.config.seed, self.config.first_year, self.config.last_year)

    @property
    def artefact_rng(self) -> np.random.Generator:
        """A random stream of its own for the later artefacts (orphan satellites,
        inter-establishment records, TYP_GEN_RSA, IR_BEN_R gaps, family ranks), so that
        switching them on or off leaves every other draw of the chunk unchanged."""
        if self._artefact_rng is None:
            self._artefact_rng = np.random.default_rng([self.config.seed, 3, self.index])
        return self._artefact_rng

    @property
    def alive_end(self) -> np.ndarray:
        """Last day each person can receive care (death day or study end)."""
        return np.minimum(self.persons.death, self.study_end).astype(np.int64)

    def new_ids(self, name: str, n: int) -> np.ndarray:
        """``n`` ids unique across the whole run for the counter ``name``."""
        start = self.counters.get(name, 0)
        self.counters[name] = start + n
        return self.index * 10**9 + start + np.arange(n, dtype=np.int64)
