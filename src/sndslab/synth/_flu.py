"""Seasonal influenza vaccination campaigns (J07BB dispensed in pharmacies, autumn–winter only).

The vaccine is free (100 %, bon de prise en charge sent by the Assurance Maladie) for persons
aged 65 and over and for persons under 65 with a chronic condition at risk; it is dispensed
from the opening of the campaign (mid-October) to its end (31 January, extended to the end of
February in 2020-21, 2021-22 and 2022-23). Dispensings are front-loaded: about two thirds in
the first six weeks (Ameli, bilans des campagnes de vaccination).

Uptake per season (Santé publique France, *Couverture vaccinale grippe par saison*,
bulletins de santé publique vaccination 2019–2024): 65+ about 50 % until 2019-20, 60 % in
2020-21, 57 % in 2021-22; persons under 65 at risk about 30 %, 39 % in 2020-21. A person's
propensity is persistent across seasons (latent normal, season-to-season correlation 0.72).
"""

from __future__ import annotations

import datetime as _dt
from statistics import NormalDist
from typing import Any

import numpy as np

from sndslab.synth._context import Chunk
from sndslab.synth._ids import NO_DAY, day_of

FLU_VACCINE_ATC = "J07BB"

#: Conditions that make a person under 65 eligible (HCSP recommendations: diabetes, chronic
#: respiratory, cardiac, cerebrovascular and renal diseases, cancer under treatment).
AT_RISK_CONDITIONS = (
    "diabetes",
    "heart_failure",
    "coronary_disease",
    "atrial_fibrillation",
    "stroke",
    "copd_asthma",
    "chronic_kidney_disease",
    "cancer",
)

#: season (first year) → (opening, closing, uptake 65+, uptake at-risk < 65).
CAMPAIGNS: dict[int, tuple[str, str, float, float]] = {
    2016: ("2016-10-06", "2017-01-31", 0.500, 0.287),
    2017: ("2017-10-06", "2018-01-31", 0.497, 0.289),
    2018: ("2018-10-06", "2019-01-31", 0.510, 0.297),
    2019: ("2019-10-15", "2020-01-31", 0.520, 0.299),
    2020: ("2020-10-13", "2021-02-28", 0.599, 0.387),
    2021: ("2021-10-22", "2022-02-28", 0.568, 0.343),
    2022: ("2022-10-18", "2023-02-28", 0.562, 0.315),
    2023: ("2023-10-17", "2024-01-31", 0.540, 0.257),
}
FRONT_LOAD_DAYS = 25.0  # mean of the exponential delay after the opening (truncated at closing)
PERSISTENCE = 0.85  # loading of the persistent propensity on the season's latent variable


def _day(iso: str) -> int:
    d = _dt.date.fromisoformat(iso)
    return day_of(d.year, d.month, d.day)


def campaign(season: int) -> tuple[int, int, float, float]:
    """Opening and closing day numbers and uptakes (65+, at-risk < 65) of a season; seasons
    outside :data:`CAMPAIGNS` repeat the nearest one, shifted by whole years."""
    ref_season = min(max(season, min(CAMPAIGNS)), max(CAMPAIGNS))
    a, b, u65, urisk = CAMPAIGNS[ref_season]
    shift = season - ref_season
    da, db = _dt.date.fromisoformat(a), _dt.date.fromisoformat(b)
    return (
        day_of(da.year + shift, da.month, da.day),
        day_of(db.year + shift, db.month, db.day),
        u65,
        urisk,
    )


def flu_vaccinations(
    chunk: Chunk,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flu vaccine dispensings ``(person, day, drug, boxes, chronic)`` of the chunk's persons."""
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    n = len(persons)
    presentations = np.flatnonzero(np.char.startswith(ref.drug_atc.astype(str), FLU_VACCINE_ATC))
    empty = np.zeros(0, np.int64)
    if len(presentations) == 0:
        return empty, empty, empty, empty, empty
    propensity = rng.standard_normal(n)
    at_risk_cols = [chunk.cond.index(c) for c in AT_RISK_CONDITIONS if c in chunk.cond.names]
    people: list[np.ndarray] = []
    days: list[np.ndarray] = []
    for season in range(chunk.config.first_year - 1, chunk.config.last_year + 1):
        opening, closing, u65, urisk = campaign(season)
        if closing < chunk.study_start or opening > chunk.study_end:
            continue
        age = persons.age_at(opening)
        risk = np.zeros(n, bool)
        for j in at_risk_cols:
            risk |= chunk.cond.onset[:, j] <= opening
        latent = PERSISTENCE * propensity + np.sqrt(1 - PERSISTENCE**2) * rng.standard_normal(n)
        normal = NormalDist()
        limit = np.where(
            age >= 65,
            normal.inv_cdf(u65),
            np.where(risk & (age >= 1), normal.inv_cdf(urisk), -np.inf),
        )
        who = np.flatnonzero(latent < limit)
        span = closing - opening + 1
        # truncated exponential delay after the opening (inverse CDF)
        top = 1 - np.exp(-span / FRONT_LOAD_DAYS)
        delay = np.floor(-FRONT_LOAD_DAYS * np.log1p(-rng.random(len(who)) * top))
        day = opening + np.minimum(delay, span - 1).astype(np.int64)
        ok = (day >= chunk.care_start[who]) & (day <= chunk.alive_end[who]) & (day < NO_DAY)
        people.append(who[ok])
        days.append(day[ok])
    person = np.concatenate(people) if people else empty
    day = np.concatenate(days) if days else empty
    drug = presentations[rng.integers(0, len(presentations), len(person))]
    ones = np.ones(len(person), np.int64)
    return person, day, drug, ones, np.zeros(len(person), np.int64)


def manifest(first_year: int, last_year: int) -> dict[str, Any]:
    """Truth-manifest description of the campaigns touching the study years."""
    out = []
    for season in range(first_year - 1, last_year + 1):
        a, b, u65, urisk = campaign(season)
        out.append(
            {
                "season": f"{season}-{season + 1}",
                "opening": str(np.datetime64(a, "D")),
                "closing": str(np.datetime64(b, "D")),
                "uptake_65_plus": u65,
                "uptake_at_risk_under_65": urisk,
            }
        )
    return {
        "atc": FLU_VACCINE_ATC,
        "eligible": "aged 65+ at the opening, or under 65 with one of "
        + ", ".join(AT_RISK_CONDITIONS),
        "timing": f"opening + truncated exponential delay (mean {FRONT_LOAD_DAYS:g} days)",
        "persistence": PERSISTENCE,
        "campaigns": out,
    }
