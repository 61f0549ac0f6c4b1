"""Practice behaviour of honest providers and the injected abusive providers (the fraud truth).

**Honest variation.** Every practitioner has a practice-volume weight, log-normal (σ = 0.5),
times 2.5 for about 5 % of them (legitimate high-volume practices: group practices, large
pharmacies), which skews the choice of providers (``Picker`` weights); every GP has a
home-visit habit (log-normal, σ = 0.4) that multiplies the probability that a consultation is a
home visit. A naive volume ranking therefore flags honest practices, as on real data.

**Abuse types**, each applied where it is meaningful:

- ``upcoding`` (GPs): a share of office consultations (C, PRS_NAT_REF 1111) billed as home
  visits (V, 1211, a higher tariff). Effect size = that share.
- ``excess_volume`` (GPs, nurses, physiotherapists, who bill visits and acts): each visit or
  act is billed a second time, 1–19 days later, with probability = the effect size (+20 % to
  +100 % volume).
- ``phantom_patients`` (GPs, nurses): visits or acts billed for real persons who never came;
  the persons chosen have no other care in the period when possible (same département, then
  region, then anywhere), otherwise they are persons of the chunk, wherever they live, who are
  not the provider's patients (identity numbers used without the person's knowledge; nurse
  acts billed without a prescriber). Effect size = number of phantom patients, drawn per
  provider from a stream seeded by (seed, provider), so it does not depend on
  ``--chunk-size``; each phantom patient gets 2–6 lines.
- collusion (``collusive_prescriber`` GP + ``collusive_pharmacy`` of the same département):
  the pharmacy bills dispensings of expensive general-use drugs (top decile of box prices
  among drugs not tied to a condition) prescribed by the GP to the GP's regular patients,
  which were never delivered. Effect size = fictitious
  dispensings per patient-year of the GP's patient list. These lines are not exposures (no
  drug taken): they enter no drug-effect truth.

Abusers of each type alternate between a *blatant* band and a *subtle* band of effect sizes
(``EFFECT_BANDS``), the size drawn uniformly inside the band from the provider's own stream.
The number of abusers of each type is ``abusive_provider_share`` × eligible providers (at least
one per type). Every injected line is counted per provider (``ProviderBehaviour.ledger``):
the manifest section ``abusive_providers`` and ``truth/practitioners.parquet`` give exact
counts, and ``truth/phantom_patients.parquet`` lists the phantom patients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sndslab.synth._care import CATEGORIES, NAT_GP, NAT_HOME, NAT_NURSE, claim_lines
from sndslab.synth._config import SynthConfig
from sndslab.synth._dcir import SAT_PHA, empty_claims
from sndslab.synth._drugs import indicated_choice, pharmacy_rate
from sndslab.synth._frame import Frame
from sndslab.synth._ids import repeat_index
from sndslab.synth._world import (
    ABUSE_TYPES,
    GP,
    KIND_NAMES,
    NURSE,
    PHARMACY,
    PHYSIO,
    Practitioners,
    Territories,
)

NONE, EXCESS, UPCODING, PHANTOM, COLLUSIVE_PRESCRIBER, COLLUSIVE_PHARMACY = range(6)

#: Effect-size bands (blatant, subtle) per abuse type, see the module docstring.
EFFECT_BANDS: dict[int, tuple[tuple[float, float], tuple[float, float]]] = {
    EXCESS: ((0.6, 1.0), (0.15, 0.3)),
    UPCODING: ((0.4, 0.7), (0.08, 0.2)),
    PHANTOM: ((25.0, 60.0), (5.0, 12.0)),
    COLLUSIVE_PRESCRIBER: ((1.0, 2.0), (0.15, 0.3)),
}
EFFECT_MEANING = {
    "excess_volume": "probability that each visit or act is billed a second time",
    "upcoding": "share of office consultations (C, 1111) billed as home visits (V, 1211)",
    "phantom_patients": "number of phantom patients (2-6 lines each)",
    "collusive_prescriber": "fictitious dispensings per patient-year of the GP's patient list, "
    "billed by the partner pharmacy",
    "collusive_pharmacy": "same as its partner prescriber",
}
#: Kinds eligible for each type.
ELIGIBLE = {
    UPCODING: (GP,),
    EXCESS: (GP, NURSE, PHYSIO),
    PHANTOM: (GP, NURSE),
    COLLUSIVE_PRESCRIBER: (GP,),
}
HIGH_VOLUME_SHARE = 0.05
HIGH_VOLUME_FACTOR = 2.5
LEDGER = (
    "excess_lines",
    "upcoded_lines",
    "phantom_patients",
    "phantom_lines",
    "fictitious_dispensings",
)


@dataclass
class ProviderBehaviour:
    """Per-practitioner behaviour (arrays indexed like ``Practitioners``) and the abuse ledger."""

    volume_weight: np.ndarray  # float64 practice-volume weight
    high_volume: np.ndarray  # bool, legitimate high-volume practice
    home_style: np.ndarray  # float64 multiplier of the home-visit probability (GPs)
    effect: np.ndarray  # float64 abuse effect size (0 for honest providers)
    band: np.ndarray  # object "blatant"/"subtle"/""
    partner: np.ndarray  # int64 colluding partner (-1)
    #: phantom patients: global person slot (0 … patients-1) and owner, sorted by slot
    phantom_slot: np.ndarray
    phantom_owner: np.ndarray
    ledger: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, name: str, provider: np.ndarray, n: np.ndarray | int = 1) -> None:
        """Count ``n`` injected items of kind ``name`` for each entry of ``provider``."""
        np.add.at(self.ledger[name], np.asarray(provider, np.int64), n)


def _provider_rng(seed: int, provider: int) -> np.random.Generator:
    return np.random.default_rng([seed, 10, provider])


def draw_behaviour(
    config: SynthConfig, prac: Practitioners, terr: Territories
) -> ProviderBehaviour:
    """Honest behaviour for everyone, then the abusers (sets ``prac.abuse_type`` in place)."""
    n = len(prac)
    rng = np.random.default_rng([config.seed, 9])
    high = rng.random(n) < HIGH_VOLUME_SHARE
    volume = rng.lognormal(0.0, 0.5, n) * np.where(high, HIGH_VOLUME_FACTOR, 1.0)
    home_style = rng.lognormal(-0.08, 0.4, n)
    effect = np.zeros(n)
    band = np.full(n, "", dtype=object)
    partner = np.full(n, -1, np.int64)
    abuse = prac.abuse_type
    share = config.truth.abusive_provider_share
    slots: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for kind_code in (UPCODING, EXCESS, PHANTOM, COLLUSIVE_PRESCRIBER):
        eligible = np.flatnonzero(np.isin(prac.kind, ELIGIBLE[kind_code]) & (abuse == NONE))
        if share <= 0 or len(eligible) == 0:
            continue
        k = min(len(eligible), max(1, round(share * len(eligible))))
        chosen = np.sort(rng.choice(eligible, k, replace=False))
        for rank, a in enumerate(chosen):
            lo, hi = EFFECT_BANDS[kind_code][rank % 2]
            own = _provider_rng(config.seed, int(a))
            size = float(own.uniform(lo, hi))
            abuse[a] = kind_code
            band[a] = ("blatant", "subtle")[rank % 2]
            if kind_code == PHANTOM:
                size = float(round(size))
                slots.append(own.choice(config.patients, min(int(size), config.patients), False))
                owners.append(np.full(len(slots[-1]), a, np.int64))
                size = float(len(slots[-1]))
            effect[a] = size
            if kind_code == COLLUSIVE_PRESCRIBER:
                ph = _partner_pharmacy(own, prac, terr, int(a), abuse)
                if ph >= 0:
                    abuse[ph] = COLLUSIVE_PHARMACY
                    partner[a], partner[ph] = ph, a
                    effect[ph], band[ph] = size, band[a]
                else:  # no free pharmacy: an honest GP after all
                    abuse[a], effect[a], band[a] = NONE, 0.0, ""
    slot = np.concatenate(slots) if slots else np.zeros(0, np.int64)
    owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
    order = np.argsort(slot, kind="stable")
    return ProviderBehaviour(
        volume_weight=volume,
        high_volume=high,
        home_style=home_style,
        effect=effect,
        band=band,
        partner=partner,
        phantom_slot=slot[order].astype(np.int64),
        phantom_owner=owner[order],
        ledger={name: np.zeros(n, np.int64) for name in LEDGER},
    )


def _partner_pharmacy(
    rng: np.random.Generator, prac: Practitioners, terr: Territories, gp: int, abuse: np.ndarray
) -> int:
    """A free pharmacy of the GP's département, else of its region (-1 if none)."""
    free = (prac.kind == PHARMACY) & (abuse == NONE)
    for pool in (
        np.flatnonzero(free & (prac.dep == prac.dep[gp])),
        np.flatnonzero(free & (terr.region[prac.dep] == terr.region[prac.dep[gp]])),
    ):
        if len(pool):
            return int(rng.choice(pool))
    return -1


