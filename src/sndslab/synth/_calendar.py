"""Calendar time: a relative intensity per care type and day, and a day sampler.

Care in France is not uniform over the year, and 2020–2021 were not normal years:

- **Winter respiratory epidemics.** Influenza epidemics (Sentinelles network / Santé publique
  France bulletins) peak between late December and mid-March, most often in weeks 4–8, last
  8–10 weeks and raise GP consultations by a quarter to a half at their peak; bronchiolitis
  and common colds add a broader winter excess. Each season's peak day, width and amplitude are
  drawn from the run's seed (:func:`build_calendar`). There was no influenza epidemic in
  winter 2020–21 (Santé publique France, bilan de la saison grippale 2020-2021): that season's
  amplitude is divided by 10.
- **Holidays.** Ambulatory care drops in August and in the Christmas week (DREES / Ameli
  monthly series of reimbursed care).
- **The COVID-19 lockdowns.** First lockdown 17 March – 10 May 2020 (lifted 11 May), with a
  voluntary decline from 9 March; drops per care type from the EPI-PHARE / Ameli / DREES reports
  on spring 2020 (GP consultations about −30/−40 % all modes included, specialists −60 %,
  physiotherapy −80 %, laboratory −50 %, imaging −65 %, dentists −80/−90 %, MCO stays about
  −50 %, emergency visits −45 %, chronic dispensings flat after a stockpiling spike in the week
  of 16 March); a partial catch-up from 11 May to the end of August; a milder second lockdown
  (30 October – 14 December 2020) and third (3 April – 2 May 2021).

For every care type the seasonal part averages exactly 1 over each calendar year (yearly totals
are those of the age/sex rates); the lockdown drops and catch-ups then multiply it, so that 2020
is lower than 2019 where real data were lower. :class:`DayIntensity` turns a Poisson rate per
person-year over ``[start, end]`` into counts and days distributed according to the intensity
(inverse CDF over the cumulative intensity: vectorised, one uniform per event).

Sources (orders of magnitude): Santé publique France, bulletins grippe 2018–2022; Réseau
Sentinelles; EPI-PHARE, *Usage des médicaments de ville en France durant l'épidémie de
Covid-19* (rapports 1–6, 2020–2021); DREES, *Études et résultats* 1150 (2020) and 1170 (2020)
on ambulatory care during the lockdown; Ameli, *Rapport charges et produits 2021*; ATIH,
*Analyse de l'activité hospitalière 2020*.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from sndslab.synth._ids import day_of, repeat_index

YEAR = 365.25
_EPOCH = _dt.date(1970, 1, 1)


def _date(day: int) -> str:
    return (_EPOCH + _dt.timedelta(days=int(day))).isoformat()


def _doy(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Day of year (0-based) and calendar year of day numbers (days since 1970-01-01)."""
    d64 = days.astype("datetime64[D]")
    years = d64.astype("datetime64[Y]")
    return (d64 - years).astype(np.int64), years.astype(np.int64) + 1970


@dataclass(frozen=True)
class CareProfile:
    """How one care type follows the calendar.

    ``respiratory``: weight of the winter epidemics (1 = the GP-consultation excess);
    ``winter``: amplitude of the broad winter cosine; ``august``/``christmas``: relative change in
    August and in the 24–31 December week; ``lockdown``: relative change during the first
    lockdown; ``catch_up``: share of the volume lost in the first lockdown made up between
    11 May and 31 August 2020; ``later_lockdowns``: share of the first-lockdown drop applied
    during the second and third lockdowns.
    """

    respiratory: float
    winter: float
    august: float
    christmas: float
    lockdown: float
    catch_up: float
    later_lockdowns: float


