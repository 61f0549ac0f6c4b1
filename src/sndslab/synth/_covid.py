"""COVID-19 epidemic waves: hospital stays (DP U07.1) and deaths (underlying cause U07.1).

Each wave has a triangular daily shape (start, peak, end) and a hospital burden relative to the
2020 total; a person's expected COVID hospitalisations in a wave are their age rate (per
person-year in 2020) times the wave's burden, times a multiplier for persons 75+ in the waves
after the vaccination of the elderly (January 2021 on). A hospitalised person dies in the stay
with an age-specific probability (times the wave's fatality multiplier); some deaths happen
outside hospital (nursing homes, home), almost only at 75+. COVID deaths come on top of the
baseline mortality (excess deaths): they bring a person's death forward.

Orders of magnitude (France, 67 M inhabitants):
- about 220,000 MCO stays with COVID-19 in 2020 and 260,000 in 2021 (ATIH, *Analyse de
  l'activité hospitalière 2020* and 2021), mean length about 10 days (ICU stays ~ 18 days);
  about 1 in 4 hospitalised patients under 75 admitted to intensive care (SI-VIC);
- about 69,000 deaths with COVID-19 as underlying cause in 2020 and 59,000 in 2021 (CépiDc-
  Inserm, *Grandes causes de décès en 2020 et 2021*, Études et résultats 1229), two thirds in
  hospital in 2020, 78 % at 75+ and 92 % at 65+;
- waves: 1 March – June 2020 (peak of admissions ~ 1 April), September 2020 – January 2021
  (peak ~ 5 November), January – June 2021 (plateau then peak ~ 5 April), July – September
  2021 (Delta), November 2021 – February 2022 (Delta then Omicron); smaller Omicron waves in
  2022 (Santé publique France, *Points épidémiologiques COVID-19*).

The ICD-10 code is U07.1 (``U071`` in PMSI and CépiDc files), created by the WHO in March 2020
and used by ATIH from the first wave.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sndslab.synth._calendar import YEAR, DayIntensity, _d
from sndslab.synth._frame import Frame
from sndslab.synth._ids import NO_DAY, day_of

COVID_ICD10 = "U071"

#: (name, start, peak, end, hospital burden relative to the 2020 total, fatality multiplier,
#: multiplier of the risks of persons 75+ (vaccination of the elderly from January 2021)).
WAVES: tuple[tuple[str, str, str, str, float, float, float], ...] = (
    ("2020 first wave", "2020-03-01", "2020-04-01", "2020-06-15", 0.45, 1.15, 1.0),
    ("2020 second wave", "2020-09-01", "2020-11-05", "2021-01-10", 0.62, 0.95, 1.0),
    ("2021 third wave", "2021-01-01", "2021-04-05", "2021-06-15", 0.75, 0.85, 0.7),
    ("2021 Delta wave", "2021-07-10", "2021-08-20", "2021-10-01", 0.15, 0.70, 0.5),
    ("2021-22 Delta-Omicron wave", "2021-11-01", "2022-01-15", "2022-03-01", 0.45, 0.55, 0.5),
    ("2022 BA.2 wave", "2022-03-10", "2022-04-05", "2022-05-10", 0.12, 0.50, 0.6),
    ("2022 BA.5 wave", "2022-06-10", "2022-07-15", "2022-08-20", 0.15, 0.50, 0.6),
    ("2022 autumn wave", "2022-09-25", "2022-10-20", "2022-12-01", 0.12, 0.50, 0.6),
    ("2022-23 winter wave", "2022-12-01", "2022-12-25", "2023-01-31", 0.12, 0.45, 0.6),
)
#: Endemic winter wave repeated from 2023 on (same dates each year).
ENDEMIC = ("endemic winter wave", "11-15", "12-20", "01-31", 0.08, 0.40, 0.6)

#: Age bands (lower bounds) and, per band: COVID hospitalisations per 100,000 person-years in
#: 2020, in-hospital death probability, intensive-care share, out-of-hospital COVID deaths per
#: 100,000 person-years in 2020 (calibrated on the totals above with the French pyramid).
AGE_LO = np.array([0, 15, 45, 65, 75, 85])
HOSP_PER_100K = np.array([15.0, 110.0, 300.0, 600.0, 1100.0, 2300.0])
DEATH_IN_STAY = np.array([0.002, 0.01, 0.06, 0.15, 0.28, 0.40])
ICU_SHARE = np.array([0.08, 0.15, 0.28, 0.25, 0.12, 0.03])
OUTSIDE_DEATHS_PER_100K = np.array([0.0, 0.0, 1.0, 20.0, 150.0, 700.0])
LOS_MEAN = {"ward": 9.0, "icu": 18.0}


def waves(first_year: int, last_year: int) -> list[tuple[str, int, int, int, float, float, float]]:
    """Waves overlapping ``[first_year, last_year]`` as day numbers."""
    out = [(n, _d(a), _d(p), _d(b), h, f, e) for n, a, p, b, h, f, e in WAVES]
    name, a, p, b, h, f, e = ENDEMIC
    for y in range(2023, last_year + 1):
        out.append(
            (f"{y}-{y + 1} {name}", _d(f"{y}-{a}"), _d(f"{y}-{p}"), _d(f"{y + 1}-{b}"), h, f, e)
        )
    lo, hi = day_of(first_year, 1, 1), day_of(last_year, 12, 31)
    return [w for w in out if w[3] >= lo and w[1] <= hi]


def _wave_intensity(start: int, peak: int, end: int, burden: float) -> DayIntensity:
    """Triangular daily shape whose sum is ``burden × 365.25`` (a rate per person-year at
    intensity 1 then yields ``rate × burden`` expected events over the whole wave)."""
    days = np.arange(start, end + 1, dtype=np.float64)
    up = (days - start + 1) / (peak - start + 1)
    down = (end - days + 1) / (end - peak + 1)
    shape = np.where(days <= peak, up, down)
    return DayIntensity.of(start, shape / shape.sum() * burden * YEAR)


def _band(age: np.ndarray) -> np.ndarray:
    return np.searchsorted(AGE_LO, age, side="right") - 1


def draw_covid(chunk: Any) -> Frame:
    """COVID hospitalisations and deaths of the chunk's persons; brings deaths forward.

    Returns one row per COVID event: ``person``, ``day`` (admission, or death day for deaths
    outside hospital), ``wave``, ``hospital``, ``icu``, ``los`` (nights), ``fatal``. Updates
    ``chunk.persons.death``, ``chunk.death_cause`` (-1) and drops condition onsets after death.
    """
    persons = chunk.persons
    n = len(persons)
    rng = np.random.default_rng([chunk.config.seed, 78, chunk.index])
    start = np.full(n, chunk.study_start, np.int64)
    care_start = np.asarray(chunk.care_start, np.int64)
    end = chunk.alive_end
    rows: list[Frame] = []
    for w, (_name, a, p, b, burden, fatality, elderly) in enumerate(
        waves(chunk.config.first_year, chunk.config.last_year)
    ):
        curve = _wave_intensity(a, p, b, burden)
        age = np.maximum(persons.age_at(p), 0)  # a person born after the peak: youngest band
        band = _band(age)
        old = np.where(age >= 75, elderly, 1.0)
        for hospital, rate in ((True, HOSP_PER_100K), (False, OUTSIDE_DEATHS_PER_100K)):
            who, day = curve.poisson_days(rng, rate[band] / 1e5 * old, start, end)
            # an entrant (birth, arrival) is not exposed before its entry: restricting the
            # Poisson process to the care window keeps every other person's draws unchanged
            in_care = day >= care_start[who]
            who, day = who[in_care], day[in_care]
            if len(who) == 0:
                continue
            b_ = band[who]
            if hospital:
                fatal = rng.random(len(who)) < np.minimum(DEATH_IN_STAY[b_] * fatality, 0.9)
                icu = rng.random(len(who)) < ICU_SHARE[b_]
                mean = np.where(icu, LOS_MEAN["icu"], LOS_MEAN["ward"])
                los = np.maximum(np.floor(rng.gamma(2.0, mean / 2.0)), 1).astype(np.int64)
            else:
                # deaths outside hospital: the wave's fatality multiplier thins them
                keep = rng.random(len(who)) < min(fatality, 1.0)
                who, day, b_ = who[keep], day[keep], b_[keep]
                fatal = np.ones(len(who), bool)
                icu = np.zeros(len(who), bool)
                los = np.zeros(len(who), np.int64)
            rows.append(
                Frame(
                    person=who.astype(np.int64),
                    day=day,
                    wave=np.full(len(who), w, np.int64),
                    hospital=np.full(len(who), hospital),
                    icu=icu,
                    los=los,
                    fatal=fatal,
                )
            )
    if not rows:
        return _empty()
    events = Frame.concat(rows)
    events = events.take(np.lexsort((events["day"], events["person"])))
    # a person dies of the first fatal event (in-stay deaths at the exit day)
    death_day = np.where(events["fatal"], events["day"] + events["los"], NO_DAY)
    first_death = np.full(n, NO_DAY, np.int64)
    np.minimum.at(first_death, events["person"], death_day)
    # events after that death do not happen; a fatal event after it is not fatal
    events = events.filter(events["day"] <= first_death[events["person"]])
    events["fatal"] = events["fatal"] & (
        events["day"] + events["los"] == first_death[events["person"]]
    )
    dies = first_death < persons.death
    persons.death = np.where(dies, first_death, persons.death).astype(persons.death.dtype)
    chunk.death_cause[dies] = -1
    onset = chunk.cond.onset
    onset[onset > persons.death[:, None]] = NO_DAY
    # a fatal event counts only if it is the person's (new) death
    events["fatal"] = events["fatal"] & dies[events["person"]]
    return events


def _empty() -> Frame:
    z = np.zeros(0, np.int64)
    b = np.zeros(0, bool)
    return Frame(person=z, day=z, wave=z, hospital=b, icu=b, los=z, fatal=b)


def covid_dead(chunk: Any) -> np.ndarray:
    """Per person: died of COVID-19 within the study (bool)."""
    out = np.zeros(len(chunk.persons), bool)
    ev = chunk.covid
    if ev is not None and len(ev):
        fatal = ev["fatal"]
        out[ev["person"][fatal]] = True
    return out & (chunk.persons.death <= chunk.study_end)


def covid_stays(chunk: Any, kinds: dict[str, int]) -> Frame:
    """MCO stays of the COVID hospitalisations (DP U071), in the columns of ``draw_stays``;
    fatal ones are ``terminal`` stays ending on the death day."""
    ev = chunk.covid
    if ev is None:
        ev = _empty()
    ev = ev.filter(ev["hospital"] & (ev["day"] <= chunk.study_end))
    m = len(ev)
    fatal = ev["fatal"]
    return Frame(
        person=ev["person"],
        entry=ev["day"],
        dp=np.full(m, COVID_ICD10, dtype=object),
        los_mean=np.where(fatal, ev["los"], np.maximum(ev["los"], 1)).astype(np.float64),
        surgical=np.zeros(m, bool),
        act=np.full(m, -1, np.int64),
        kind=np.where(fatal, kinds["terminal"], kinds["covid"]).astype(np.int64),
        cond=np.full(m, -1, np.int64),
        emergency=chunk.rng.random(m) < 0.85,
    )


def manifest(first_year: int, last_year: int) -> dict[str, Any]:
    """Truth-manifest description of the COVID model (counts are in ``counts``)."""
    return {
        "icd10": COVID_ICD10,
        "waves": [
            {
                "name": n,
                "start": str(np.datetime64(a, "D")),
                "peak": str(np.datetime64(p, "D")),
                "end": str(np.datetime64(b, "D")),
                "hospital_burden_vs_2020": h,
                "fatality_multiplier": f,
                "risk_multiplier_75_plus": e,
            }
            for n, a, p, b, h, f, e in waves(first_year, last_year)
        ],
        "by_age": {
            "age_lower_bounds": AGE_LO.tolist(),
            "hospitalisations_per_100k_2020": HOSP_PER_100K.tolist(),
            "death_in_stay_probability": DEATH_IN_STAY.tolist(),
            "icu_share": ICU_SHARE.tolist(),
            "deaths_outside_hospital_per_100k_2020": OUTSIDE_DEATHS_PER_100K.tolist(),
        },
        "length_of_stay_mean_days": LOS_MEAN,
        "stays": "MCO stays with DP U071 (truth/stays kind 'covid', or 'terminal' when the "
        "patient dies in the stay); deaths: KI_CCI_R underlying cause U071",
        "excess_deaths": "COVID deaths bring a person's death forward (on top of baseline "
        "mortality)",
    }
