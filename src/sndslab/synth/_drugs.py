"""Drug dispensings in pharmacies (ER_PHA_F) and hospital drugs dispensed to outpatients (ER_UCD_F).

Chronic treatments follow the conditions (one dispensing per box duration, with jitter and
missed refills); general drugs are episodic, with users per 1,000 by age.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sndslab.synth import _refdata as rd
from sndslab.synth._calendar import RESPIRATORY_ATC
from sndslab.synth._care import (
    CATEGORIES,
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

#: Boxes per dispensing. Chronic 28/30-day packs: one box a month mostly, 2–3 when the dose
#: takes two packs a month or the pharmacist delivers a 3-month prescription of 28-day packs at
#: once, a few 4+ (insulin, inhalers); 84/90-day packs: one box. Episodic drugs: mostly one.
#: Orders of magnitude of the PHA_ACT_QSN distribution reported in SNDS pharmacy studies.
CHRONIC_BOXES, CHRONIC_BOXES_P = np.array([1, 2, 3, 4, 6]), np.array([0.78, 0.13, 0.06, 0.02, 0.01])
EPISODIC_BOXES, EPISODIC_BOXES_P = np.array([1, 2, 3]), np.array([0.85, 0.11, 0.04])
#: Days from the prescribing visit to the dispensing of an episodic drug (same day mostly).
DISPENSING_DELAY = np.array([0, 1, 2, 4, 7])
DISPENSING_DELAY_P = np.array([0.78, 0.12, 0.05, 0.03, 0.02])
#: A prescription is valid 12 months at most (renewals, Code de la santé publique R.5132-22).
PRESCRIPTION_VALIDITY_DAYS = 365
#: Chronic treatments are prescribed for 3 months and renewed (dispensed monthly) in between.
PRESCRIPTION_BLOCK_DAYS = 91
_KEY = np.int64(1) << np.int64(22)  # person * _KEY + day sorts visits by person then day


def dispensings(
    chunk: Chunk, providers: Providers, visits: Frame, ald: Frame
) -> tuple[Frame, Frame]:
    """Drug dispensings (chronic treatments of conditions + episodic general drugs).

    Every drug is dispensed only to the persons it is indicated for (sex and age at the
    dispensing, ``drug_indications.yaml``); chronic drugs are chosen by market share within the
    condition's pool (``drug_market_shares.yaml``). Prescriptions come from the person's GP or
    specialist ``visits`` (:func:`prescribing_visits`); the rate is 100 % when the person holds,
    on the dispensing day, an ALD (``ald``, the IR_IMB_R rows) of a condition the drug treats.

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
        t0 = np.maximum(chunk.cond.onset[pw, j].astype(np.int64), start[pw])
        drug = ref.draw_condition_drugs(
            rng, name, chunk.cond.subtype[pw], persons.sex[pw], persons.age_of(pw, t0)
        )
        # one line of treatment per (person, drug): a drug drawn twice is one treatment
        _, first = np.unique(pw * len(ref.drug_atc) + drug, return_index=True)
        keep = np.zeros(len(pw), bool)
        keep[first] = True
        keep &= drug >= 0
        pw, t0, drug = pw[keep], t0[keep], drug[keep]
        t1 = end[pw]
        short = ref.drug_days_per_box[drug] < 84
        boxes = np.where(short, rng.choice(CHRONIC_BOXES, len(pw), p=CHRONIC_BOXES_P), 1).astype(
            np.int64
        )
        interval = np.maximum(365.25 / max(spec.dispensings_per_year, 1), 7)
        covered = np.maximum(ref.drug_days_per_box[drug] * boxes, 7)
        step = np.maximum(covered * 0.5 + interval * 0.5, 7)
        n_disp = np.maximum(np.floor((t1 - t0) / step), 0).astype(np.int64) + (t1 >= t0)
        adherence = rng.uniform(0.7, 1.0, len(pw))
        g = repeat_index(n_disp)
        k = rank_within(g)
        day = (t0[g] + k * step[g] + rng.normal(0, 3, len(g))).astype(np.int64)
        keep = (rng.random(len(g)) < adherence[g]) & (day >= t0[g]) & (day <= t1[g])
        g, day = g[keep], day[keep]
        day = chunk.calendar.stockpile(rng, day, t0[g])
        # one prescription per 3-month block of the treatment, written at the latest visit
        # before the block starts; the block's later dispensings are its renewals
        block_start = t0[g] + (day - t0[g]) // PRESCRIPTION_BLOCK_DAYS * PRESCRIPTION_BLOCK_DAYS
        parts.append((pw[g], day, drug[g], boxes[g], block_start))

    # episodic general drugs: users per year (among the persons the drug is indicated for) and
    # 1–3 dispensings per user-year
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
            * persons.frailty**0.5
            * ref.indicated(np.full(len(persons), pres[0]), persons.sex, mid_age),
            0,
            0.95,
        )
        care = "respiratory_drug" if atc.startswith(RESPIRATORY_ATC) else "episodic_drug"
        parent, day = poisson_days(rng, p * 1.6, start, end, kind=chunk.calendar[care])
        drug = pres[rng.integers(0, len(pres), len(parent))]
        boxes = rng.choice(EPISODIC_BOXES, len(parent), p=EPISODIC_BOXES_P)
        parts.append((parent, day, drug, boxes, np.full(len(parent), NO_DAY, np.int64)))

    parts.append(flu_vaccinations(chunk))
    person = np.concatenate([x[0] for x in parts])
    day = np.concatenate([x[1] for x in parts])
    drug = np.concatenate([x[2] for x in parts])
    boxes = np.concatenate([x[3] for x in parts]).astype(np.int64)
    block_start = np.concatenate([x[4] for x in parts]).astype(np.int64)
    chronic = block_start < NO_DAY
    pre, pre_day, day = prescribing_visits(
        chunk, visits, person, day, chronic, np.where(chronic, block_start, day)
    )
    # the indication holds at the dispensing date (a treatment started before a birthday
    # that ends the indication stops there)
    ok = ref.indicated(drug, persons.sex[person], persons.age_of(person, day))
    ok &= np.isin(np.arange(len(person)), unique_rows(person, day, drug))  # one line per day
    person, day, drug, boxes, chronic = person[ok], day[ok], drug[ok], boxes[ok], chronic[ok]
    pre, pre_day = pre[ok], pre_day[ok]
    pharmacy = np.where(
        rng.random(len(person)) < 0.85,
        persons.pharmacy[person],
        providers.pick(chunk, person, profession_code(PHARMACY)),
    )
    price = ref.drug_box_price[drug]
    rate = pharmacy_rate(chunk, ald, person, day, drug)
    lines = claim_lines(
        chunk,
        person,
        day,
        category="dispensing",
        nat=ref.drug_nat_ref[drug],
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
    lines["pre_day"] = pre_day
    lines["rnv"] = renewal_sequence(person, drug, pre, pre_day, day)
    exposures = Frame(
        person=person,
        day=day,
        atc=ref.drug_atc_index[drug],
        covered=(ref.drug_days_per_box[drug] * boxes).astype(np.int64),
    )
    return lines, exposures


def unique_rows(person: np.ndarray, day: np.ndarray, code: np.ndarray) -> np.ndarray:
    """Indices of the first row of each distinct (person, day, code), in row order."""
    if len(person) == 0:
        return np.zeros(0, np.int64)
    n_codes = int(code.max()) + 1
    key = (person.astype(np.int64) * _KEY + day) * n_codes + code
    _, first = np.unique(key, return_index=True)
    return np.sort(first)


def visit_index(visits: Frame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """GP and specialist visits sorted by (person, day): ``(key, person, day, doctor)``."""
    cat = visits["category"]
    sel = (cat == CATEGORIES["gp_visit"]) | (cat == CATEGORIES["specialist_visit"])
    sel &= visits["exe"] >= 0
    vp, vd, ve = visits["person"][sel], visits["day"][sel], visits["exe"][sel]
    key = vp.astype(np.int64) * _KEY + vd
    order = np.argsort(key, kind="stable")
    return key[order], vp[order], vd[order], ve[order]


def prescribing_visits(
    chunk: Chunk,
    visits: Frame,
    person: np.ndarray,
    day: np.ndarray,
    chronic: np.ndarray,
    written_by: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prescriber, prescription day and (episodic) dispensing day of each dispensing.

    A chronic dispensing is a renewal of the prescription written at the person's latest visit
    on or before ``written_by`` (the start of its 3-month block; else before the dispensing),
    valid 12 months; an episodic drug is dispensed 0–7 days after the visit
    nearest its drawn day (the latest before it, else the next). Without such a visit the
    prescriber is the person's GP on the dispensing day (hospital or out-of-extract
    prescriptions, unmatched in the claims).
    """
    key, vp, vd, ve = visit_index(visits)
    gp = chunk.persons.gp[person].astype(np.int64)
    if len(key) == 0:
        return gp, day.copy(), day.copy()
    last = len(key) - 1
    idx = np.searchsorted(key, person.astype(np.int64) * _KEY + day, side="right") - 1
    if written_by is not None:
        early = np.searchsorted(key, person.astype(np.int64) * _KEY + written_by, "right") - 1
        early_ok = (early >= 0) & (vp[np.maximum(early, 0)] == person)
        idx = np.where(chronic & early_ok, early, idx)
    prev = np.maximum(idx, 0)
    nxt = np.minimum(idx + 1, last)
    before = (idx >= 0) & (vp[prev] == person)
    after = (idx + 1 <= last) & (vp[nxt] == person)
    valid_chronic = before & (day - vd[prev] <= PRESCRIPTION_VALIDITY_DAYS)
    use_next = ~chronic & ~before & after
    src = np.where(use_next, nxt, prev)
    found = np.where(chronic, valid_chronic, before | use_next)
    pre = np.where(found, ve[src], gp)
    pre = np.where(pre < 0, gp, pre)
    pre_day = np.where(found, vd[src], day)
    delay = chunk.rng.choice(DISPENSING_DELAY, len(person), p=DISPENSING_DELAY_P)
    episodic_day = np.minimum(pre_day + delay, chunk.alive_end[person])
    new_day = np.where(~chronic & found, np.maximum(episodic_day, pre_day), day)
    return pre.astype(np.int64), pre_day.astype(np.int64), new_day.astype(np.int64)


def renewal_sequence(
    person: np.ndarray, drug: np.ndarray, pre: np.ndarray, pre_day: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """PHA_SEQ_RNV: 0 for the first dispensing of a prescription, then 1, 2, … for renewals."""
    order = np.lexsort((day, pre_day, pre, drug, person))
    cols = (person[order], drug[order], pre[order], pre_day[order])
    new = np.r_[True, np.any([c[1:] != c[:-1] for c in cols], axis=0)] if len(order) else []
    group = np.cumsum(new) - 1
    out = np.zeros(len(person), np.int64)
    out[order] = rank_within(group)
    return out


def ald_exempt(
    chunk: Chunk, ald: Frame, person: np.ndarray, day: np.ndarray, drug: np.ndarray
) -> np.ndarray:
    """Whether the person holds, on ``day``, an ALD (IMB_ETM_NAT 41) under which ``drug`` is
    covered at 100 % (the ALD of a condition whose drug pool holds it)."""
    out = np.zeros(len(person), bool)
    if len(ald) == 0 or len(person) == 0:
        return out
    ref = chunk.ref
    sel = (ald["etm"] == "41") & np.isin(ald["ald"], ref.ald_numbers)
    a_person = ald["person"][sel]
    order = np.argsort(a_person, kind="stable")
    a_person = a_person[order]
    a_start = ald["start"][sel][order]
    a_end = ald["end"][sel][order]
    a_end = np.where(a_end < a_start, np.iinfo(np.int64).max, a_end)  # open-ended ALD
    a_k = np.searchsorted(ref.ald_numbers, ald["ald"][sel][order])
    first = np.searchsorted(a_person, person, side="left")
    last = np.searchsorted(a_person, person, side="right")
    for j in range(int((last - first).max(initial=0))):
        i = np.minimum(first + j, len(a_person) - 1)
        hit = (first + j < last) & (a_start[i] <= day) & (day <= a_end[i])
        out |= hit & ref.drug_ald_mask[drug, a_k[i]]
    return out


def pharmacy_rate(
    chunk: Chunk, ald: Frame, person: np.ndarray, day: np.ndarray, drug: np.ndarray
) -> np.ndarray:
    """Reimbursement rate (RGO_REM_TAU, %) of pharmacy lines: 100 % under an ALD covering the
    drug that day (``ald_exempt``, exoneration du ticket moderateur, CSS art. L160-14 3deg),
    else the drug's rate (PHA_TAU_COD). Every generator path that writes pharmacy lines (care,
    falls-related dispensings, fictitious collusive dispensings) uses this one rule."""
    exempt = ald_exempt(chunk, ald, person, day, drug)
    return np.where(exempt, 100.0, chunk.ref.drug_reimb_rate[drug])


def indicated_choice(
    chunk: Chunk, candidates: np.ndarray, person: np.ndarray, day: np.ndarray
) -> np.ndarray:
    """One presentation per row drawn uniformly among ``candidates`` indicated for the
    person on ``day`` (sex and age rules of ``drug_indications.yaml``, ``ref.indicated``);
    -1 where none is. Vectorised: a (rows x candidates) indication mask, one uniform draw
    per row mapped through the row's cumulative count."""
    persons = chunk.persons
    sex, age = persons.sex[person], persons.age_of(person, day)
    mask = np.stack(
        [chunk.ref.indicated(np.full(len(person), c), sex, age) for c in candidates], axis=1
    ).reshape(len(person), len(candidates))
    cum = mask.cumsum(axis=1)
    k = np.floor(chunk.rng.random(len(person)) * cum[:, -1]).astype(np.int64)
    pick = (cum > k[:, None]).argmax(axis=1)
    return np.where(cum[:, -1] > 0, candidates[pick], -1)


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


def care_manifest(ref: Any) -> dict[str, Any]:
    """Truth-manifest section ``care``: the rules the outpatient care follows (issue 10 §2)."""
    shares = rd.drug_market_shares()
    return {
        "indications": {
            "file": "drug_indications.yaml",
            "rule": "a drug is dispensed only to persons of the allowed sex and age (completed "
            "years at the dispensing date); the longest matching ATC prefix applies",
            "rules": [
                {"atc": r.atc, "sex": r.sex, "min_age": r.min_age, "max_age": r.max_age}
                for r in rd.drug_indications()
            ],
        },
        "market_shares": {
            "file": "drug_market_shares.yaml",
            "rule": "chronic drugs are drawn within the condition's pool with these relative "
            "weights among the indicated presentations (unlisted pool drugs: other_weight)",
            "weights": {k: {"weights": w, "other_weight": o} for k, (w, o) in shares.items()},
        },
        "prescriptions": {
            "rule": "each dispensing, lab test and outpatient CCAM act names a prescriber and "
            "a prescription date that are a GP or specialist visit of the person (episodic "
            "drugs and tests: 0-7 days after the nearest earlier visit, else the next one; "
            "chronic drugs: the latest visit before the start of each 3-month block, valid "
            f"{PRESCRIPTION_VALIDITY_DAYS} days, its monthly dispensings numbered by "
            "PHA_SEQ_RNV); without such a visit, the person's GP on the care day",
        },
        "reimbursement": {
            "rule": "a pharmacy line is at 100 % (EXO_MTF 41) exactly when the drug is "
            "natively 100 % (PH1, PRS_NAT_REF 3311) or the person holds on that day an "
            "IR_IMB_R ALD (IMB_ETM_NAT 41) of a condition whose drug pool holds the drug; "
            "PRS_NAT_REF stays the drug's class",
            "ald_numbers": [int(a) for a in ref.ald_numbers],
            "boxes": {
                "chronic": dict(zip(map(int, CHRONIC_BOXES), CHRONIC_BOXES_P, strict=True)),
                "episodic": dict(zip(map(int, EPISODIC_BOXES), EPISODIC_BOXES_P, strict=True)),
            },
        },
    }
