"""Truth of the calendar workstream: the manifest section ``calendar`` and per-chunk counts.

Counts (``manifest.json`` → ``counts``): ``calendar.flu_vaccine_dispensings.<year>``,
``calendar.gp_visits.<year>``, ``calendar.teleconsultations.<year>`` (GP claim lines before the
DCIR projection, i.e. without its duplicate/netting artefacts), ``calendar.covid_stays.<year>``
(MCO stays with DP U071 by admission year), ``calendar.covid_icu_stays``,
``calendar.covid_deaths.<year>`` (certificates with underlying cause U071) and
``calendar.covid_deaths_in_hospital``. Table ``truth/covid_events.parquet``: one row per
COVID-19 hospitalisation or death outside hospital.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sndslab.synth import _covid, _flu
from sndslab.synth._calendar import build_calendar
from sndslab.synth._care import CATEGORIES, NAT_TELE
from sndslab.synth._context import Chunk
from sndslab.synth._frame import Frame
from sndslab.synth._truth import Truth


def _year(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _count_by_year(truth: Truth, name: str, days: np.ndarray, years: list[int]) -> None:
    y = _year(np.asarray(days, np.int64))
    for year in years:
        truth.count(f"{name}.{year}", int((y == year).sum()))


def record_care(chunk: Chunk, truth: Truth, lines: Frame) -> None:
    """Count flu-vaccine dispensings, GP visits and teleconsultations per year."""
    years = chunk.config.years
    disp = lines["category"] == CATEGORIES["dispensing"]
    atc = chunk.ref.drug_atc[np.where(disp, lines["code"], 0)].astype(str)
    flu = disp & np.char.startswith(atc, _flu.FLU_VACCINE_ATC)
    _count_by_year(truth, "calendar.flu_vaccine_dispensings", lines["day"][flu], years)
    gp = lines["category"] == CATEGORIES["gp_visit"]
    _count_by_year(truth, "calendar.gp_visits", lines["day"][gp], years)
    tele = gp & (lines["nat"] == NAT_TELE)
    _count_by_year(truth, "calendar.teleconsultations", lines["day"][tele], years)


def record_covid(chunk: Chunk, truth: Truth, stays: Frame, cert: Frame) -> None:
    """Count COVID stays and deaths and append ``truth/covid_events``."""
    years = chunk.config.years
    covid = stays["dp"] == _covid.COVID_ICD10
    _count_by_year(truth, "calendar.covid_stays", stays["entry"][covid], years)
    deaths = cert["cause"] == _covid.COVID_ICD10
    _count_by_year(truth, "calendar.covid_deaths", cert["day"][deaths], years)
    truth.count("calendar.covid_deaths_in_hospital", int((covid & stays["died"]).sum()))
    ev = chunk.covid if chunk.covid is not None else _covid._empty()
    ev = ev.filter(ev["day"] <= chunk.study_end)
    waves = _covid.waves(chunk.config.first_year, chunk.config.last_year)
    names = np.array([w[0] for w in waves] + [""], dtype=object)
    truth.count("calendar.covid_icu_stays", int((ev["icu"] & ev["hospital"]).sum()))
    truth.append(
        "covid_events",
        {
            "person_id": chunk.persons.pid[ev["person"]],
            "date": truth.dates(ev["day"]),
            "wave": names[ev["wave"]],
            "hospitalised": ev["hospital"],
            "icu": ev["icu"],
            "planned_los": ev["los"],
            "death": ev["fatal"],
        },
    )


def manifest(config: Any) -> dict[str, Any]:
    """The ``calendar`` section of the truth manifest."""
    cal = build_calendar(config.seed, config.first_year, config.last_year)
    out = cal.manifest(config.first_year, config.last_year)
    out["influenza_vaccination"] = _flu.manifest(config.first_year, config.last_year)
    out["covid19"] = _covid.manifest(config.first_year, config.last_year)
    return out