# ------------------------------------------------------------------------------------------
# injection, chunk by chunk
# ------------------------------------------------------------------------------------------


def home_visit_probability(chunk: Any, gp: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Probability that a GP consultation is a home visit: patient age × the GP's habit."""
    style = chunk.world.behaviour.home_style[gp]
    return np.clip(np.where(age >= 80, 0.25, 0.03) * style, 0.0, 0.9)


def upcode(chunk: Any, gp: np.ndarray, nat: np.ndarray) -> np.ndarray:
    """Upcoding GPs bill a share (their effect size) of office consultations as home visits."""
    beh: ProviderBehaviour = chunk.world.behaviour
    abuse = chunk.world.practitioners.abuse_type[gp]
    up = (abuse == UPCODING) & (nat == NAT_GP) & (chunk.rng.random(len(gp)) < beh.effect[gp])
    beh.add("upcoded_lines", gp[up])
    return np.where(up, NAT_HOME, nat)


def excess_volume(chunk: Any, lines: Frame) -> Frame:
    """Excess-volume providers bill a visit or act a second time, 1–19 days later, with
    probability = their effect size."""
    beh: ProviderBehaviour = chunk.world.behaviour
    prac = chunk.world.practitioners
    exe = np.maximum(lines["exe"], 0)
    billable = np.isin(
        lines["category"],
        [CATEGORIES["gp_visit"], CATEGORIES["nurse_act"], CATEGORIES["physio_act"]],
    )
    cand = (lines["exe"] >= 0) & billable & (prac.abuse_type[exe] == EXCESS)
    dup = np.flatnonzero(cand & (chunk.rng.random(len(exe)) < beh.effect[exe]))
    if len(dup) == 0:
        return lines
    extra = lines.take(dup)
    shift = chunk.rng.integers(1, 20, len(dup))
    extra["day"] = np.minimum(extra["day"] + shift, chunk.alive_end[extra["person"]])
    extra["day_end"] = extra["day"]
    extra["event"] = chunk.new_ids("event", len(dup))
    beh.add("excess_lines", extra["exe"])
    return Frame.concat([lines, extra])


def phantom_patients(chunk: Any, used: np.ndarray, lines: Frame, truth: Any) -> Frame:
    """Lines billed by phantom-patient abusers for the chunk's share of their phantom patients.

    The patients of a provider are fixed slots of the whole population (drawn once per
    provider), so the total count is the provider's effect size whatever the chunk size; the
    slot falling in this chunk selects an idle person of the provider's département (then
    region, then the chunk, then any person alive who is not the provider's patient in
    ``lines``)."""
    beh: ProviderBehaviour = chunk.world.behaviour
    prac = chunk.world.practitioners
    persons = chunk.persons
    first = int(persons.pid[0]) if len(persons) else 0
    lo, hi = np.searchsorted(beh.phantom_slot, [first, first + len(persons)])
    owners = beh.phantom_owner[lo:hi]
    if len(owners) == 0:
        return empty_claims()
    rng = chunk.rng
    alive = chunk.alive_end >= chunk.care_start
    idle = ~used & alive
    region = chunk.world.territories.region
    taken = np.zeros(len(persons), bool)
    chosen: list[np.ndarray] = []
    owner_l: list[np.ndarray] = []
    for a, k in zip(*np.unique(owners, return_counts=True), strict=True):
        picked = np.zeros(0, np.int64)
        stranger = alive.copy()
        stranger[lines["person"][lines["exe"] == a]] = False
        for pool_mask in (
            idle & (persons.dep == prac.dep[a]),
            idle & (region[persons.dep] == region[prac.dep[a]]),
            idle,
            stranger,
        ):
            pool = np.flatnonzero(pool_mask & ~taken)
            need = int(k) - len(picked)
            if need <= 0:
                break
            more = rng.choice(pool, min(need, len(pool)), replace=False)
            taken[more] = True
            picked = np.concatenate([picked, more])
        chosen.append(picked)
        owner_l.append(np.full(len(picked), a, np.int64))
    person = np.concatenate(chosen)
    owner = np.concatenate(owner_l)
    counts = rng.integers(2, 7, len(person))
    parent = repeat_index(counts)
    start = chunk.care_start[person[parent]]  # entrants: from their entry (open cohort)
    end = chunk.alive_end[person[parent]]
    day = start + np.floor(rng.random(len(parent)) * (end - start + 1)).astype(np.int64)
    exe = owner[parent]
    nurse = prac.kind[exe] == NURSE
    coef = np.where(nurse, rng.choice(np.array([1.0, 2.0, 4.0]), len(parent)), 1.0)
    nat = np.where(nurse, NAT_NURSE, NAT_GP)
    paid = np.where(nurse, 3.15 * coef, chunk.ref.general.tariff_of(np.full(len(parent), NAT_GP)))
    frames = []
    for is_nurse, category, rate in ((False, "gp_visit", 70.0), (True, "nurse_act", 60.0)):
        sel = nurse == is_nurse
        if sel.any():
            frames.append(
                claim_lines(
                    chunk,
                    person[parent][sel],
                    day[sel],
                    category=category,
                    nat=nat[sel],
                    paid=paid[sel],
                    rate=rate,
                    exe=exe[sel],
                    coef=coef[sel],
                )
            )
    beh.add("phantom_patients", owner)
    beh.add("phantom_lines", exe)
    truth.append(
        "phantom_patients",
        {
            "pfs_pfs_num": prac.num[owner].astype(object),
            "person_id": persons.pid[person],
            "lines": counts.astype(np.int64),
        },
    )
    return Frame.concat(frames)


def collusive_dispensings(chunk: Any, ald: Frame) -> Frame:
    """Fictitious dispensings billed by colluding pharmacies for their partner GP's patients.

    The boxes are expensive general-use drugs that the patient could plausibly receive (the
    sex/age indications of ``drug_indications.yaml``: no infant vaccine billed for an adult),
    and the rate follows the ALD rule of genuine pharmacy lines (``_drugs.pharmacy_rate``):
    the fraud hides among the patient's plausible claims."""
    beh: ProviderBehaviour = chunk.world.behaviour
    prac = chunk.world.practitioners
    gps = np.flatnonzero((prac.abuse_type == COLLUSIVE_PRESCRIBER) & (beh.partner >= 0))
    persons = chunk.persons
    if len(gps) == 0 or len(persons) == 0:
        return empty_claims()
    rng = chunk.rng
    ref = chunk.ref
    is_colluder = np.zeros(len(prac), bool)
    is_colluder[gps] = True
    start = chunk.care_start
    who = np.flatnonzero(is_colluder[persons.gp] & (chunk.alive_end >= start))
    if len(who) == 0:
        return empty_claims()
    years = (chunk.alive_end[who] - start[who] + 1) / 365.25
    n = rng.poisson(beh.effect[persons.gp[who]] * years)
    parent = repeat_index(n)
    person = who[parent]
    length = chunk.alive_end[person] - start[person] + 1
    day = start[person] + np.floor(rng.random(len(person)) * length).astype(np.int64)
    price = ref.drug_box_price
    # expensive general-use drugs, among those indicated for the patient that day
    general = np.concatenate(ref.general_presentations)
    expensive = general[price[general] >= np.quantile(price[general], 0.9)]
    drug = indicated_choice(chunk, expensive, person, day)
    ok = drug >= 0
    person, day, drug = person[ok], day[ok], drug[ok]
    boxes = rng.integers(1, 3, len(person)).astype(np.int64)
    gp = persons.gp[person].astype(np.int64)
    pharmacy = beh.partner[gp]
    beh.add("fictitious_dispensings", gp)
    beh.add("fictitious_dispensings", pharmacy)
    return claim_lines(
        chunk,
        person,
        day,
        category="dispensing",
        nat=ref.drug_nat_ref[drug],
        paid=price[drug] * boxes,
        rate=pharmacy_rate(chunk, ald, person, day, drug),
        exe=pharmacy,
        pre=gp,
        qty=boxes,
        sat=SAT_PHA,
        code=drug,
        sat_qty=boxes,
        unit_price=price[drug],
    )


# ------------------------------------------------------------------------------------------
# truth
# ------------------------------------------------------------------------------------------


def practitioner_truth(world: Any, truth: Any) -> None:
    """``truth/practitioners.parquet``: one row per professional with community, behaviour,
    abuse type, effect size and the exact counts of injected lines."""
    prac = world.practitioners
    beh: ProviderBehaviour = world.behaviour
    partner = np.where(beh.partner >= 0, prac.num[np.maximum(beh.partner, 0)].astype(object), None)
    truth.append(
        "practitioners",
        {
            "pfs_pfs_num": prac.num.astype(object),
            "kind": np.array(KIND_NAMES, dtype=object)[prac.kind],
            "specialty": prac.specialty.astype(np.int64),
            "departement": world.territories.dep[prac.dep],
            "community": prac.community.astype(np.int64),
            "volume_weight": beh.volume_weight,
            "legitimate_high_volume": beh.high_volume,
            "home_visit_style": beh.home_style,
            "abuse_type": np.array(ABUSE_TYPES, dtype=object)[prac.abuse_type],
            "abuse_effect": beh.effect,
            "abuse_band": beh.band,
            "partner": partner,
            **{name: beh.ledger[name] for name in LEDGER},
        },
    )
    for name in LEDGER:
        truth.count(
            f"abuse.{name}",
            int(beh.ledger[name].sum()) // (2 if name == "fictitious_dispensings" else 1),
        )


def abuse_manifest(world: Any) -> dict[str, Any]:
    """The ``abusive_providers`` section of the truth manifest (after all chunks)."""
    prac = world.practitioners
    beh: ProviderBehaviour = world.behaviour
    abusive = np.flatnonzero(prac.abuse_type > 0)
    return {
        "types": {
            "upcoding": "GPs bill a share of office consultations (C, 1111) as home visits "
            "(V, 1211)",
            "excess_volume": "GPs, nurses, physiotherapists bill visits/acts a second time "
            "(1-19 days later) with a given probability",
            "phantom_patients": "GPs, nurses bill 2-6 visits/acts for each of N real persons "
            "who did not come (persons with no other care when possible)",
            "collusive_prescriber": "a GP whose regular patients receive fictitious "
            "dispensings of expensive drugs billed by a partner pharmacy",
            "collusive_pharmacy": "the pharmacy billing those dispensings",
        },
        "effect_size": EFFECT_MEANING,
        "effect_bands": {
            ABUSE_TYPES[k]: {"blatant": list(v[0]), "subtle": list(v[1])}
            for k, v in EFFECT_BANDS.items()
        },
        "honest_variation": {
            "volume_weight": "log-normal (sigma 0.5) provider-choice weight",
            "legitimate_high_volume_share": HIGH_VOLUME_SHARE,
            "legitimate_high_volume_factor": HIGH_VOLUME_FACTOR,
            "home_visit_style": "log-normal (sigma 0.4) multiplier of the home-visit "
            "probability of GPs",
            "legitimate_high_volume_providers": int(beh.high_volume.sum()),
        },
        "providers": [
            {
                "pfs_pfs_num": prac.num[i].decode(),
                "kind": KIND_NAMES[int(prac.kind[i])],
                "departement": str(world.territories.dep[prac.dep[i]]),
                "type": ABUSE_TYPES[int(prac.abuse_type[i])],
                "band": str(beh.band[i]),
                "effect_size": round(float(beh.effect[i]), 4),
                "partner": prac.num[beh.partner[i]].decode() if beh.partner[i] >= 0 else None,
                "counts": {name: int(beh.ledger[name][i]) for name in LEDGER},
            }
            for i in abusive
        ],
    }
