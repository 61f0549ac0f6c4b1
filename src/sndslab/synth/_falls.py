"""Falls with injury among persons aged 65+: the pharmacovigilance truth, in a world that is
not too clean for self-controlled designs.

Intensity of a fall of person ``i`` on day ``t`` (per year)::

    λ_i(t) = rate(age_i(t), sex_i) × season(t) × frailty_i(t) × Π_c rr_c·[onset_ic ≤ t] / m
             × (1 + Σ_d (irr_d − 1)·[t in a risk window of drug d])

- ``rate`` is ``conditions.yaml`` ``fall.rate_by_age`` evaluated at the age of each day (persons
  age during follow-up and enter the 65+ population on their birthday);
- ``season`` has a winter excess (``falls.yaml`` ``season``);
- ``frailty_i(t)`` is the latent frailty times a slow drift and an acute decline (loss of
  autonomy) that doubles the rate from a random day on (``falls.yaml`` ``frailty``);
- ``rr_c`` are relative risks of the conditions present (dementia, Parkinson's disease, stroke,
  …), which start during follow-up for incident cases; ``m`` keeps the population rate near
  ``rate_by_age``.

Events are drawn by thinning (Lewis–Shedler): candidates at an upper bound of the intensity
over each interval, each kept with probability ``λ(t) / bound``. Each dispensing of a drug with
an injected effect (``truth_effects.yaml``) adds ``λ_base(t) × (irr − 1)`` during its risk window
(windows of one drug and person never overlap), which is exactly a multiplicative relative
incidence ``irr``: what an SCCS estimates once age and season are adjusted for.

Fractures also come from causes other than falls (road, sport, pathological/osteoporotic
fractures), not every hospitalised fall carries a W00–W19 code, and a hip fracture raises
mortality (``fall.mortality_1y_hip_fracture``): the excess deaths are drawn here, before the
care drawn earlier is truncated (:func:`drop_after_death`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from sndslab.synth._care import YEAR, care_window, poisson_days
from sndslab.synth._context import Chunk
from sndslab.synth._frame import Frame
from sndslab.synth._ids import NO_DAY, day_of

#: E[sqrt(G)] for the latent frailty G ~ gamma(2, 0.5): sqrt(0.5) Γ(2.5) / Γ(2)
_FRAILTY_NORM = {0.5: math.sqrt(0.5) * math.gamma(2.5) / math.gamma(2.0)}
#: exposed persons 65+ per 1,000,000 persons under which an effect is flagged unrecoverable
MIN_EXPOSED_65_PER_MILLION = 1000.0


# ---------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class PostFallRule:
    atc: str
    prob: float
    within_days: int
    n: int
    every_days: int
    channels: tuple[int, ...]  # 0 gp, 1 emergency, 2 hospital


@dataclass(frozen=True)
class FallsRealism:
    """``data/falls.yaml``, validated."""

    reference_multiplier: float
    season_amplitude: float
    season_peak: tuple[int, int]
    frailty_exponent: float
    drift_per_year: float
    decline_rate_at_65: float
    decline_age_slope: float
    decline_rr: float
    condition_rr: dict[str, float]
    fall_missing_share: float
    injury_missing_share: float
    injury_rate_ages: tuple[float, ...]
    injury_rate_values: tuple[float, ...]
    injury_male_rr: float
    injury_dp: dict[str, float]
    injury_cause: dict[str, float]
    patho_min_age: int
    patho_rate_osteoporosis: float
    patho_rate_cancer: float
    patho_dp: dict[str, float]
    hip_min_age: int
    hip_mean_days: float
    post_fall: tuple[PostFallRule, ...]
    frailty_drugs: tuple[tuple[str, float, float], ...]  # atc, prob, per_year
    co_prescription: tuple[tuple[str, str, float], ...]  # effect atc, null atc, prob
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def atcs(self) -> set[str]:
        out = {r.atc for r in self.post_fall} | {a for a, _, _ in self.frailty_drugs}
        return out | {a for _, a, _ in self.co_prescription}

    def icd10_codes(self) -> set[str]:
        return (
            set(self.injury_dp)
            | set(self.injury_cause)
            | set(self.patho_dp)
            | {"M800", "M808", "C795"}
        )


_CHANNELS = {"gp": 0, "emergency": 1, "hospital": 2}


def _p(name: str, v: Any) -> float:
    x = float(v)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"falls.yaml: {name} = {v!r} is not a probability")
    return x


def _pos(name: str, v: Any) -> float:
    x = float(v)
    if x < 0:
        raise ValueError(f"falls.yaml: {name} = {v!r} must be ≥ 0")
    return x


def _weights(name: str, d: Mapping[str, Any]) -> dict[str, float]:
    w = {str(k): _pos(name, v) for k, v in d.items()}
    if abs(sum(w.values()) - 1.0) > 1e-6:
        raise ValueError(f"falls.yaml: {name} weights must sum to 1")
    return w


@lru_cache(maxsize=1)
def falls_realism() -> FallsRealism:
    """Parse and validate ``data/falls.yaml``."""
    d = yaml.safe_load(
        resources.files("sndslab.synth").joinpath("data/falls.yaml").read_text("utf-8")
    )
    fr, nf = d["frailty"], d["non_fall_fractures"]
    inj, pat = nf["injury"], nf["pathological"]
    ages = sorted(inj["rate_by_age"])
    rules = []
    for r in d["post_fall"]:
        unknown = set(r["channels"]) - set(_CHANNELS)
        if unknown:
            raise ValueError(f"falls.yaml: post_fall {r['atc']}: unknown channels {unknown}")
        rules.append(
            PostFallRule(
                atc=str(r["atc"]),
                prob=_p("post_fall.prob", r["prob"]),
                within_days=int(_pos("post_fall.within_days", r["within_days"])),
                n=max(int(r["n"]), 1),
                every_days=max(int(r["every_days"]), 1),
                channels=tuple(_CHANNELS[c] for c in r["channels"]),
            )
        )
    return FallsRealism(
        reference_multiplier=_pos("reference_multiplier", d["reference_multiplier"]) or 1.0,
        season_amplitude=_p("season.amplitude", d["season"]["amplitude"]),
        season_peak=(int(d["season"]["peak_month_day"][0]), int(d["season"]["peak_month_day"][1])),
        frailty_exponent=float(fr["exponent"]),
        drift_per_year=float(fr["drift_per_year"]),
        decline_rate_at_65=_pos("frailty.decline_rate_at_65", fr["decline_rate_at_65"]),
        decline_age_slope=float(fr["decline_age_slope"]),
        decline_rr=_pos("frailty.decline_rr", fr["decline_rr"]),
        condition_rr={str(k): _pos("condition_rr", v) for k, v in d["condition_rr"].items()},
        fall_missing_share=_p(
            "fall_external_cause_missing_share", d["fall_external_cause_missing_share"]
        ),
        injury_missing_share=_p(
            "injury_external_cause_missing_share", d["injury_external_cause_missing_share"]
        ),
        injury_rate_ages=tuple(float(a) for a in ages),
        injury_rate_values=tuple(_p("injury.rate_by_age", inj["rate_by_age"][a]) for a in ages),
        injury_male_rr=_pos("injury.male_rr", inj["male_rr"]),
        injury_dp=_weights("injury.fracture_dp", inj["fracture_dp"]),
        injury_cause=_weights("injury.external_cause", inj["external_cause"]),
        patho_min_age=int(pat["min_age"]),
        patho_rate_osteoporosis=_p("pathological.rate_osteoporosis", pat["rate_osteoporosis"]),
        patho_rate_cancer=_p("pathological.rate_cancer", pat["rate_cancer"]),
        patho_dp=_weights("pathological.fracture_dp", pat["fracture_dp"]),
        hip_min_age=int(d["hip_fracture_death"]["min_age"]),
        hip_mean_days=_pos("hip_fracture_death.mean_days", d["hip_fracture_death"]["mean_days"]),
        post_fall=tuple(rules),
        frailty_drugs=tuple(
            (str(r["atc"]), _p("frailty_drugs.prob", r["prob"]), _pos("per_year", r["per_year"]))
            for r in d["frailty_drugs"]
        ),
        co_prescription=tuple(
            (str(r["effect_atc"]), str(r["atc"]), _p("co_prescription.prob", r["prob"]))
            for r in d["co_prescription"]
        ),
        raw=d,
    )


# ---------------------------------------------------------------------------------- intensity
@dataclass
class FallModel:
    """The chunk's fall intensity: per-person inputs of ``λ_i(t)`` (see the module docstring)."""

    ref: Any
    params: FallsRealism
    study_start: int
    birth: np.ndarray
    female: np.ndarray
    frail: np.ndarray  # (frailty / mean)^exponent
    decline: np.ndarray  # day of the acute decline (NO_DAY: none)
    onset: np.ndarray  # [n, k] onsets of the conditions with a fall rr
    rr: np.ndarray  # [k]
    start65: np.ndarray  # first day at min_age or later within the care window
    end: np.ndarray  # last day of care (death or study end)

    def intensity(self, p: np.ndarray, day: np.ndarray) -> np.ndarray:
        """``λ_p(day)`` per year without drug effects."""
        age = (day - self.birth[p]) / YEAR
        base = self.ref.fall.rate(age, self.female[p])
        return base * self._season(day) * self._multiplier(p, day)

    def bound(self, p: np.ndarray, last: np.ndarray) -> np.ndarray:
        """An upper bound of ``λ_p`` over ``[·, last]`` (every term is non-decreasing in time
        except the season, bounded by its maximum)."""
        age = (last - self.birth[p]) / YEAR
        base = self.ref.fall.rate(age, self.female[p])
        return base * (1.0 + self.params.season_amplitude) * self._multiplier(p, last)

    def _season(self, day: np.ndarray) -> np.ndarray:
        m, d = self.params.season_peak
        peak = day_of(2000, m, d)
        return 1.0 + self.params.season_amplitude * np.cos(2 * np.pi * (day - peak) / YEAR)

    def _multiplier(self, p: np.ndarray, day: np.ndarray) -> np.ndarray:
        pr = self.params
        years = np.maximum(day - self.study_start, 0) / YEAR
        out = self.frail[p] * np.exp(pr.drift_per_year * years)
        out = out * np.where(day >= self.decline[p], pr.decline_rr, 1.0)
        for k in range(len(self.rr)):
            out = out * np.where(self.onset[p, k] <= day, self.rr[k], 1.0)
        return out / pr.reference_multiplier

    def thinned(
        self,
        rng: np.random.Generator,
        p: np.ndarray,
        start: np.ndarray,
        end: np.ndarray,
        scale: np.ndarray | float = 1.0,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Events of intensity ``scale × λ_p`` over ``[start, end]``: (row index, day)."""
        bound = self.bound(p, np.maximum(end, start)) * scale
        parent, day = poisson_days(rng, bound, start, end)
        lam = self.intensity(p[parent], day) * np.broadcast_to(scale, bound.shape)[parent]
        keep = rng.random(len(parent)) * bound[parent] < lam
        return parent[keep], day[keep]


def fall_model(chunk: Chunk) -> FallModel:
    """Build the chunk's fall intensity (draws each person's frailty decline day)."""
    rng = chunk.rng
    ref = chunk.ref
    pr = falls_realism()
    persons = chunk.persons
    start, end = care_window(chunk)
    min_age = ref.fall.min_age
    day65 = persons.birth + np.ceil(min_age * YEAR).astype(np.int64)
    start65 = np.maximum(start, day65)
    norm = _FRAILTY_NORM.get(
        pr.frailty_exponent, float(np.mean(persons.frailty**pr.frailty_exponent))
    )
    frail = persons.frailty**pr.frailty_exponent / norm
    # acute decline: cumulative hazard from 65 to the study start (prevalent) then incident
    age0 = persons.age_at(chunk.study_start).astype(np.float64)
    h0 = pr.decline_rate_at_65 * persons.frailty
    slope = max(pr.decline_age_slope, 1e-9)
    cum_before = h0 / slope * (np.exp(slope * np.maximum(age0 - min_age, 0)) - 1.0)
    prevalent = rng.random(len(persons)) < -np.expm1(-cum_before)
    mid_age = np.maximum(age0 + (end - start) / YEAR / 2, min_age)
    h_mid = h0 * np.exp(slope * (mid_age - min_age))
    t = start65 + np.floor(rng.exponential(1.0, len(persons)) / np.maximum(h_mid, 1e-12) * YEAR)
    decline = np.where(prevalent & (age0 >= min_age), chunk.study_start - 1, NO_DAY)
    incident = ~prevalent & (t <= end)
    decline = np.where(incident, t, decline).astype(np.int64)
    names = [c for c in pr.condition_rr if c in chunk.cond.names]
    onset = (
        np.stack([chunk.cond.onset[:, chunk.cond.index(c)] for c in names], axis=1).astype(np.int64)
        if names
        else np.zeros((len(persons), 0), np.int64)
    )
    return FallModel(
        ref=ref,
        params=pr,
        study_start=chunk.study_start,
        birth=persons.birth.astype(np.int64),
        female=persons.sex == 2,
        frail=frail,
        decline=decline,
        onset=onset,
        rr=np.array([pr.condition_rr[c] for c in names]),
        start65=start65,
        end=end.astype(np.int64),
    )


# ---------------------------------------------------------------------------------- falls
def falls(chunk: Chunk, exposures: Frame) -> Frame:
    """Falls with injury among persons aged 65+, with the injected drug effects (truth).

    Returns one row per fall: ``person``, ``day``, ``cause`` (ATC index of the drug whose
    excess risk produced it, -1 for a baseline fall), ``channel`` (0 seen by the GP only,
    1 emergency department without admission, 2 hospitalised) and ``fracture`` (index into
    ``ref.fracture_dp`` for hospitalised falls, -1 otherwise). Also draws the fractures not due
    to a fall (``chunk.fracture_rows``) and the excess deaths after a hip fracture (updates
    ``persons.death``; falls after the new death are dropped).
    """
    rng = chunk.rng
    ref = chunk.ref
    model = fall_model(chunk)
    chunk.fall_model = model
    eligible = np.flatnonzero(model.start65 <= model.end)
    p, day = model.thinned(rng, eligible, model.start65[eligible], model.end[eligible])
    rows = [Frame(person=eligible[p], day=day, cause=np.full(len(p), -1, np.int64))]
    eff = ref.fall_effects  # ATC index → (irr, lag_start, lag_end)
    windows = None
    if len(exposures) and eff:
        is_eff = np.isin(exposures["atc"], np.fromiter(eff, np.int64))
        ex = exposures.filter(
            is_eff & (model.start65[exposures["person"]] <= model.end[exposures["person"]])
        )
        order = np.lexsort((ex["day"], ex["atc"], ex["person"]))
        ex = ex.take(order)
        params = np.array([eff[int(a)] for a in ex["atc"]]).reshape(-1, 3)
        irr = params[:, 0]
        w0 = ex["day"] + params[:, 1].astype(np.int64)
        w1 = np.minimum(ex["day"] + params[:, 2].astype(np.int64), model.end[ex["person"]])
        # trim each window before the next window of the same drug and person (no overlap)
        same_next = np.r_[
            (ex["person"][1:] == ex["person"][:-1]) & (ex["atc"][1:] == ex["atc"][:-1]), False
        ]
        next_w0 = np.r_[w0[1:], 0]
        w1 = np.where(same_next, np.minimum(w1, next_w0 - 1), w1)
        p, d = model.thinned(rng, ex["person"], w0, w1, irr - 1.0)
        rows.append(Frame(person=ex["person"][p], day=d, cause=ex["atc"][p]))
        windows = Frame(
            person=ex["person"], atc=ex["atc"], start=w0, end=w1, dispensed=ex["day"], irr=irr
        )
    out = Frame.concat(rows)
    u = rng.random(len(out))
    fall = ref.fall
    channel = np.where(
        u < fall.share_hospitalised,
        2,
        np.where(u < fall.share_hospitalised + fall.share_emergency_only, 1, 0),
    ).astype(np.int64)
    fracture = np.where(channel == 2, ref.draw_fracture(rng, len(out)), -1)
    out = out.with_columns(channel=channel, fracture=fracture.astype(np.int64))
    chunk.fracture_rows = _non_fall_fractures(chunk, model)
    _hip_fracture_deaths(chunk, model, out)
    alive = chunk.alive_end
    out = out.filter(out["day"] <= alive[out["person"]])
    order = np.lexsort((out["day"], out["person"]))
    out = out.take(order)
    fr = chunk.fracture_rows
    chunk.fracture_rows = fr.filter(fr["day"] <= alive[fr["person"]])
    if windows is not None:
        windows = windows.filter(windows["dispensed"] <= alive[windows["person"]])
        windows["end"] = np.minimum(windows["end"], alive[windows["person"]])
        chunk.truth_windows = Frame(
            person=windows["person"], atc=windows["atc"], start=windows["start"], end=windows["end"]
        )
        chunk.fall_windows = windows
    return out


def _non_fall_fractures(chunk: Chunk, model: FallModel) -> Frame:
    """Hospitalised fractures not caused by a fall: ``person, day, dp, mechanism``
    (mechanism 1 road/sport/blow, 2 pathological or osteoporotic without a fall)."""
    rng = chunk.rng
    pr = model.params
    persons = chunk.persons
    start, end = care_window(chunk)
    age = persons.age_at((chunk.study_start + chunk.study_end) // 2).astype(np.float64)
    rate = np.interp(age, pr.injury_rate_ages, pr.injury_rate_values)
    rate = rate * np.where(persons.sex == 1, pr.injury_male_rr, 1.0)
    p1, d1 = poisson_days(rng, rate, start, end)
    parts = [(p1, d1, _draw(rng, pr.injury_dp, len(p1)), np.full(len(p1), 1, np.int64))]
    day50 = persons.birth + np.ceil(pr.patho_min_age * YEAR).astype(np.int64)
    for cond, r in (("osteoporosis", pr.patho_rate_osteoporosis), ("cancer", pr.patho_rate_cancer)):
        if cond not in chunk.cond.names:
            continue
        onset = chunk.cond.onset[:, chunk.cond.index(cond)].astype(np.int64)
        s = np.maximum(np.maximum(onset, start), day50)
        p2, d2 = poisson_days(rng, np.where(onset < NO_DAY, r, 0.0), s, end)
        parts.append((p2, d2, _draw(rng, pr.patho_dp, len(p2)), np.full(len(p2), 2, np.int64)))
    return Frame(
        person=np.concatenate([x[0] for x in parts]).astype(np.int64),
        day=np.concatenate([x[1] for x in parts]).astype(np.int64),
        dp=np.concatenate([x[2] for x in parts]).astype(object),
        mechanism=np.concatenate([x[3] for x in parts]),
    )


def _draw(rng: np.random.Generator, weights: dict[str, float], n: int) -> np.ndarray:
    codes = np.array(list(weights), dtype=object)
    w = np.array(list(weights.values()))
    return codes[rng.choice(len(codes), n, p=w / w.sum())] if n else np.zeros(0, object)


def _hip_fracture_deaths(chunk: Chunk, model: FallModel, fall_rows: Frame) -> None:
    """Excess deaths after a hip fracture (S72 DP, any mechanism, persons 65+).

    The 1-year mortality after a hip fracture is ``fall.mortality_1y_hip_fracture``; the
    person's baseline (``draw_deaths``) already gives ``q`` (annual death probability at that
    age), so an excess death occurs with probability ``(m − q) / (1 − q)`` at a delay
    exponential with mean ``hip_fracture_death.mean_days`` truncated to 365 days. A death
    earlier than the baseline death replaces it (cause: other than the conditions).
    """
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    pr = model.params
    hosp = fall_rows["channel"] == 2
    dp_fall = np.where(hosp, ref.fracture_dp[np.maximum(fall_rows["fracture"], 0)], "")
    fr = chunk.fracture_rows if chunk.fracture_rows is not None else Frame()
    if not len(fr):
        fr = Frame(person=np.zeros(0, np.int64), day=np.zeros(0, np.int64), dp=np.zeros(0, object))
    person = np.concatenate([fall_rows["person"][hosp], fr["person"]])
    day = np.concatenate([fall_rows["day"][hosp], fr["day"]])
    dp = np.concatenate([dp_fall[hosp], fr["dp"]]).astype(str)
    age = persons.age_of(person, day)
    hip = np.char.startswith(dp, "S72") & (age >= pr.hip_min_age)
    person, day, age = person[hip], day[hip], age[hip]
    q = np.clip(ref.annual_death_prob(age.astype(np.float64), persons.sex[person]), 0, 0.99)
    m = ref.fall.mortality_1y_hip_fracture
    p_excess = np.clip((m - q) / (1.0 - q), 0.0, 1.0)
    dies = rng.random(len(person)) < p_excess
    mean = max(pr.hip_mean_days, 1.0)
    u = rng.random(len(person))
    delay = np.ceil(-mean * np.log1p(-u * -np.expm1(-365.0 / mean))).astype(np.int64)
    death = np.where(dies, day + np.maximum(delay, 1), NO_DAY)
    death = np.where(death <= chunk.study_end, death, NO_DAY)
    new = np.full(len(persons), NO_DAY, np.int64)
    np.minimum.at(new, person, death)
    earlier = new < persons.death
    idx = np.flatnonzero(earlier)
    chunk.hip_fracture_deaths = Frame(
        person=idx, day=new[idx], previous=persons.death[idx].astype(np.int64)
    )
    if len(idx):
        persons.death = np.where(earlier, new, persons.death).astype(persons.death.dtype)
        chunk.death_cause[idx] = -1
        onset = chunk.cond.onset
        onset[onset > persons.death[:, None]] = NO_DAY


def drop_after_death(chunk: Chunk, *frames: Frame) -> tuple[Frame, ...]:
    """Drop the rows of ``frames`` (columns ``person``, ``day``) after the person's death.

    Care is drawn before the falls; a death moved earlier by a hip fracture truncates it.
    """
    alive = chunk.alive_end
    return tuple(f.filter(f["day"] <= alive[f["person"]]) if len(f) else f for f in frames)


# ---------------------------------------------------------------------------------- hospital
def fracture_stays(chunk: Chunk) -> Frame:
    """MCO stay rows (columns of ``_hospital.draw_stays`` parts) of the non-fall fractures."""
    from sndslab.synth._hospital import STAY_KINDS

    rng = chunk.rng
    ref = chunk.ref
    fr = chunk.fracture_rows
    if fr is None or len(fr) == 0:
        return Frame()
    dp = fr["dp"].astype(str)
    listed = {c: i for i, c in enumerate(ref.fracture_dp.tolist())}
    idx = np.array([listed.get(c, -1) for c in dp], np.int64)
    surgical = (
        np.char.startswith(dp, "S72")
        | np.char.startswith(dp, "S52")
        | np.char.startswith(dp, "S82")
    )
    surgical = surgical & (rng.random(len(dp)) < 0.85)
    act = np.full(len(dp), -1, np.int64)
    ok = idx >= 0
    act[ok] = np.where(surgical[ok], ref.fracture_act(rng, idx[ok]), -1)
    act[ok & ~ref.fracture_surgical[np.maximum(idx, 0)]] = -1
    kind = np.where(fr["mechanism"] == 1, STAY_KINDS["injury"], STAY_KINDS["pathological_fracture"])
    return Frame(
        person=fr["person"],
        entry=fr["day"],
        dp=fr["dp"].astype(object),
        los_mean=np.where(fr["mechanism"] == 1, 4.0, ref.fall.stay_los_mean),
        surgical=surgical,
        act=act,
        kind=kind.astype(np.int64),
        cond=np.full(len(dp), -1),
        emergency=rng.random(len(dp)) < np.where(fr["mechanism"] == 1, 0.9, 0.6),
    )


def fracture_das(chunk: Chunk, stays: Frame) -> Frame:
    """Associated diagnoses of fall, injury and pathological-fracture stays.

    Falls carry a W00–W19 code and injuries a V/W20+/X code, except a share of stays whose
    external cause is not coded (``falls.yaml``); pathological fractures carry M80x
    (osteoporosis with pathological fracture) or C795 (bone metastases, persons with cancer).
    """
    from sndslab.synth._hospital import STAY_KINDS

    rng = chunk.rng
    ref = chunk.ref
    pr = falls_realism()
    kind = stays["kind"]
    fall = np.flatnonzero(
        (kind == STAY_KINDS["fall"]) & (rng.random(len(stays)) >= pr.fall_missing_share)
    )
    inj = np.flatnonzero(
        (kind == STAY_KINDS["injury"]) & (rng.random(len(stays)) >= pr.injury_missing_share)
    )
    pat = np.flatnonzero(kind == STAY_KINDS["pathological_fracture"])
    p = stays["person"][pat]
    cancer = (
        chunk.cond.onset[p, chunk.cond.index("cancer")] <= stays["entry"][pat]
        if "cancer" in chunk.cond.names
        else np.zeros(len(pat), bool)
    )
    osteo = np.where(chunk.persons.sex[p] == 2, "M800", "M808")
    return Frame(
        stay=np.concatenate([stays["stay"][fall], stays["stay"][inj], stays["stay"][pat]]),
        code=np.concatenate(
            [
                ref.draw_external_cause(rng, len(fall)),
                _draw(rng, pr.injury_cause, len(inj)),
                np.where(cancer, "C795", osteo).astype(object),
            ]
        ).astype(object),
    )