#: Care types and their calendar profiles (see the module docstring for the sources).
PROFILES: dict[str, CareProfile] = {
    "gp": CareProfile(1.0, 0.06, -0.20, -0.15, -0.35, 0.10, 0.15),
    "specialist": CareProfile(0.05, 0.02, -0.30, -0.20, -0.60, 0.30, 0.15),
    "nurse": CareProfile(0.15, 0.03, -0.05, -0.05, -0.15, 0.0, 0.2),
    "physio": CareProfile(0.0, 0.02, -0.30, -0.20, -0.80, 0.25, 0.15),
    "lab": CareProfile(0.15, 0.03, -0.15, -0.15, -0.50, 0.25, 0.15),
    "imaging": CareProfile(0.10, 0.02, -0.20, -0.20, -0.65, 0.35, 0.15),
    "episodic_drug": CareProfile(0.2, 0.04, -0.10, -0.10, -0.25, 0.05, 0.2),
    "respiratory_drug": CareProfile(1.6, 0.15, -0.15, -0.10, -0.40, 0.0, 0.4),
    "stay": CareProfile(0.15, 0.04, -0.15, -0.10, -0.50, 0.20, 0.35),
    "emergency": CareProfile(0.40, 0.05, 0.05, 0.0, -0.45, 0.0, 0.2),
    "ace": CareProfile(0.0, 0.02, -0.25, -0.20, -0.60, 0.25, 0.15),
    "had": CareProfile(0.0, 0.0, 0.0, 0.0, 0.20, 0.0, 0.5),
    "psy": CareProfile(0.0, 0.0, -0.05, -0.05, -0.30, 0.10, 0.2),
}

#: First lockdown (Journal officiel, décret 2020-260 of 16 March 2020; lifted on 11 May 2020).
LOCKDOWN_1 = ("2020-03-17", "2020-05-10")
#: Voluntary decline of care before the lockdown (announcements of 12 and 14 March 2020).
DECLINE_FROM = "2020-03-09"
#: Period over which the lost volume is partly made up.
CATCH_UP = ("2020-05-11", "2020-08-31")
#: Later lockdowns (décrets 2020-1310 of 29 October 2020 and 2021-384 of 2 April 2021).
LATER_LOCKDOWNS = (("2020-10-30", "2020-12-14"), ("2021-04-03", "2021-05-02"))
#: Chronic-treatment stockpiling (EPI-PHARE report 1: record dispensings in the week of 16 March
#: 2020): refills due between these dates are brought forward into the week of 12–20 March.
STOCKPILE_WINDOW = ("2020-03-12", "2020-03-20")
STOCKPILE_DUE = ("2020-03-21", "2020-04-30")
STOCKPILE_SHARE = 0.35

#: Share of GP consultations held as teleconsultations: (first day, share) steps, linear between
#: the two points of a ramp. Reimbursed from 15 September 2018 (avenant 6): about 0.1 % in 2019
#: (Ameli: ~ 60,000 teleconsultations a year for ~ 250 M GP consultations… orders of magnitude);
#: about 28 % of GP consultations in April 2020 (DREES, Études et résultats 1162; Ameli: 4.5 M
#: teleconsultations in the week-ends… 1 in 4 consultations); 5–6 % from summer 2020 on, ~ 10 %
#: in the second lockdown (Ameli, points mensuels 2020–2021).
TELE_POINTS = (
    ("2018-09-14", 0.0),
    ("2018-09-15", 0.001),
    ("2020-03-08", 0.001),
    ("2020-03-17", 0.28),
    ("2020-05-10", 0.28),
    ("2020-06-30", 0.06),
    ("2020-10-29", 0.05),
    ("2020-10-30", 0.10),
    ("2020-12-14", 0.10),
    ("2020-12-15", 0.05),
)

#: Episodic drugs that follow the winter respiratory epidemics (antibiotics, nasal and throat
#: preparations, cough medicines, paracetamol, neuraminidase inhibitors); the other episodic
#: drugs follow ``episodic_drug``.
RESPIRATORY_ATC = ("J01", "R01", "R02", "R05", "N02BE", "J05AH")

