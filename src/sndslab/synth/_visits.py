"""GP and specialist visits, nursing and physiotherapy acts, and the abusive providers' billing."""

from __future__ import annotations

from typing import Any

import numpy as np

from sndslab.synth import _abuse
from sndslab.synth._abuse import excess_volume, home_visit_probability, upcode
from sndslab.synth._care import (
    NAT_GP,
    NAT_HOME,
    NAT_SPEC,
    NAT_TELE,
    care_window,
    claim_lines,
    poisson_days,
    profession_code,
)
from sndslab.synth._context import Chunk
from sndslab.synth._frame import Frame
from sndslab.synth._geography import supply_extra_rate
from sndslab.synth._ids import NO_DAY
from sndslab.synth._providers import Providers
from sndslab.synth._world import GP, NURSE, PHYSIO


def visits(chunk: Chunk, providers: Providers) -> Frame:
    """GP and specialist visits, nurse and physiotherapy acts."""
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    general = ref.general
    start, end = care_window(chunk)
    mid_age = persons.age_at((chunk.study_start + chunk.study_end) // 2)
    intensity = persons.frailty**0.5
    frames: list[Frame] = []

    # -- GP visits: baseline + per-condition extra after onset ---------------------------------
    cal = chunk.calendar
    gp_rate = general.gp_rate(mid_age, persons.sex) * intensity
    # supply-induced demand: more GP visits where GPs are denser (_geography)
    gp_rate = np.maximum(gp_rate + supply_extra_rate(chunk, intensity), 0.0)
    parent, day = poisson_days(rng, gp_rate, start, end, kind=cal["gp"])
    parts = [(parent, day)]
    for j, name in enumerate(chunk.cond.names):
        spec = ref.conditions[name]
        onset = chunk.cond.onset[:, j].astype(np.int64)
        has = onset < NO_DAY
        s = np.maximum(onset, start)
        p, d = poisson_days(
            rng, np.where(has, spec.gp_visits_extra_per_year, 0.0), s, end, kind=cal["gp"]
        )
        parts.append((p, d))
    person = np.concatenate([p for p, _ in parts])
    day = np.concatenate([d for _, d in parts])
    own_gp = persons.gp[person].astype(np.int64)
    other = providers.pick(chunk, person, profession_code(GP))
    gp = np.where(rng.random(len(person)) < 0.85, own_gp, other)
    age = persons.age_of(person, day)
    home = rng.random(len(person)) < home_visit_probability(chunk, gp, age)
    tele = ~home & (rng.random(len(person)) < cal.tele_share(day))
    nat = np.where(home, NAT_HOME, np.where(tele, NAT_TELE, NAT_GP))
    nat = upcode(chunk, gp, nat)  # upcoding GPs (_abuse)
    paid = general.tariff_of(nat)
    surcharge = rng.random(len(person)) < chunk.config.artefacts.surcharge_share
    frames.append(
        claim_lines(
            chunk,
            person,
            day,
            category="gp_visit",
            nat=nat,
            paid=paid,
            rate=70.0,
            exe=gp,
            surcharge=surcharge,
            base=paid,
        )
    )
    # -- specialist visits ---
    sp_person: list[np.ndarray] = []
    sp_day: list[np.ndarray] = []
    sp_code: list[np.ndarray] = []
    for spe, rate_fn in general.specialist_rates.items():
        p, d = poisson_days(
            rng, rate_fn(mid_age, persons.sex) * intensity, start, end, kind=cal["specialist"]
        )
        sp_person.append(p)
        sp_day.append(d)
        sp_code.append(np.full(len(p), spe, np.int64))
    for j, name in enumerate(chunk.cond.names):
        spec = ref.conditions[name]
        if not spec.specialist:
            continue
        onset = chunk.cond.onset[:, j].astype(np.int64)
        has = onset < NO_DAY
        p, d = poisson_days(
            rng,
            np.where(has, spec.specialist_visits_per_year, 0.0),
            np.maximum(onset, start),
            end,
            kind=cal["specialist"],
        )
        sp_person.append(p)
        sp_day.append(d)
        sp_code.append(np.full(len(p), int(spec.specialist), np.int64))
    person = np.concatenate(sp_person)
    day = np.concatenate(sp_day)
    spe = np.concatenate(sp_code)
    doc = providers.pick(chunk, person, spe)
    ok = doc >= 0
    person, day, doc = person[ok], day[ok], doc[ok]
    prac = chunk.world.practitioners
    base = np.full(len(person), general.tariff_of(np.array([NAT_SPEC]))[0])
    extra = np.where(prac.sector[doc] == 2, np.round(rng.uniform(5, 40, len(person)), 0), 0.0)
    frames.append(
        claim_lines(
            chunk,
            person,
            day,
            category="specialist_visit",
            nat=NAT_SPEC,
            paid=base + extra,
            base=base,
            rate=70.0,
            exe=doc,
            surcharge=rng.random(len(person)) < chunk.config.artefacts.surcharge_share / 2,
        )
    )
    # -- nurse and physiotherapy acts (prescribed by the GP) -----------------------------------
    for prof_kind, category, rate_fn, care in (
        (NURSE, "nurse_act", general.nurse_rate, "nurse"),
        (PHYSIO, "physio_act", general.physio_rate, "physio"),
    ):
        n_cond = chunk.cond.count_at(np.full(len(persons), chunk.study_end)).astype(np.float64)
        p, d = poisson_days(
            rng,
            rate_fn(mid_age, persons.sex) * intensity * (1 + 0.3 * n_cond),
            start,
            end,
            kind=cal[care],
        )
        exe = providers.pick(chunk, p, profession_code(prof_kind))
        ok = exe >= 0
        p, d, exe = p[ok], d[ok], exe[ok]
        nat_a, coef, letter = act_coefficients(rng, prof_kind, len(p))
        frames.append(
            claim_lines(
                chunk,
                p,
                d,
                category=category,
                nat=nat_a,
                paid=np.round(letter * coef, 2),
                rate=60.0,
                exe=exe,
                pre=persons.gp[p],
                coef=coef,
            )
        )
    out = Frame.concat(frames)
    return _add_abuse(chunk, out)


def _add_abuse(chunk: Chunk, lines: Frame) -> Frame:
    """Excess-volume providers' duplicate billing (``_abuse.excess_volume``)."""
    return excess_volume(chunk, lines)


def phantom_patients(chunk: Chunk, used: np.ndarray, lines: Frame, truth: Any) -> Frame:
    """Phantom-patient providers' lines (``_abuse.phantom_patients``)."""
    return _abuse.phantom_patients(chunk, used, lines, truth)


def collusive_dispensings(chunk: Chunk, ald: Frame) -> Frame:
    """Colluding pharmacies' fictitious dispensings (``_abuse.collusive_dispensings``)."""
    return _abuse.collusive_dispensings(chunk, ald)


#: Nursing key letters and coefficients (NGAP 2019, titre XVI): AMI 1 injection, AMI 1.5 blood
#: sample, AMI 2 simple dressing, AMI 3/4 complex dressings, insulin and drips; AIS 3/4
#: nursing-care sessions of dependent patients (PRS_NAT_REF 3112). Shares are orders of
#: magnitude of the CNAM nursing activity tables (AIS ≈ 30 % of lines, AMI 1–1.5 ≈ 45 %).
NURSE_ACTS = (  # (PRS_NAT_REF, coefficient, letter value in euros, share)
    (3111, 1.0, 3.15, 0.30),
    (3111, 1.5, 3.15, 0.15),
    (3111, 2.0, 3.15, 0.12),
    (3111, 3.0, 3.15, 0.06),
    (3111, 4.0, 3.15, 0.07),
    (3112, 3.0, 2.65, 0.25),
    (3112, 4.0, 2.65, 0.05),
)
#: Physiotherapy AMK coefficients (NGAP 2019, titre XIV): 7.5 limb or spine rehabilitation
#: (the most frequent), 8 after orthopaedic surgery, 8.5–9.5 respiratory and vascular,
#: 10–10.5 neurological rehabilitation, 6 simple massage; letter value 2.15 €.
PHYSIO_ACTS = (
    (3122, 7.5, 2.15, 0.40),
    (3122, 8.0, 2.15, 0.20),
    (3122, 8.5, 2.15, 0.05),
    (3122, 9.0, 2.15, 0.05),
    (3122, 9.5, 2.15, 0.08),
    (3122, 10.0, 2.15, 0.10),
    (3122, 10.5, 2.15, 0.05),
    (3122, 6.0, 2.15, 0.07),
)


def act_coefficients(
    rng: np.random.Generator, prof_kind: int, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PRS_NAT_REF, PRS_ACT_COG and letter value of ``n`` nurse or physiotherapy acts."""
    acts = np.array(NURSE_ACTS if prof_kind == NURSE else PHYSIO_ACTS)
    k = rng.choice(len(acts), n, p=acts[:, 3] / acts[:, 3].sum())
    return acts[k, 0].astype(np.int64), acts[k, 1], acts[k, 2]
