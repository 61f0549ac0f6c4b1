"""Dispensings that make the falls truth realistically hard, and the falls truth records.

Three mechanisms, all on true-null drugs (``falls.yaml``), each recorded in the manifest
``drug_effects.biases`` with the null drugs it affects:

- **event-dependent exposure**: analgesics, thromboprophylaxis, vitamin D and bisphosphonates
  started after a fall (what LEOPARD-type filters and SCCS pre-exposure windows must handle);
- **time-varying confounding**: the frailty decline that raises the fall rate (``_falls``) also
  starts laxatives;
- **co-prescription**: null drugs dispensed the same day as an effect drug (potassium with
  furosemide, alprazolam with zolpidem, …), so a one-drug-at-a-time analysis sees them as
  risky while a multi-drug model (MSCCS, ConvSCCS) can separate them.
"""

from __future__ import annotations

import warnings
from collections import Counter
from typing import Any

import numpy as np

from sndslab.synth._care import YEAR, claim_lines, poisson_days, profession_code
from sndslab.synth._context import Chunk
from sndslab.synth._dcir import SAT_PHA
from sndslab.synth._drugs import pharmacy_rate
from sndslab.synth._falls import MIN_EXPOSED_65_PER_MILLION, FallModel, falls_realism
from sndslab.synth._frame import Frame
from sndslab.synth._ids import NO_DAY, repeat_index
from sndslab.synth._providers import Providers
from sndslab.synth._world import PHARMACY

#: names of the bias mechanisms (manifest ``drug_effects.biases[].type``) → chunk counters
BIAS_COUNTERS = ("post_fall", "frailty", "co_prescription")


def fall_care_dispensings(
    chunk: Chunk, providers: Providers, fall_rows: Frame, exposures: Frame, ald: Frame
) -> tuple[Frame, Frame]:
    """Post-fall, frailty-driven and co-prescribed dispensings: ``(claim_lines, exposures)``."""
    rng = chunk.rng
    ref = chunk.ref
    pr = falls_realism()
    alive = chunk.alive_end
    parts: list[tuple[np.ndarray, np.ndarray, str, str]] = []

    # event-dependent exposure: drugs started after a fall (after discharge if hospitalised)
    los = np.floor(rng.gamma(1.5, ref.fall.stay_los_mean / 1.5, len(fall_rows))).astype(np.int64)
    base_day = fall_rows["day"] + np.where(fall_rows["channel"] == 2, los, 0)
    for rule in pr.post_fall:
        hit = np.isin(fall_rows["channel"], rule.channels) & (
            rng.random(len(fall_rows)) < rule.prob
        )
        idx = np.flatnonzero(hit)
        first = base_day[idx] + rng.integers(0, rule.within_days + 1, len(idx))
        g = repeat_index(np.full(len(idx), rule.n))
        k = np.arange(len(g)) - np.repeat(np.arange(len(idx)) * rule.n, rule.n)
        day = first[g] + k * rule.every_days + rng.integers(-2, 3, len(g)) * (k > 0)
        parts.append((fall_rows["person"][idx][g], day, rule.atc, "post_fall"))

    # time-varying confounding: drugs started at the frailty decline
    model: FallModel | None = chunk.fall_model
    if model is not None:
        declined = np.flatnonzero(model.decline < NO_DAY)
        for atc, prob, per_year in pr.frailty_drugs:
            who = declined[rng.random(len(declined)) < prob]
            start = np.maximum(model.decline[who], chunk.care_start[who])
            s = start + rng.integers(0, 31, len(who))
            p, d = poisson_days(rng, np.full(len(who), per_year), s, alive[who])
            parts.append((who[p], d, atc, "frailty"))

    # co-prescription with effect drugs (same day)
    for effect_atc, atc, prob in pr.co_prescription:
        a = _atc_index(ref, effect_atc)
        sel = np.flatnonzero((exposures["atc"] == a) & (rng.random(len(exposures)) < prob))
        parts.append((exposures["person"][sel], exposures["day"][sel], atc, "co_prescription"))

    person = np.concatenate([x[0] for x in parts]).astype(np.int64)
    day = np.concatenate([x[1] for x in parts]).astype(np.int64)
    keep = (day >= chunk.care_start[person]) & (day <= alive[person])
    counts: Counter[str] = Counter()
    drug = np.empty(len(person), np.int64)
    pos = 0
    for p, _, atc, mechanism in parts:
        pres = np.flatnonzero(ref.drug_atc == atc)
        drug[pos : pos + len(p)] = pres[rng.integers(0, len(pres), len(p))]
        counts[mechanism] += int(keep[pos : pos + len(p)].sum())
        pos += len(p)
    chunk.fall_care_counts = dict(counts)
    person, day, drug = person[keep], day[keep], drug[keep]
    return _dispensing_lines(chunk, providers, ald, person, day, drug)