#: Seasons without an influenza epidemic (first year of the season) and the amplitude factor.
NO_FLU_SEASONS = {2020: 0.1}


def _d(iso: str) -> int:
    y, m, d = (int(x) for x in iso.split("-"))
    return day_of(y, m, d)


@dataclass(frozen=True)
class Epidemic:
    """A winter respiratory epidemic: Gaussian bump in days around ``peak``."""

    season: int  # first calendar year of the season (2019 = winter 2019–20)
    peak: int  # day number
    width: float  # standard deviation in days
    amplitude: float  # relative excess of GP consultations at the peak

    def manifest(self) -> dict[str, Any]:
        start = int(self.peak - 2 * self.width)
        return {
            "season": f"{self.season}-{self.season + 1}",
            "start": _date(start),
            "start_iso_week": _dt.date.fromisoformat(_date(start)).isocalendar()[1],
            "peak": _date(self.peak),
            "peak_iso_week": _dt.date.fromisoformat(_date(self.peak)).isocalendar()[1],
            "end": _date(int(self.peak + 2 * self.width)),
            "width_sd_days": round(self.width, 1),
            "gp_peak_excess": round(self.amplitude, 3),
        }


@dataclass(frozen=True)
class DayIntensity:
    """A relative intensity per day from ``first`` (day number) on, with its cumulative sum.

    A Poisson process at ``rate`` events per person-year *at intensity 1* has, over
    ``[start, end]``, ``rate × Σ intensity / 365.25`` expected events, placed on days with
    probability proportional to the intensity.
    """

    first: int
    values: np.ndarray
    cum: np.ndarray  # len(values) + 1, cum[0] = 0

    @classmethod
    def of(cls, first: int, values: np.ndarray) -> DayIntensity:
        values = np.maximum(np.asarray(values, np.float64), 0.0)
        return cls(first, values, np.concatenate([[0.0], np.cumsum(values)]))

    def _index(self, day: np.ndarray) -> np.ndarray:
        return np.clip(np.asarray(day, np.int64) - self.first, 0, len(self.values))

    def at(self, day: np.ndarray) -> np.ndarray:
        """Intensity on each day (1 outside the covered range)."""
        i = np.asarray(day, np.int64) - self.first
        ok = (i >= 0) & (i < len(self.values))
        return np.where(ok, self.values[np.clip(i, 0, len(self.values) - 1)], 1.0)

    def mass(self, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """Σ intensity over ``[start, end]`` (0 when ``end < start``)."""
        lo = self._index(start)
        hi = self._index(np.asarray(end, np.int64) + 1)
        return np.maximum(self.cum[np.maximum(hi, lo)] - self.cum[lo], 0.0)

    def sample(self, rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """One day per row in ``[start, end]``, with probability ∝ intensity (inverse CDF)."""
        lo_i = self._index(start)
        hi_i = self._index(np.asarray(end, np.int64) + 1)
        lo, hi = self.cum[lo_i], self.cum[np.maximum(hi_i, lo_i)]
        target = lo + rng.random(len(lo_i)) * (hi - lo)
        idx = np.searchsorted(self.cum, target, side="right") - 1
        idx = np.clip(idx, lo_i, np.maximum(hi_i - 1, lo_i))
        return (self.first + idx).astype(np.int64)

    def poisson_days(
        self, rng: np.random.Generator, rate: np.ndarray, start: np.ndarray, end: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Poisson counts at ``rate`` per person-year over ``[start, end]`` and their days."""
        mass = self.mass(start, end)
        counts = rng.poisson(np.maximum(rate, 0) * mass / YEAR)
        parent = repeat_index(counts)
        return parent, self.sample(rng, np.asarray(start)[parent], np.asarray(end)[parent])


class Calendar:
    """Relative intensities per care type over the study years (plus one year each side)."""

    def __init__(self, seed: int, first_year: int, last_year: int) -> None:
        self.first = day_of(first_year - 1, 1, 1)
        self.last = day_of(last_year + 1, 12, 31)
        self.days = np.arange(self.first, self.last + 1, dtype=np.int64)
        rng = np.random.default_rng([seed, 77])
        self.epidemics = [self._draw_epidemic(rng, s) for s in range(first_year - 2, last_year + 1)]
        self._intensity = {
            k: DayIntensity.of(self.first, self._values(p)) for k, p in PROFILES.items()
        }

    # -- construction ---------------------------------------------------------------------------
    @staticmethod
    def _draw_epidemic(rng: np.random.Generator, season: int) -> Epidemic:
        """Peak around 5 February (sd 18 days, clipped to 15 Dec – 20 Mar), width 10–20 days,
        GP excess at the peak 25–55 % (Sentinelles incidence of influenza-like illness)."""
        jan1 = day_of(season + 1, 1, 1)
        peak = jan1 + int(np.clip(rng.normal(35, 18), -17, 78))
        width = float(rng.uniform(10, 20))
        amplitude = float(rng.uniform(0.25, 0.55)) * NO_FLU_SEASONS.get(season, 1.0)
        return Epidemic(season, peak, width, amplitude)

    def _values(self, p: CareProfile) -> np.ndarray:
        days = self.days
        doy, year = _doy(days)
        epi = np.zeros(len(days))
        for e in self.epidemics:
            epi += e.amplitude * np.exp(-0.5 * ((days - e.peak) / e.width) ** 2)
        raw = (1 + p.winter * np.cos(2 * np.pi * (doy - 20) / 365.25)) * (1 + p.respiratory * epi)
        month = (days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12) + 1
        raw = raw * np.where(month == 8, 1 + p.august, 1.0)
        raw = raw * np.where((month == 12) & (doy >= 357), 1 + p.christmas, 1.0)
        # each calendar year averages exactly 1
        for y in np.unique(year):
            sel = year == y
            raw[sel] = raw[sel] / raw[sel].mean()
        return raw * self._pandemic(p, raw)

    def _pandemic(self, p: CareProfile, base: np.ndarray) -> np.ndarray:
        """Multiplier for the lockdowns and the catch-up (1 outside 2020–2021)."""
        days = self.days
        factor = np.ones(len(days))
        d0, l0, l1 = _d(DECLINE_FROM), _d(LOCKDOWN_1[0]), _d(LOCKDOWN_1[1])
        ramp = np.clip((days - d0 + 1) / max(l0 - d0, 1), 0, 1)
        in1 = (days >= d0) & (days <= l1)
        factor = np.where(in1, 1 + p.lockdown * ramp, factor)
        for a, b in LATER_LOCKDOWNS:
            sel = (days >= _d(a)) & (days <= _d(b))
            factor = np.where(sel, 1 + p.lockdown * p.later_lockdowns, factor)
        lost = float(((1 - factor) * base)[in1].sum())
        c0, c1 = _d(CATCH_UP[0]), _d(CATCH_UP[1])
        sel = (days >= c0) & (days <= c1)
        if p.catch_up and lost > 0 and sel.any():
            shape = np.where(sel, (c1 - days + 1).astype(np.float64), 0.0)
            extra = p.catch_up * lost * shape / shape.sum()
            factor = factor + extra / base
        return factor

    # -- use --------------------------------------------------------------------------------
    def __getitem__(self, kind: str) -> DayIntensity:
        return self._intensity[kind]

    def tele_share(self, day: np.ndarray) -> np.ndarray:
        """Share of GP consultations held as teleconsultations on ``day`` (:data:`TELE_POINTS`)."""
        xs = np.array([_d(a) for a, _ in TELE_POINTS], np.float64)
        ys = np.array([v for _, v in TELE_POINTS])
        return np.interp(np.asarray(day, np.float64), xs, ys, left=0.0, right=ys[-1])

    def stockpile(
        self, rng: np.random.Generator, day: np.ndarray, not_before: np.ndarray
    ) -> np.ndarray:
        """Chronic refills due in late March – April 2020 brought forward into 12–20 March for a
        share ``STOCKPILE_SHARE`` of them (the stockpiling spike of the first lockdown), never
        before ``not_before`` (treatment start or study start)."""
        due = (day >= _d(STOCKPILE_DUE[0])) & (day <= _d(STOCKPILE_DUE[1]))
        w0, w1 = _d(STOCKPILE_WINDOW[0]), _d(STOCKPILE_WINDOW[1])
        move = due & (not_before <= w0) & (rng.random(len(day)) < STOCKPILE_SHARE)
        return np.where(move, rng.integers(w0, w1 + 1, len(day)), day).astype(np.int64)

    def yearly_mean(self, kind: str, year: int) -> float:
        sel = (self.days >= day_of(year, 1, 1)) & (self.days <= day_of(year, 12, 31))
        return float(self._intensity[kind].values[sel].mean())

    def monthly(self, kind: str, year: int) -> list[float]:
        vals = self._intensity[kind].values
        out = []
        for m in range(1, 13):
            a = day_of(year, m, 1)
            b = day_of(year + (m == 12), m % 12 + 1, 1)
            out.append(round(float(vals[a - self.first : b - self.first].mean()), 3))
        return out

    def manifest(self, first_year: int, last_year: int) -> dict[str, Any]:
        years = range(first_year, last_year + 1)
        return {
            "definition": "relative intensity per care type and day: each calendar year's "
            "seasonal part averages 1 (winter cosine, respiratory epidemics, August and "
            "Christmas dips); lockdown drops and catch-up multiply it",
            "respiratory_epidemics": [
                e.manifest() for e in self.epidemics if first_year - 1 <= e.season <= last_year
            ],
            "lockdowns": {
                "first": {
                    "start": LOCKDOWN_1[0],
                    "end": LOCKDOWN_1[1],
                    "decline_from": DECLINE_FROM,
                },
                "later": [{"start": a, "end": b} for a, b in LATER_LOCKDOWNS],
                "catch_up": {"start": CATCH_UP[0], "end": CATCH_UP[1]},
            },
            "care_types": {
                k: {
                    "first_lockdown_change": p.lockdown,
                    "catch_up_share_of_lost_volume": p.catch_up,
                    "later_lockdowns_share_of_first_drop": p.later_lockdowns,
                    "respiratory_weight": p.respiratory,
                    "yearly_mean": {str(y): round(self.yearly_mean(k, y), 4) for y in years},
                    "monthly_mean": {str(y): self.monthly(k, y) for y in years},
                }
                for k, p in PROFILES.items()
            },
            "teleconsultation_share_of_gp_visits": {
                "points": [{"date": a, "share": v} for a, v in TELE_POINTS],
                "interpolation": "linear between points",
                "monthly_mean": {
                    str(y): [
                        round(
                            float(
                                self.tele_share(
                                    np.arange(day_of(y, m, 1), day_of(y + (m == 12), m % 12 + 1, 1))
                                ).mean()
                            ),
                            4,
                        )
                        for m in range(1, 13)
                    ]
                    for y in years
                },
            },
            "stockpiling": {
                "refills_due": {"start": STOCKPILE_DUE[0], "end": STOCKPILE_DUE[1]},
                "moved_into": {"start": STOCKPILE_WINDOW[0], "end": STOCKPILE_WINDOW[1]},
                "share": STOCKPILE_SHARE,
            },
        }


def build_calendar(seed: int, first_year: int, last_year: int) -> Calendar:
    return _cached(seed, first_year, last_year)


_CACHE: dict[tuple[int, int, int], Calendar] = {}


def _cached(seed: int, first_year: int, last_year: int) -> Calendar:
    key = (seed, first_year, last_year)
    if key not in _CACHE:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = Calendar(seed, first_year, last_year)
    return _CACHE[key]
