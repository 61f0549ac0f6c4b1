"""Latent chronic conditions, their onsets, long-term-disease declarations and deaths.

A condition's prevalence depends on age (piecewise-linear table), sex, region and the person's
frailty (which induces realistic multimorbidity). Prevalent cases have an onset before the
study; incident cases occur during it. Mortality is a baseline age/sex hazard multiplied by the
hazard ratios of the conditions present.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sndslab.synth._deaths import assign_causes, cause_model
from sndslab.synth._ids import NO_DAY
from sndslab.synth._population import Persons
from sndslab.synth._world import Territories

YEAR = 365.25


@dataclass
class ConditionState:
    """Onset day of each condition for each person (``NO_DAY`` = never during the study)."""

    names: list[str]
    onset: np.ndarray  # int32 [n_persons, n_conditions]
    prevalent: np.ndarray  # bool [n_persons, n_conditions]: onset before the study
    subtype: np.ndarray  # int16 [n_persons]: cancer subtype index, -1 if none

    def index(self, name: str) -> int:
        return self.names.index(name)

    def has(self, name: str, day: int | np.ndarray | None = None) -> np.ndarray:
        col = self.onset[:, self.index(name)]
        return col < NO_DAY if day is None else col <= day

    def count_at(self, day: int | np.ndarray) -> np.ndarray:
        return (self.onset <= np.asarray(day).reshape(-1, 1)).sum(axis=1)


def prevalence(spec: Any, age: np.ndarray, sex: np.ndarray, regional: np.ndarray) -> np.ndarray:
    """Prevalence by age and sex (``ConditionSpec.prevalence``) times the regional multiplier."""
    return np.clip(spec.prevalence(age, sex == 1) * regional, 0.0, 0.95)


def regional_multiplier(spec: Any, persons: Persons, terr: Territories) -> np.ndarray:
    col = getattr(spec, "regional_column", None)
    if not col:
        return np.ones(len(persons))
    return np.asarray(getattr(terr, col))[persons.dep]


def draw_conditions(
    rng: np.random.Generator,
    persons: Persons,
    specs: dict[str, Any],
    terr: Territories,
    study_start: int,
    study_end: int,
) -> ConditionState:
    """Prevalent and incident conditions for the chunk's persons."""
    n = len(persons)
    names = list(specs)
    onset = np.full((n, len(names)), NO_DAY, np.int32)
    prevalent = np.zeros((n, len(names)), bool)
    age0 = persons.age_at(study_start)
    # frailty-driven comorbidity, normalised so the mean multiplier is 1
    comorb = np.sqrt(persons.frailty)
    comorb = comorb / comorb.mean()
    horizon = (study_end - study_start) / YEAR
    subtype = np.full(n, -1, np.int16)
    for j, name in enumerate(names):
        spec = specs[name]
        reg = regional_multiplier(spec, persons, terr)
        p0 = np.clip(prevalence(spec, age0, persons.sex, reg) * comorb, 0, 0.95)
        sex_ok = _sex_allowed(spec, persons.sex)
        is_prev = (rng.random(n) < p0) & sex_ok
        years_back = rng.uniform(0.1, 8.0, n)
        max_back = np.maximum((study_start - persons.birth) / YEAR - 1.0, 0.05)
        onset_prev = study_start - np.minimum(years_back, max_back) * YEAR
        # incidence among the others, hazard proportional to prevalence at mid-study age
        p_mid = np.clip(prevalence(spec, age0 + horizon / 2, persons.sex, reg) * comorb, 0, 0.95)
        rate = spec.annual_incidence_share * p_mid
        t = rng.exponential(1.0, n) / np.maximum(rate, 1e-12)
        is_inc = ~is_prev & (t < horizon) & sex_ok
        onset[is_prev, j] = onset_prev[is_prev].astype(np.int32)
        onset[is_inc, j] = (study_start + t[is_inc] * YEAR).astype(np.int32)
        prevalent[:, j] = is_prev
        subtypes = getattr(spec, "subtypes", None)
        if subtypes:
            has = np.flatnonzero(is_prev | is_inc)
            subtype[has] = _draw_subtype(rng, subtypes, persons.sex[has])
    return ConditionState(names=names, onset=onset, prevalent=prevalent, subtype=subtype)


def _sex_allowed(spec: Any, sex: np.ndarray) -> np.ndarray:
    only = getattr(spec, "sex", None)
    if only in (1, 2):
        return sex == only
    return np.ones(len(sex), bool)


def _draw_subtype(rng: np.random.Generator, subtypes: list[Any], sex: np.ndarray) -> np.ndarray:
    weights = np.array([float(s.weight) for s in subtypes])
    out = np.empty(len(sex), np.int16)
    for s in (1, 2):
        who = np.flatnonzero(sex == s)
        allowed = np.array(
            [getattr(st, "sex", None) in (None, 0, s) for st in subtypes], dtype=bool
        )
        w = np.where(allowed, weights, 0.0)
        out[who] = rng.choice(len(subtypes), len(who), p=w / w.sum())
    return out


def draw_deaths(
    rng: np.random.Generator,
    persons: Persons,
    cond: ConditionState,
    specs: dict[str, Any],
    annual_death_prob: Any,
    study_start: int,
    study_end: int,
) -> np.ndarray:
    """Draw death days into ``persons.death`` and return the condition each death is due to.

    ``annual_death_prob(age, sex) -> probability`` is the population baseline. Each person's
    hazard is multiplied by the ``mortality_hr`` of the conditions present, then divided by the
    mean of that product in the person's 5-year age band, so that overall mortality by age
    stays at the baseline while the sick die more. Returns the encoded cause of each death
    (:func:`sndslab.synth._deaths.assign_causes`: the condition index it is attributed to, or
    ``-2 - group`` for a death of a cause group attributed to no condition; -1 alive).
    """
    n = len(persons)
    horizon = (study_end - study_start) / YEAR
    age_mid = persons.age_at(study_start) + horizon / 2
    q = np.clip(annual_death_prob(age_mid, persons.sex), 1e-6, 0.9)
    base = -np.log1p(-q)
    hr = np.ones((n, len(cond.names)))
    for j, name in enumerate(cond.names):
        has = cond.onset[:, j] <= study_start + horizon * YEAR / 2
        hr[has, j] = specs[name].mortality_hr
    prod = hr.prod(axis=1)
    band = np.clip(age_mid // 5, 0, 24).astype(np.int64)
    band_mean = np.bincount(band, weights=prod, minlength=25) / np.maximum(
        np.bincount(band, minlength=25), 1
    )
    total = base * prod / np.maximum(band_mean[band], 1e-9)
    t = rng.exponential(1.0, n) / total
    dies = t < horizon
    death = np.full(n, NO_DAY, np.int32)
    death[dies] = (study_start + t[dies] * YEAR).astype(np.int32)
    # the cause: a group calibrated on the CépiDc distribution, tilted by the conditions
    age_death = persons.age_at(study_start) + np.where(dies, t, 0.0)
    model = cause_model(cond.names)
    cause = assign_causes(rng, model, age_death, persons.sex, hr, dies)
    # conditions cannot start after death
    onset = cond.onset
    onset[onset > death[:, None]] = NO_DAY
    persons.death = death
    return cause