def _dispensing_lines(
    chunk: Chunk,
    providers: Providers,
    ald: Frame,
    person: np.ndarray,
    day: np.ndarray,
    drug: np.ndarray,
) -> tuple[Frame, Frame]:
    """Pharmacy claim lines (one box, prescribed by the GP, at 100 % under a covering ALD as
    every pharmacy line: ``_drugs.pharmacy_rate``) and their exposures."""
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    pharmacy = np.where(
        rng.random(len(person)) < 0.85,
        persons.pharmacy[person],
        providers.pick(chunk, person, profession_code(PHARMACY)),
    )
    price = ref.drug_box_price[drug]
    lines = claim_lines(
        chunk,
        person,
        day,
        category="dispensing",
        nat=ref.drug_nat_ref[drug],
        paid=price,
        rate=pharmacy_rate(chunk, ald, person, day, drug),
        exe=pharmacy,
        pre=persons.gp[person],
        qty=1.0,
        sat=SAT_PHA,
        code=drug,
        sat_qty=1.0,
        unit_price=price,
    )
    exposures = Frame(
        person=person,
        day=day,
        atc=ref.drug_atc_index[drug],
        covered=ref.drug_days_per_box[drug].astype(np.int64),
    )
    return lines, exposures


# ---------------------------------------------------------------------------------- truth
def record_falls_truth(chunk: Chunk, truth: Any, fall_rows: Frame) -> None:
    """Truth tables and counts of the falls world, and the manifest ``drug_effects`` section
    (recomputed after each chunk from exact integer counts)."""
    persons = chunk.persons
    pid = persons.pid
    fr = chunk.fracture_rows
    if fr is not None and len(fr):
        truth.append(
            "non_fall_fractures",
            {
                "person_id": pid[fr["person"]],
                "date": truth.dates(fr["day"]),
                "dp": fr["dp"].astype(object),
                "mechanism": np.array(["", "injury", "pathological"], dtype=object)[
                    fr["mechanism"]
                ],
            },
        )
        for m, name in ((1, "injury"), (2, "pathological")):
            truth.count(f"falls.non_fall_fractures.{name}", int((fr["mechanism"] == m).sum()))
    hd = chunk.hip_fracture_deaths
    if hd is not None and len(hd):
        truth.append(
            "hip_fracture_deaths",
            {"person_id": pid[hd["person"]], "death_date": truth.dates(hd["day"])},
        )
        truth.count("falls.hip_fracture_excess_deaths", len(hd))
    model: FallModel | None = chunk.fall_model
    if model is not None:
        dec = np.flatnonzero(model.decline <= chunk.alive_end)
        truth.append(
            "frailty_declines",
            {
                "person_id": pid[dec],
                "date": truth.dates(np.maximum(model.decline[dec], chunk.study_start - 1)),
                "before_study": model.decline[dec] < chunk.study_start,
            },
        )
        truth.count("falls.frailty_declines", len(dec))
    for name, n in (chunk.fall_care_counts or {}).items():
        truth.count(f"falls.dispensings.{name}", n)
    truth.count("falls.baseline", int((fall_rows["cause"] < 0).sum()))
    truth.count("falls.caused_by_drug", int((fall_rows["cause"] >= 0).sum()))
    _tally_effects(chunk, truth, fall_rows)
    truth.sections["drug_effects"] = drug_effects_section(
        chunk.ref, chunk.config.patients, truth.counts
    )


