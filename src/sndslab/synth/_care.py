"""Outpatient care: visits, nursing and physiotherapy, dispensings, biology, imaging, falls.

Every step returns *claim lines* (see ``_dcir.CLAIM_COLUMNS``) so the DCIR projection is one
generic function. Counts are Poisson draws whose rates depend on age, sex, frailty and the
conditions present; dates are uniform over the person's time alive in the study, or regular for
chronic treatments (one dispensing per box duration, with jitter and missed refills).

Falls (the pharmacovigilance truth): persons aged 65+ fall at a baseline rate; each dispensing
of a drug with an injected effect adds an excess rate ``base × (IRR − 1)`` during its risk
window ``[day + lag_start, day + lag_end]``. With non-overlapping exposures this is exactly a
multiplicative relative incidence ``IRR`` during the window, which is what SCCS estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sndslab.synth._context import Chunk
from sndslab.synth._dcir import SAT_BIO, SAT_CAM, SAT_NONE, SAT_PHA, SAT_UCD, empty_claims
from sndslab.synth._frame import Frame
from sndslab.synth._ids import NO_DAY, rank_within, repeat_index
from sndslab.synth._population import key_for_events
from sndslab.synth._world import GP, LAB, NURSE, PHARMACY, PHYSIO, SPECIALIST

YEAR = 365.25

# Event categories (truth manifest, events layer).
CATEGORIES = {
    "gp_visit": 1,
    "specialist_visit": 2,
    "nurse_act": 3,
    "physio_act": 4,
    "dispensing": 5,
    "biology": 6,
    "ccam_act": 7,
    "ucd_dispensing": 8,
    "private_stay_billing": 9,
    "public_stay_billing": 10,
    "ace_information": 11,
}

NAT_GP, NAT_SPEC, NAT_HOME, NAT_TELE = 1111, 1112, 1211, 1191
NAT_NURSE, NAT_PHYSIO, NAT_BIO, NAT_IMAGING, NAT_UCD = 3111, 3122, 3211, 1351, 3317


@dataclass
class Picker:
    """Vectorised choice of a practitioner by integer key (community/region × specialty)."""

    keys: np.ndarray  # sorted unique keys
    start: np.ndarray
    count: np.ndarray
    members: np.ndarray  # practitioner indices sorted by key

    @classmethod
    def build(cls, key: np.ndarray, members: np.ndarray) -> Picker:
        order = np.argsort(key[members], kind="stable")
        sorted_members = members[order]
        uniq, start, count = np.unique(key[sorted_members], return_index=True, return_counts=True)
        return cls(uniq, start, count, sorted_members)

    def pick(self, rng: np.random.Generator, query: np.ndarray) -> np.ndarray:
        """One member per query key, uniformly; -1 where the key has no member."""
        pos = np.searchsorted(self.keys, query)
        pos_c = np.minimum(pos, len(self.keys) - 1)
        found = (len(self.keys) > 0) & (self.keys[pos_c] == query)
        off = self.start[pos_c] + np.floor(rng.random(len(query)) * self.count[pos_c]).astype(
            np.int64
        )
        return np.where(found, self.members[np.minimum(off, len(self.members) - 1)], -1)


class Providers:
    """Choice of providers: inside the patient's community with probability ``loyalty``."""

    def __init__(self, chunk: Chunk) -> None:
        world = chunk.world
        prac = world.practitioners
        self.loyalty = chunk.config.truth.community_loyalty
        region_codes = {r: i for i, r in enumerate(world.territories.regions)}
        self.region_idx_of_dep = np.array(
            [region_codes[r] for r in world.territories.region], np.int64
        )
        prof = np.where(
            prac.kind == SPECIALIST,
            prac.specialty.astype(np.int64),
            1000 + prac.kind.astype(np.int64),
        )
        self.prof = prof
        clinical = np.flatnonzero(prac.community >= 0)
        self.by_community = Picker.build(prac.community.astype(np.int64) * 10_000 + prof, clinical)
        everyone = np.arange(len(prac))
        self.by_region = Picker.build(self.region_idx_of_dep[prac.dep] * 10_000 + prof, everyone)
        self.national = Picker.build(prof, everyone)

    def pick(self, chunk: Chunk, person: np.ndarray, profession: np.ndarray | int) -> np.ndarray:
        rng = chunk.rng
        prof = np.broadcast_to(np.asarray(profession, np.int64), person.shape)
        comm = chunk.persons.community[person].astype(np.int64)
        region = self.region_idx_of_dep[chunk.persons.dep[person]]
        out = np.where(
            rng.random(len(person)) < self.loyalty,
            self.by_community.pick(rng, comm * 10_000 + prof),
            -1,
        )
        miss = out < 0
        out[miss] = self.by_region.pick(rng, region[miss] * 10_000 + prof[miss])
        miss = out < 0
        out[miss] = self.national.pick(rng, prof[miss])
        return out


