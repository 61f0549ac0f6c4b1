"""Drug dispensings in pharmacies (ER_PHA_F) and hospital drugs dispensed to outpatients (ER_UCD_F).

Chronic treatments follow the conditions (one dispensing per box duration, with jitter and
missed refills); general drugs are episodic, with users per 1,000 by age.
"""

from __future__ import annotations

import numpy as np

from sndslab.synth._calendar import RESPIRATORY_ATC
from sndslab.synth._care import (
    NAT_UCD,
    care_window,
    claim_lines,
    poisson_days,
    profession_code,
)
from sndslab.synth._context import Chunk
from sndslab.synth._dcir import SAT_PHA, SAT_UCD, empty_claims
from sndslab.synth._flu import FLU_VACCINE_ATC, flu_vaccinations
from sndslab.synth._frame import Frame
from sndslab.synth._ids import NO_DAY, rank_within, repeat_index
from sndslab.synth._providers import Providers
from sndslab.synth._world import PHARMACY


def dispensings(chunk: Chunk, providers: Providers) -> tuple[Frame, Frame]:
    """Drug dispensings (chronic treatments of conditions + episodic general drugs).

    Returns ``(claim_lines, exposures)``; ``exposures`` holds, per dispensing, the person, day,
    ATC index and covered days, used by the falls model.
    """
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    start, end = care_window(chunk)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    # chronic treatments: 1–3 drugs per condition, one dispensing per box duration
    for j, name in enumerate(chunk.cond.names):
        spec = ref.conditions[name]
        who = np.flatnonzero(chunk.cond.onset[:, j] < NO_DAY)
        n_drugs = rng.integers(1, 4, len(who))
        parent = repeat_index(n_drugs)
        pw = who[parent]
        drug = ref.draw_condition_drugs(rng, name, chunk.cond.subtype[pw])
        t0 = np.maximum(chunk.cond.onset[pw, j].astype(np.int64), start[pw])
        t1 = end[pw]
        boxes = np.where(ref.drug_days_per_box[drug] >= 84, 1, rng.choice([1, 1, 2], len(pw)))
        interval = np.maximum(365.25 / max(spec.dispensings_per_year, 1), 7)
        covered = np.maximum(ref.drug_days_per_box[drug] * boxes, 7)
        step = np.maximum(covered * 0.5 + interval * 0.5, 7)
        n_disp = np.maximum(np.floor((t1 - t0) / step), 0).astype(np.int64) + (t1 >= t0)
        adherence = rng.uniform(0.7, 1.0, len(pw))
        g = repeat_index(n_disp)
        k = rank_within(g)
        day = (t0[g] + k * step[g] + rng.normal(0, 3, len(g))).astype(np.int64)
        keep = (rng.random(len(g)) < adherence[g]) & (day >= t0[g]) & (day <= t1[g])
        g = g[keep]
        day = chunk.calendar.stockpile(rng, day[keep], t0[g])
        parts.append((pw[g], day, drug[g], boxes[g], np.full(len(g), 1, np.int64)))

    # episodic general drugs: users per year and 1–3 dispensings per user-year
    mid_age = persons.age_at((chunk.study_start + chunk.study_end) // 2)
    elderly = mid_age >= 65
    for atc_i, pres in enumerate(ref.general_presentations):
        p_user = ref.general_users_per_1000[atc_i] / 1000.0
        atc = str(ref.drug_atc[pres[0]])
        if p_user <= 0 or atc.startswith(FLU_VACCINE_ATC):  # flu vaccines: campaigns below
            continue
        p = np.clip(
            p_user
            * np.where(elderly, ref.general_elderly_factor[atc_i], 1.0)
            * persons.frailty**0.5,
            0,
            0.95,
        )
        care = "respiratory_drug" if atc.startswith(RESPIRATORY_ATC) else "episodic_drug"
        parent, day = poisson_days(rng, p * 1.6, start, end, kind=chunk.calendar[care])
        drug = pres[rng.integers(0, len(pres), len(parent))]
        parts.append(
            (parent, day, drug, np.ones(len(parent), np.int64), np.zeros(len(parent), np.int64))
        )

    parts.append(flu_vaccinations(chunk))
    person = np.concatenate([x[0] for x in parts])
    day = np.concatenate([x[1] for x in parts])
    drug = np.concatenate([x[2] for x in parts])
    boxes = np.concatenate([x[3] for x in parts]).astype(np.int64)
    chronic = np.concatenate([x[4] for x in parts]).astype(bool)
    specialist_pre = chronic & (rng.random(len(person)) < 0.25)
    pre = np.where(specialist_pre, providers.pick(chunk, person, 1), persons.gp[person])
    pre = np.where(pre < 0, persons.gp[person], pre)
    pharmacy = np.where(
        rng.random(len(person)) < 0.85,
        persons.pharmacy[person],
        providers.pick(chunk, person, profession_code(PHARMACY)),
    )
    price = ref.drug_box_price[drug]
    rate = np.where(chronic & ref.drug_ald_eligible[drug], 100.0, ref.drug_reimb_rate[drug])
    nat = np.where(rate >= 100, 3311, ref.drug_nat_ref[drug])
    lines = claim_lines(
        chunk,
        person,
        day,
        category="dispensing",
        nat=nat,
        paid=price * boxes,
        rate=rate,
        exe=pharmacy,
        pre=pre,
        qty=boxes,
        sat=SAT_PHA,
        code=drug,
        sat_qty=boxes,
        unit_price=price,
    )
    exposures = Frame(
        person=person,
        day=day,
        atc=ref.drug_atc_index[drug],
        covered=(ref.drug_days_per_box[drug] * boxes).astype(np.int64),
    )
    return lines, exposures


def ucd_dispensings(chunk: Chunk) -> Frame:
    """Hospital-only drugs dispensed to outpatients (rétrocession, ER_UCD_F)."""
    rng = chunk.rng
    ref = chunk.ref
    if "cancer" not in chunk.cond.names or len(ref.ucd_codes) == 0:
        return empty_claims()
    j = chunk.cond.index("cancer")
    onset = chunk.cond.onset[:, j].astype(np.int64)
    start, end = care_window(chunk)
    treated = (onset < NO_DAY) & (rng.random(len(onset)) < 0.15)
    p, d = poisson_days(rng, np.where(treated, 6.0, 0.0), np.maximum(onset, start), end)
    code = rng.integers(0, len(ref.ucd_codes), len(p))
    units = rng.integers(1, 5, len(p))
    est = chunk.ref.chu_of_person(chunk, p)
    price = ref.ucd_price[code]
    return claim_lines(
        chunk,
        p,
        d,
        category="ucd_dispensing",
        nat=NAT_UCD,
        paid=price * units,
        rate=100.0,
        exe=np.full(len(p), -1, np.int64),
        pre=chunk.persons.gp[p],
        qty=units,
        sat=SAT_UCD,
        code=code,
        sat_qty=units,
        unit_price=price,
        est=est,
    )