def _tally_effects(chunk: Chunk, truth: Any, fall_rows: Frame) -> None:
    """Per effect drug: exposed persons 65+, window person-days 65+, expected falls (×1000)."""
    w = chunk.fall_windows
    model: FallModel | None = chunk.fall_model
    if w is None or model is None or len(w) == 0:
        return
    ref = chunk.ref
    persons = chunk.persons
    length = np.maximum(w["end"] - w["start"] + 1, 0)
    mid = w["start"] + length // 2
    age_mid = persons.age_of(w["person"], mid)
    adult65 = age_mid >= ref.fall.min_age
    base = model.intensity(w["person"], mid) * length / YEAR
    disp65 = persons.age_of(w["person"], w["dispensed"]) >= ref.fall.min_age
    for a in np.unique(w["atc"]):
        sel = w["atc"] == a
        atc = str(ref.atc_codes[a])
        exposed = np.unique(w["person"][sel & disp65])
        truth.count(f"drug_effects.{atc}.exposed_persons_65plus", len(exposed))
        truth.count(f"drug_effects.{atc}.window_days_65plus", int(length[sel & adult65].sum()))
        exp_all = float((base[sel] * w["irr"][sel]).sum())
        exp_base = float(base[sel].sum())
        truth.count(f"drug_effects.{atc}.expected_falls_in_windows_x1000", round(1000 * exp_all))
        truth.count(
            f"drug_effects.{atc}.expected_baseline_falls_in_windows_x1000", round(1000 * exp_base)
        )
        caused = int((fall_rows["cause"] == a).sum())
        truth.count(f"drug_effects.{atc}.falls_caused", caused)


def _effect_reachable(ref: Any, atc: str) -> bool:
    """Whether the generator can dispense ``atc`` to persons aged 65+ at all."""
    rows = np.flatnonzero(ref.drug_atc == atc)
    if len(rows) == 0:
        return False
    for spec in ref.conditions.values():
        lists = [tuple(spec.drug_atc)] + [
            tuple(s.drug_atc) for s in (getattr(spec, "subtypes", None) or [])
        ]
        if any(atc in lst for lst in lists):
            return True
    for i, pres in enumerate(ref.general_presentations):
        if len(pres) and ref.drug_atc[pres[0]] == atc:
            return bool(ref.general_users_per_1000[i] * ref.general_elderly_factor[i] > 0)
    return False


def _atc_index(ref: Any, atc: str) -> int:
    hit = np.flatnonzero(ref.atc_codes == atc)
    return int(hit[0]) if len(hit) else -1