def profession_code(kind: int) -> int:
    return 1000 + kind


def poisson_days(
    rng: np.random.Generator, rate: np.ndarray, start: np.ndarray, end: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson events at ``rate`` per year, uniform over ``[start, end]`` (days, inclusive)."""
    length = np.maximum(end - start + 1, 0)
    counts = rng.poisson(np.maximum(rate, 0) * length / YEAR)
    parent = repeat_index(counts)
    day = start[parent] + np.floor(rng.random(len(parent)) * length[parent]).astype(np.int64)
    return parent, day


def _lines(
    chunk: Chunk,
    person: np.ndarray,
    day: np.ndarray,
    *,
    category: str,
    nat: np.ndarray | int,
    paid: np.ndarray | float,
    rate: np.ndarray | float,
    exe: np.ndarray,
    pre: np.ndarray | None = None,
    qty: np.ndarray | float = 1.0,
    coef: np.ndarray | float = 1.0,
    sat: int = SAT_NONE,
    code: np.ndarray | None = None,
    sat_qty: np.ndarray | float = 0.0,
    unit_price: np.ndarray | float = 0.0,
    surcharge: np.ndarray | None = None,
    est: np.ndarray | None = None,
    base: np.ndarray | None = None,
) -> Frame:
    n = len(person)

    def full(x: np.ndarray | float | int, dtype: type) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype), (n,)).copy()

    paid_a = np.round(full(paid, np.float64), 2)
    key = key_for_events(chunk.rng, chunk.ident, chunk.persons, person, day)
    pre_a = full(-1, np.int64) if pre is None else np.asarray(pre, np.int64)
    pre_day = np.where(pre_a >= 0, day - chunk.rng.integers(0, 21, n), -1)
    return Frame(
        person=person.astype(np.int64),
        key=key.astype(np.int64),
        day=day.astype(np.int64),
        day_end=day.astype(np.int64),
        nat=full(nat, np.int64),
        qty=full(qty, np.float64),
        coef=full(coef, np.float64),
        paid=paid_a,
        base=paid_a if base is None else np.round(np.asarray(base, np.float64), 2),
        rate=full(rate, np.float64),
        exe=np.asarray(exe, np.int64),
        pre=pre_a,
        pre_day=pre_day.astype(np.int64),
        est=full(-1, np.int64) if est is None else np.asarray(est, np.int64),
        taa=full(-1, np.int64),
        ghs=full(-1, np.int64),
        dpn=full(0, np.int64),
        surcharge=np.zeros(n, bool) if surcharge is None else np.asarray(surcharge, bool),
        sat=full(sat, np.int64),
        code=full(0, np.int64) if code is None else np.asarray(code, np.int64),
        sat_qty=full(sat_qty, np.float64),
        unit_price=np.round(full(unit_price, np.float64), 2),
        category=full(CATEGORIES[category], np.int64),
        event=chunk.new_ids("event", n),
    )


def _care_window(chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    n = len(chunk.persons)
    return np.full(n, chunk.study_start, np.int64), chunk.alive_end


def visits(chunk: Chunk, providers: Providers) -> Frame:
    """GP and specialist visits, nurse and physiotherapy acts."""
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    general = ref.general
    start, end = _care_window(chunk)
    mid_age = persons.age_at((chunk.study_start + chunk.study_end) // 2)
    intensity = persons.frailty**0.5
    frames: list[Frame] = []

    # -- GP visits: baseline + per-condition extra after onset ---------------------------------
    parent, day = poisson_days(rng, general.gp_rate(mid_age, persons.sex) * intensity, start, end)
    parts = [(parent, day)]
    for j, name in enumerate(chunk.cond.names):
        spec = ref.conditions[name]
        onset = chunk.cond.onset[:, j].astype(np.int64)
        has = onset < NO_DAY
        s = np.maximum(onset, start)
        p, d = poisson_days(rng, np.where(has, spec.gp_visits_extra_per_year, 0.0), s, end)
        parts.append((p, d))
    person = np.concatenate([p for p, _ in parts])
    day = np.concatenate([d for _, d in parts])
    own_gp = persons.gp[person].astype(np.int64)
    other = providers.pick(chunk, person, profession_code(GP))
    gp = np.where(rng.random(len(person)) < 0.85, own_gp, other)
    age = persons.age_of(person, day)
    home = rng.random(len(person)) < np.where(age >= 80, 0.25, 0.03)
    tele = ~home & (rng.random(len(person)) < 0.04)
    nat = np.where(home, NAT_HOME, np.where(tele, NAT_TELE, NAT_GP))
    abuse = chunk.world.practitioners.abuse_type[gp]
    # upcoding GPs bill a home visit for an office consultation half of the time
    up = (abuse == 2) & (nat == NAT_GP) & (rng.random(len(person)) < 0.5)
    nat = np.where(up, NAT_HOME, nat)
    paid = general.tariff_of(nat)
    surcharge = rng.random(len(person)) < chunk.config.artefacts.surcharge_share
    frames.append(
        _lines(
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
        p, d = poisson_days(rng, rate_fn(mid_age, persons.sex) * intensity, start, end)
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
            rng, np.where(has, spec.specialist_visits_per_year, 0.0), np.maximum(onset, start), end
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
        _lines(
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
    for prof_kind, category, act_code, rate_fn, tariff in (
        (NURSE, "nurse_act", NAT_NURSE, general.nurse_rate, 3.15),
        (PHYSIO, "physio_act", NAT_PHYSIO, general.physio_rate, 2.15),
    ):
        n_cond = chunk.cond.count_at(np.full(len(persons), chunk.study_end)).astype(np.float64)
        p, d = poisson_days(
            rng, rate_fn(mid_age, persons.sex) * intensity * (1 + 0.3 * n_cond), start, end
        )
        exe = providers.pick(chunk, p, profession_code(prof_kind))
        ok = exe >= 0
        p, d, exe = p[ok], d[ok], exe[ok]
        coef = rng.choice(np.array([1.0, 2.0, 4.0, 7.5]), len(p))
        frames.append(
            _lines(
                chunk,
                p,
                d,
                category=category,
                nat=act_code,
                paid=tariff * coef,
                rate=60.0,
                exe=exe,
                pre=persons.gp[p],
                coef=coef,
            )
        )
    out = Frame.concat(frames)
    return _add_abuse(chunk, out)


def _add_abuse(chunk: Chunk, lines: Frame) -> Frame:
    """Excess-volume providers bill each visit twice on a nearby day (truth: abuse type 1)."""
    prac = chunk.world.practitioners
    exe = lines["exe"]
    dup = np.flatnonzero((exe >= 0) & (prac.abuse_type[np.maximum(exe, 0)] == 1))
    extra = lines.take(dup)
    shift = chunk.rng.integers(1, 20, len(dup))
    extra["day"] = np.minimum(extra["day"] + shift, chunk.alive_end[extra["person"]])
    extra["day_end"] = extra["day"]
    extra["event"] = chunk.new_ids("event", len(dup))
    return Frame.concat([lines, extra])


def phantom_patients(chunk: Chunk, providers: Providers, used: np.ndarray) -> Frame:
    """Abusive providers of type 3 bill visits for persons with no other care."""
    prac = chunk.world.practitioners
    rng = chunk.rng
    abusers = np.flatnonzero(prac.abuse_type == 3)
    if len(abusers) == 0:
        return empty_claims()
    idle = np.flatnonzero(~used & (chunk.alive_end >= chunk.study_start))
    if len(idle) == 0:
        return empty_claims()
    region_of_dep = providers.region_idx_of_dep
    idle_region = region_of_dep[chunk.persons.dep[idle]]
    persons_l: list[np.ndarray] = []
    exe_l: list[np.ndarray] = []
    for a in abusers:
        pool = idle[idle_region == region_of_dep[prac.dep[a]]]
        k = min(len(pool), max(1, round(len(chunk.persons) / 5000)))
        if k == 0:
            continue
        chosen = rng.choice(pool, k, replace=False)
        persons_l.append(chosen)
        exe_l.append(np.full(k, a, np.int64))
    if not persons_l:
        return empty_claims()
    person = np.concatenate(persons_l)
    exe = np.concatenate(exe_l)
    counts = rng.integers(2, 7, len(person))
    parent = repeat_index(counts)
    start = chunk.study_start
    end = chunk.alive_end[person[parent]]
    day = start + np.floor(rng.random(len(parent)) * (end - start + 1)).astype(np.int64)
    p = person[parent]
    nat = np.where(prac.kind[exe[parent]] == GP, NAT_GP, NAT_SPEC)
    paid = chunk.ref.general.tariff_of(nat)
    return _lines(
        chunk, p, day, category="gp_visit", nat=nat, paid=paid, rate=70.0, exe=exe[parent]
    )


def dispensings(chunk: Chunk, providers: Providers) -> tuple[Frame, Frame]:
    """Drug dispensings (chronic treatments of conditions + episodic general drugs).

    Returns ``(claim_lines, exposures)``; ``exposures`` holds, per dispensing, the person, day,
    ATC index and covered days, used by the falls model.
    """
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    start, end = _care_window(chunk)
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
        parts.append((pw[g], day[keep], drug[g], boxes[g], np.full(len(g), 1, np.int64)))

    # episodic general drugs: users per year and 1–3 dispensings per user-year
    mid_age = persons.age_at((chunk.study_start + chunk.study_end) // 2)
    elderly = mid_age >= 65
    years = (end - start + 1) / YEAR
    for atc_i, pres in enumerate(ref.general_presentations):
        p_user = ref.general_users_per_1000[atc_i] / 1000.0
        if p_user <= 0:
            continue
        p = np.clip(
            p_user
            * np.where(elderly, ref.general_elderly_factor[atc_i], 1.0)
            * persons.frailty**0.5,
            0,
            0.95,
        )
        n_epi = rng.poisson(p * years * 1.6)
        parent = repeat_index(n_epi)
        length = np.maximum(end[parent] - start[parent] + 1, 1)
        day = start[parent] + np.floor(rng.random(len(parent)) * length).astype(np.int64)
        drug = pres[rng.integers(0, len(pres), len(parent))]
        parts.append(
            (parent, day, drug, np.ones(len(parent), np.int64), np.zeros(len(parent), np.int64))
        )

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
    lines = _lines(
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


def biology_and_imaging(chunk: Chunk, providers: Providers) -> Frame:
    """Laboratory tests (ER_BIO_F) and outpatient CCAM acts (ER_CAM_F)."""
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    start, end = _care_window(chunk)
    mid_age = persons.age_at((chunk.study_start + chunk.study_end) // 2)
    frames: list[Frame] = []
    bio_p: list[np.ndarray] = []
    bio_d: list[np.ndarray] = []
    bio_c: list[np.ndarray] = []
    cam_p: list[np.ndarray] = []
    cam_d: list[np.ndarray] = []
    cam_c: list[np.ndarray] = []

    def stream(rate: np.ndarray, code: int, s: np.ndarray, dest: tuple[list, list, list]) -> None:
        p, d = poisson_days(rng, rate, s, end)
        dest[0].append(p)
        dest[1].append(d)
        dest[2].append(np.full(len(p), code, np.int64))

    bio = (bio_p, bio_d, bio_c)
    cam = (cam_p, cam_d, cam_c)
    for code, rate_fn in ref.lab_items:
        stream(rate_fn(mid_age, persons.sex), code, start, bio)
    for code, rate_fn in ref.imaging_items:
        stream(rate_fn(mid_age, persons.sex), code, start, cam)
    for j, name in enumerate(chunk.cond.names):
        onset = chunk.cond.onset[:, j].astype(np.int64)
        has = onset < NO_DAY
        s = np.maximum(onset, start)
        for code, per_year in ref.condition_biology[name]:
            stream(np.where(has, per_year, 0.0), code, s, bio)
        for code, per_year in ref.condition_ccam[name]:
            stream(np.where(has, per_year, 0.0), code, s, cam)
        for k, items in enumerate(ref.subtype_ccam[name]):
            in_sub = has & (chunk.cond.subtype == k)
            for code, per_year in items:
                stream(np.where(in_sub, per_year, 0.0), code, s, cam)
    person = np.concatenate(bio_p)
    day = np.concatenate(bio_d)
    code = np.concatenate(bio_c)
    lab = np.where(
        rng.random(len(person)) < 0.9,
        persons.lab[person],
        providers.pick(chunk, person, profession_code(LAB)),
    )
    coef = ref.nabm_coef[code]
    frames.append(
        _lines(
            chunk,
            person,
            day,
            category="biology",
            nat=NAT_BIO,
            paid=np.round(coef * 0.27, 2),
            rate=60.0,
            exe=lab,
            pre=persons.gp[person],
            coef=coef,
            sat=SAT_BIO,
            code=code,
            sat_qty=1.0,
        )
    )
    person = np.concatenate(cam_p)
    day = np.concatenate(cam_d)
    code = np.concatenate(cam_c)
    exe = providers.pick(chunk, person, ref.ccam_specialty[code])
    ok = exe >= 0
    person, day, code, exe = person[ok], day[ok], code[ok], exe[ok]
    price = ref.ccam_price[code]
    frames.append(
        _lines(
            chunk,
            person,
            day,
            category="ccam_act",
            nat=NAT_IMAGING,
            paid=price,
            rate=70.0,
            exe=exe,
            pre=persons.gp[person],
            sat=SAT_CAM,
            code=code,
            sat_qty=1.0,
            unit_price=price,
        )
    )
    return Frame.concat(frames)


def ucd_dispensings(chunk: Chunk) -> Frame:
    """Hospital-only drugs dispensed to outpatients (rétrocession, ER_UCD_F)."""
    rng = chunk.rng
    ref = chunk.ref
    if "cancer" not in chunk.cond.names or len(ref.ucd_codes) == 0:
        return empty_claims()
    j = chunk.cond.index("cancer")
    onset = chunk.cond.onset[:, j].astype(np.int64)
    start, end = _care_window(chunk)
    treated = (onset < NO_DAY) & (rng.random(len(onset)) < 0.15)
    p, d = poisson_days(rng, np.where(treated, 6.0, 0.0), np.maximum(onset, start), end)
    code = rng.integers(0, len(ref.ucd_codes), len(p))
    units = rng.integers(1, 5, len(p))
    est = chunk.ref.chu_of_person(chunk, p)
    price = ref.ucd_price[code]
    return _lines(
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


def falls(chunk: Chunk, exposures: Frame) -> Frame:
    """Falls with injury among persons aged 65+, with the injected drug effects (truth).

    Returns one row per fall: ``person``, ``day``, ``cause`` (ATC index of the drug whose
    excess risk produced it, -1 for a baseline fall) and ``channel`` (0 seen by the GP only,
    1 emergency department without admission, 2 hospitalised).
    """
    rng = chunk.rng
    ref = chunk.ref
    persons = chunk.persons
    start, end = _care_window(chunk)
    age0 = persons.age_at(chunk.study_start)
    base = ref.fall.rate(age0, persons.sex == 2)
    parent, day = poisson_days(rng, base, start, end)
    rows = [Frame(person=parent, day=day, cause=np.full(len(parent), -1, np.int64))]
    eff = ref.fall_effects  # ATC index → (irr, lag_start, lag_end)
    if len(exposures) and eff:
        is_eff = np.isin(exposures["atc"], np.fromiter(eff, np.int64))
        ex = exposures.filter(is_eff & (base[exposures["person"]] > 0))
        order = np.lexsort((ex["day"], ex["atc"], ex["person"]))
        ex = ex.take(order)
        params = np.array([eff[int(a)] for a in ex["atc"]]).reshape(-1, 3)
        irr = params[:, 0]
        w0 = ex["day"] + params[:, 1].astype(np.int64)
        w1 = np.minimum(ex["day"] + params[:, 2].astype(np.int64), end[ex["person"]])
        # trim each window before the next window of the same drug and person (no overlap)
        same_next = np.r_[
            (ex["person"][1:] == ex["person"][:-1]) & (ex["atc"][1:] == ex["atc"][:-1]), False
        ]
        next_w0 = np.r_[w0[1:], 0]
        w1 = np.where(same_next, np.minimum(w1, next_w0 - 1), w1)
        rate = base[ex["person"]] * (irr - 1.0)
        p, d = poisson_days(rng, rate, w0, w1)
        rows.append(Frame(person=ex["person"][p], day=d, cause=ex["atc"][p]))
        chunk.truth_windows = Frame(person=ex["person"], atc=ex["atc"], start=w0, end=w1)
    out = Frame.concat(rows)
    u = rng.random(len(out))
    fall = ref.fall
    channel = np.where(
        u < fall.share_hospitalised,
        2,
        np.where(u < fall.share_hospitalised + fall.share_emergency_only, 1, 0),
    )
    return out.with_columns(channel=channel.astype(np.int64))