def drug_effects_section(
    ref: Any, patients: int, counts: Any, *, warn: bool = False
) -> dict[str, Any]:
    """The manifest ``drug_effects`` section: effects, their power figures per 1,000,000
    persons (from this run's exact counts, scaled) and the injected biases."""
    pr = falls_realism()
    scale = 1e6 / max(patients, 1)
    effects = []
    for e in ref.effect_specs:
        atc = e["atc"]
        key = f"drug_effects.{atc}."
        entry = dict(e, inn=str(ref.drug_inn[ref.drug_atc == atc][0]))
        reachable = _effect_reachable(ref, atc)
        if counts:
            exposed = counts.get(key + "exposed_persons_65plus", 0) * scale
            entry["per_million_persons"] = {
                "exposed_persons_65plus": round(exposed, 1),
                "window_person_years_65plus": round(
                    counts.get(key + "window_days_65plus", 0) / YEAR * scale, 1
                ),
                "expected_falls_in_windows": round(
                    counts.get(key + "expected_falls_in_windows_x1000", 0) / 1000 * scale, 1
                ),
                "expected_baseline_falls_in_windows": round(
                    counts.get(key + "expected_baseline_falls_in_windows_x1000", 0) / 1000 * scale,
                    1,
                ),
                "falls_caused": round(counts.get(key + "falls_caused", 0) * scale, 1),
            }
            reachable = reachable and exposed >= MIN_EXPOSED_65_PER_MILLION
        entry["recoverable"] = reachable
        if warn and not reachable:
            warnings.warn(
                f"falls truth: effect drug {atc} is never (or hardly ever) dispensed to persons "
                "aged 65+; its effect cannot be recovered",
                stacklevel=2,
            )
        effects.append(entry)
    effect_atcs = {e["atc"] for e in ref.effect_specs}
    post = sorted({r.atc for r in pr.post_fall} - effect_atcs)
    frail = sorted({a for a, _, _ in pr.frailty_drugs} - effect_atcs)
    co: list[dict[str, Any]] = [
        {"effect_atc": e, "null_atc": a, "prob_same_day": p}
        for e, a, p in pr.co_prescription
        if e in effect_atcs
    ]
    cond_rr = {c: r for c, r in pr.condition_rr.items() if c in ref.conditions}
    cond_drugs = sorted({a for c in cond_rr for a in ref.conditions[c].drug_atc} - effect_atcs)
    cond_effect = sorted({a for c in cond_rr for a in ref.conditions[c].drug_atc} & effect_atcs)
    biases = [
        {
            "type": "event_dependent_exposure",
            "mechanism": "dispensings started after a fall (after discharge when hospitalised)",
            "rules": [r.__dict__ | {"channels": list(r.channels)} for r in pr.post_fall],
            "null_drugs": post,
        },
        {
            "type": "time_varying_confounding",
            "mechanism": "a frailty decline (loss of autonomy) multiplies the fall rate by "
            f"{pr.decline_rr} from a random day and starts these drugs",
            "null_drugs": frail,
        },
        {
            "type": "co_prescription",
            "mechanism": "null drug dispensed the same day as an effect drug",
            "pairs": co,
            "null_drugs": sorted({str(c["null_atc"]) for c in co}),
        },
        {
            "type": "condition_onset_confounding",
            "mechanism": "conditions raise the fall rate from their onset (incident cases start "
            "their treatments at the same time)",
            "condition_rr": cond_rr,
            "null_drugs": cond_drugs,
            "effect_drugs": cond_effect,
        },
        {
            "type": "event_dependent_observation_end",
            "mechanism": "excess deaths after a hip fracture end follow-up (SCCS assumption of "
            "event-independent observation violated)",
            "null_drugs": "all",
        },
        {
            "type": "outcome_misclassification",
            "mechanism": "fracture stays not due to a fall (road, sport, pathological) and fall "
            "stays without a W00-W19 code",
            "fall_external_cause_missing_share": pr.fall_missing_share,
            "injury_external_cause_missing_share": pr.injury_missing_share,
            "null_drugs": [],
        },
    ]
    affected = sorted(set(post) | set(frail) | {str(c["null_atc"]) for c in co} | set(cond_drugs))
    return {
        "outcome": "fall with injury, persons aged 65+ (any channel); hospitalised falls are MCO "
        "stays (kind fall) with a fracture DP (S72/S52/S42/S32) and, in "
        f"{1 - pr.fall_missing_share:.0%} of them, a W00-W19 DAS",
        "model": "fall intensity = rate_by_age(age on the day) x season x frailty trajectory x "
        "condition rr / reference_multiplier, multiplied by irr during [dispensing + "
        "lag_start, dispensing + lag_end] (days, inclusive); windows of one drug and person "
        "never overlap; excess rates of different drugs add up",
        "baseline": {
            "season_amplitude": pr.season_amplitude,
            "season_peak_month_day": list(pr.season_peak),
            "frailty": pr.raw["frailty"],
            "condition_rr": cond_rr,
            "reference_multiplier": pr.reference_multiplier,
        },
        "effects": effects,
        "null_drugs": int(len(ref.atc_codes) - len(ref.effect_specs)),
        "biases": biases,
        "affected_null_drugs": affected,
        "hip_fracture_mortality_1y": ref.fall.mortality_1y_hip_fracture,
        "power_note": "per_million_persons figures are this run's exact counts scaled to "
        "1,000,000 persons; expected falls integrate the true intensity over the windows",
    }
