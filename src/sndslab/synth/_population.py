"""Persons of one chunk: demography, residence, providers and SNDS identity quirks.

Identity truth (``Identities``): one row per pseudonymous beneficiary key (BEN_NIR_PSA,
BEN_RNG_GEM) with its validity period and the person it belongs to. It reproduces the
documented quirks of the SNDS identity chain:

- same-sex twins who are minors share their parent's BEN_NIR_PSA and differ by BEN_RNG_GEM;
- minors covered by both parents have two PSA used interchangeably;
- some adults change PSA during the period (change of rights-opener / scheme);
- provisional NIRs (BEN_CDI_NIR 03/04) have no BEN_NIR_ANO;
- fictitious NIRs (BEN_CDI_NIR 01/05/06/08/09/11, often born "1955") are separate keys used
  for a few anonymous acts of real persons (see ``fictitious_keys``);
- in schemes where BEN_RNG_GEM is the rank in the family (MSA…, snds-data-model §2.2 rule 3),
  minor siblings of different sex or birth year share one BEN_NIR_PSA with ranks 1 and 2
  (``share_family_psa``, role ``family_rank``): the PMSI, which has no rank, can tell them
  apart only by sex and birth year.

Open cohort (:func:`add_entrants`, :func:`settle_entrants`): besides the persons alive on the
first study day, each chunk receives births (mothers among its women aged 15-49, weighted by
age-specific fertility, at ``births_per_1000`` per year; twin deliveries at
``twin_birth_share``) and arrivals (new affiliates: immigration, returns from abroad, at
``arrivals_per_1000``). ``Persons.entry`` is the day a person enters the SNDS (the birth day
for the initial population, whose entry is before the study); care starts at
``max(study_start, entry)`` (``Chunk.care_start``).

Identity difficulties (:func:`inject_identity_difficulties`, :func:`pmsi_nir`), at the rates of
``ArtefactRates`` and recorded per key in ``KeyQuirks`` (truth ``identities.difficulty``):
keys without BEN_NIR_ANO, keys whose birth year or sex disagrees with the person's other keys,
a PSA reused by another adult with rank 2 (a dependant on the rights-opener's PSA before the
2016 PUMa reform, snds-data-model §2.2), PMSI NIR_ANO_17 that match no key or the key of
another person. Source of the quality problems: Documentation-SNDS
``fiches/fiche_beneficiaire.md`` and sndsTools ``R/retrieve_patient_id.R`` (a PSA linked to
several NIR, NIR_ANO missing, birth date or sex varying across rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sndslab.synth._geography import Residence, draw_residence
from sndslab.synth._ids import NO_DAY, day_of, random_codes, year_of
from sndslab.synth._world import World, choose_regular_providers

TWIN_SHARE_OF_MINORS = 0.022  # default of ArtefactRates.twin_share_of_minors
TWO_PARENT_SHARE_OF_MINORS = 0.25
PSA_CHANGE_SHARE_OF_ADULTS = 0.03
PROVISIONAL_NIR_SHARE = 0.004
CMU_SHARE = 0.075

#: Entry reasons (truth ``persons.entry_reason``).
ENTRY_REASONS = ("initial", "birth", "arrival")
INITIAL, BIRTH, ARRIVAL = 0, 1, 2
#: Person ids of entrants: ``ENTRANT_PID_BASE + chunk index * 10**9 + rank`` (above every
#: initial person id, so ``Persons.pid`` stays sorted and initial ids do not depend on births).
ENTRANT_PID_BASE = 10**12
#: Age-specific fertility by 5-year band of the mother (15-19 … 45-49), births per woman per
#: year, France 2019 (INSEE, état civil, taux de fécondité par groupe d'âges; total fertility
#: ≈ 1.87). Only the shape is used: the level is set by ``births_per_1000``.
FERTILITY_AGE_BANDS = np.array([15, 20, 25, 30, 35, 40, 45])
FERTILITY_RATES = np.array([0.009, 0.046, 0.106, 0.129, 0.073, 0.018, 0.001])
#: Share of boys at birth (INSEE: about 105 boys per 100 girls).
BOY_SHARE = 0.512
#: Share of same-sex pairs among twins (monozygotic ≈ 1/3 of twins, all same-sex, plus half
#: of the dizygotic ones).
SAME_SEX_TWIN_SHARE = 2 / 3
#: Age of arrivals: (youngest, oldest + 1, share). An assumed shape, not calibrated: immigrant
#: entries are mostly young adults (INSEE), with children coming with their parents.
ARRIVAL_AGES = ((0, 18, 0.18), (18, 30, 0.42), (30, 45, 0.27), (45, 65, 0.10), (65, 90, 0.03))
#: Share of arrivals still on a provisional NIR (BEN_CDI_NIR 03/04) during the study (assumed).
ARRIVAL_PROVISIONAL_SHARE = 0.25


@dataclass
class Persons:
    """One row per person of the chunk (arrays of equal length)."""

    pid: np.ndarray  # int64 global person id (truth)
    sex: np.ndarray  # int8 1 male, 2 female
    birth: np.ndarray  # int32 day
    dep: np.ndarray  # int16 département index
    community: np.ndarray  # int32
    gp: np.ndarray  # int32 practitioner index (regular GP, "médecin traitant")
    pharmacy: np.ndarray  # int32 usual pharmacy
    lab: np.ndarray  # int32 usual laboratory
    frailty: np.ndarray  # float64, mean 1 (gamma): drives comorbidity and care use
    cmu: np.ndarray  # bool, free complementary cover (C2S)
    death: np.ndarray  # int32 day or NO_DAY (filled after conditions)
    nir_ano: np.ndarray  # S17, b"" for provisional NIRs
    #: day the person enters the SNDS (birth day for the initial population and births)
    entry: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    #: ENTRY_REASONS index: 0 initial (alive at the start), 1 birth, 2 arrival
    entry_reason: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    #: index (in the chunk) of the mother of a person born during the study, else -1
    mother: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        n = len(self.pid)
        if len(self.entry) != n:
            self.entry = self.birth.astype(np.int32).copy()
        if len(self.entry_reason) != n:
            self.entry_reason = np.zeros(n, np.int8)
        if len(self.mother) != n:
            self.mother = np.full(n, -1, np.int64)

    residence: Residence | None = None  # commune and move (``_geography``)

    def __len__(self) -> int:
        return len(self.pid)

    def age_at(self, day: int | np.ndarray) -> np.ndarray:
        """Age of every person in completed years on ``day`` (365.25-day years)."""
        return np.floor((np.asarray(day) - self.birth) / 365.25).astype(np.int64)

    def age_of(self, index: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Age of persons ``index`` on the matching ``day`` (one per event)."""
        return np.floor((np.asarray(day) - self.birth[index]) / 365.25).astype(np.int64)


@dataclass
class Identities:
    """One row per (BEN_NIR_PSA, BEN_RNG_GEM) key: the identity truth."""

    pid: np.ndarray  # int64
    psa: np.ndarray  # S17
    rng_gem: np.ndarray  # int8
    valid_from: np.ndarray  # int32 day
    valid_to: np.ndarray  # int32 day (NO_DAY = still valid)
    cdi_nir: np.ndarray  # object str: "00", "03", "04", "01", …
    role: np.ndarray  # object str: main, second_parent, previous, twin, fictitious

    def __len__(self) -> int:
        return len(self.pid)


def _pyramid_sample(
    rng: np.random.Generator, n: int, ages: np.ndarray, male: np.ndarray, female: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    weights = np.concatenate([male, female]).astype(np.float64)
    cell = rng.choice(len(weights), size=n, p=weights / weights.sum())
    sex = np.where(cell < len(ages), 1, 2).astype(np.int8)
    age = ages[cell % len(ages)].astype(np.int64)
    # 100 = "100 and over": spread over 100-104
    age = np.where(age >= 100, age + rng.integers(0, 5, n), age)
    return sex, age


def make_persons(
    rng: np.random.Generator,
    start_pid: int,
    n: int,
    study_start: int,
    world: World,
    pyramid: tuple[np.ndarray, np.ndarray, np.ndarray],
    twin_share: float = TWIN_SHARE_OF_MINORS,
    study_end: int | None = None,
    move_rates: tuple[float, float] = (0.0, 1.0),
) -> Persons:
    """Draw ``n`` persons alive on ``study_start`` from the age pyramid and the territories;
    ``twin_share`` of the minors are same-sex twins.

    Residence (commune and moves until ``study_end``, at the yearly rate and within-département
    share ``move_rates``) and regular providers come from ``_geography``."""
    study_end = study_start if study_end is None else study_end
    ages, male, female = pyramid
    sex, age = _pyramid_sample(rng, n, ages, male, female)
    birth = (study_start - age * 365.25 - rng.integers(1, 365, n)).astype(np.int32)
    dep, residence, community, gp, pharmacy, lab = _place(
        rng, n, world, (study_start, study_end), move_rates
    )
    frailty = rng.gamma(2.0, 0.5, n)
    cmu = rng.random(n) < CMU_SHARE
    nir_ano = random_codes(rng, n, 17)
    provisional = rng.random(n) < PROVISIONAL_NIR_SHARE
    nir_ano[provisional] = b""
    persons = Persons(
        pid=np.arange(start_pid, start_pid + n, dtype=np.int64),
        sex=sex,
        birth=birth,
        dep=dep,
        community=community,
        gp=gp,
        pharmacy=pharmacy,
        lab=lab,
        frailty=frailty,
        cmu=cmu,
        death=np.full(n, NO_DAY, np.int32),
        nir_ano=nir_ano,
        residence=residence,
    )
    _make_twins(rng, persons, study_start, twin_share)
    return persons


def _place(
    rng: np.random.Generator,
    n: int,
    world: World,
    span: tuple[int, int],
    move_rates: tuple[float, float],
) -> tuple[np.ndarray, Residence, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Département, residence (commune and moves over ``span``), community, regular GP, usual
    pharmacy and laboratory of ``n`` persons (``_geography``)."""
    terr = world.territories
    dep = rng.choice(len(terr.dep), size=n, p=terr.weight).astype(np.int16)
    residence = draw_residence(rng, dep, world.communes, terr.region, span, move_rates)
    community, gp, pharmacy, lab = choose_regular_providers(rng, world, dep, residence.commune)
    return dep, residence, community, gp, pharmacy, lab


def _make_twins(rng: np.random.Generator, persons: Persons, study_start: int, share: float) -> None:
    """Turn pairs of adjacent minors into same-sex twins (same birth date, residence, GP)."""
    minors = np.flatnonzero(persons.age_at(study_start) < 18)
    minors = minors[minors + 1 < len(persons)]
    first = minors[rng.random(len(minors)) < share / 2]
    first = first[np.r_[True, np.diff(first) > 1]] if len(first) else first  # no overlapping pairs
    second = first + 1
    for attr in ("sex", "birth", "dep", "community", "gp", "pharmacy", "lab", "cmu"):
        arr = getattr(persons, attr)
        arr[second] = arr[first]
    if persons.residence is not None:
        persons.residence.copy_rows(second, first)
    persons.twin_pairs = np.stack([first, second], axis=1)  # type: ignore[attr-defined]


def make_identities(
    rng: np.random.Generator, persons: Persons, study_start: int, study_end: int
) -> Identities:
    """Pseudonymous keys of the chunk's persons, with the documented quirks."""
    n = len(persons)
    age = persons.age_at(study_start)
    psa = random_codes(rng, n, 17)
    rng_gem = np.ones(n, np.int8)
    pairs = getattr(persons, "twin_pairs", np.zeros((0, 2), np.int64))
    if len(pairs):
        psa[pairs[:, 1]] = psa[pairs[:, 0]]
        rng_gem[pairs[:, 1]] = 2
    cdi = np.where(persons.nir_ano == b"", rng.choice(np.array(["03", "04"], object), n), "00")
    cdi = cdi.astype(object)
    valid_from = np.maximum(np.minimum(persons.birth, study_start), persons.entry).astype(np.int32)
    valid_to = np.full(n, NO_DAY, np.int32)
    role = np.full(n, "main", dtype=object)
    role[pairs[:, 1] if len(pairs) else []] = "twin"

    # minors covered by both parents: a second key valid over the same period
    two_parents = np.flatnonzero((age < 18) & (rng.random(n) < TWO_PARENT_SHARE_OF_MINORS))
    # adults who changed key during the period: previous key until the switch day
    changers = np.flatnonzero(
        (age >= 18) & (rng.random(n) < PSA_CHANGE_SHARE_OF_ADULTS) & (persons.entry_reason == 0)
    )
    switch = rng.integers(study_start + 30, max(study_start + 31, study_end - 30), len(changers))

    extra_pid = np.concatenate([two_parents, changers])
    n_extra = len(extra_pid)
    extra_psa = random_codes(rng, n_extra, 17)
    extra_from = np.concatenate(
        [valid_from[two_parents], (persons.birth[changers] + 18 * 365).astype(np.int32)]
    )
    extra_to = np.concatenate([np.full(len(two_parents), NO_DAY, np.int32), switch - 1])
    valid_from[changers] = switch.astype(np.int32)
    extra_role = np.array(
        ["second_parent"] * len(two_parents) + ["previous"] * len(changers), dtype=object
    )
    return Identities(
        pid=np.concatenate([persons.pid, persons.pid[extra_pid]]),
        psa=np.concatenate([psa, extra_psa]),
        rng_gem=np.concatenate([rng_gem, np.ones(n_extra, np.int8)]),
        valid_from=np.concatenate([valid_from, extra_from]).astype(np.int32),
        valid_to=np.concatenate([valid_to, extra_to]).astype(np.int32),
        cdi_nir=np.concatenate([cdi, cdi[extra_pid]]),
        role=np.concatenate([role, extra_role]),
    )


def share_family_psa(
    rng: np.random.Generator, persons: Persons, ident: Identities, study_start: int, share: float
) -> int:
    """Give some minors the BEN_NIR_PSA of a sibling (rank 2 in the family); returns how many.

    Pairs are consecutive minors of the chunk (twins excluded) whose sex differs or whose birth
    years are at least two years apart, so that sex and birth year identify each of them. The
    second sibling's main key takes the first one's PSA and rank 2 (role ``family_rank``).
    Modifies ``ident`` in place (main key rows are the person indices).
    """
    minors = np.flatnonzero(persons.age_at(study_start) < 18)
    if len(minors) < 2 or share <= 0:
        return 0
    pairs = getattr(persons, "twin_pairs", np.zeros((0, 2), np.int64))
    first, second = minors[:-1], minors[1:]
    year = year_of(persons.birth)
    distinct = (persons.sex[first] != persons.sex[second]) | (
        np.abs(year[first] - year[second]) >= 2
    )
    free = ~np.isin(first, pairs) & ~np.isin(second, pairs)
    free &= (ident.rng_gem[first] == 1) & (ident.rng_gem[second] == 1)
    chosen = np.flatnonzero(distinct & free & (rng.random(len(first)) < share))
    # a person is in one pair at most: drop a pair whose first sibling is the previous second
    if len(chosen) > 1:
        chosen = chosen[np.r_[True, first[chosen[1:]] != second[chosen[:-1]]]]
    a, b = first[chosen], second[chosen]
    ident.psa[b] = ident.psa[a]
    ident.rng_gem[b] = 2
    ident.role[b] = "family_rank"
    return len(b)


def key_for_events(
    rng: np.random.Generator,
    ident: Identities,
    persons: Persons,
    ev_person: np.ndarray,
    ev_day: np.ndarray,
) -> np.ndarray:
    """Row in ``ident`` of the key used to bill each event (person index ``ev_person``, day).

    The main key by default; the previous key before a switch; the second parent's key for
    about 40 % of a two-parent minor's care.
    """
    n = len(persons)
    main_row = np.arange(n)
    row = main_row[ev_person].copy()
    extra = np.arange(n, len(ident))
    extra = extra[ident.pid[extra] >= 0]  # fictitious keys belong to no person
    if len(extra) == 0 or len(ev_person) == 0:
        return row
    # map person index -> extra row (at most one extra key per person)
    person_of_extra = np.searchsorted(persons.pid, ident.pid[extra])
    extra_of_person = np.full(n, -1, np.int64)
    extra_of_person[person_of_extra] = extra
    ex = extra_of_person[ev_person]
    has = ex >= 0
    is_prev = np.zeros(len(ev_person), bool)
    is_prev[has] = ident.role[ex[has]] == "previous"
    before_switch = is_prev & (ev_day <= ident.valid_to[np.where(has, ex, 0)])
    use_second = has & ~is_prev & (rng.random(len(ev_person)) < 0.4)
    row[before_switch | use_second] = ex[before_switch | use_second]
    return row


def fictitious_keys(rng: np.random.Generator, n: int, start_day: int) -> Identities:
    """``n`` fictitious-NIR keys (no person link in the data; truth keeps the person)."""
    cdi = rng.choice(np.array(["01", "05", "06", "08", "09", "11"], dtype=object), n)
    return Identities(
        pid=np.full(n, -1, np.int64),
        psa=random_codes(rng, n, 17),
        rng_gem=np.ones(n, np.int8),
        valid_from=np.full(n, start_day, np.int32),
        valid_to=np.full(n, NO_DAY, np.int32),
        cdi_nir=cdi,
        role=np.full(n, "fictitious", dtype=object),
    )


FICTITIOUS_BIRTH_DAY = day_of(1955, 1, 1)


# -- open cohort: births and arrivals ------------------------------------------------------------


def add_entrants(
    rng: np.random.Generator,
    persons: Persons,
    world: World,
    study_start: int,
    study_end: int,
    *,
    chunk_index: int,
    births_per_1000: float,
    arrivals_per_1000: float,
    twin_birth_share: float,
    move_rates: tuple[float, float] = (0.0, 1.0),
) -> Persons:
    """``persons`` followed by the chunk's births and arrivals of every study year.

    Births: each woman aged 15-49 of the chunk gives birth in a year with a probability
    proportional to the fertility of her age band, scaled so that the chunk's expected births
    are ``births_per_1000`` per 1,000 of its persons per year (a per-person draw: the expected
    count does not depend on the chunk size). A delivery is a twin one with probability
    ``twin_birth_share`` (same sex with probability 2/3). The newborn lives with its mother
    (département, community, GP, pharmacy, laboratory, C2S). Arrivals: ``arrivals_per_1000``
    per 1,000 persons per year, uniform over the year, ages from ``ARRIVAL_AGES``, placed like
    the initial population. Entrants have ``entry`` > ``study_start`` and ids from
    ``ENTRANT_PID_BASE``.
    """
    n0 = len(persons)
    mothers: list[np.ndarray] = []
    bdays: list[np.ndarray] = []
    adays: list[np.ndarray] = []
    for y in range(
        int(year_of(np.array([study_start]))[0]), int(year_of(np.array([study_end]))[0]) + 1
    ):
        y0, y1 = max(day_of(y, 1, 1), study_start + 1), min(day_of(y, 12, 31), study_end)
        if y1 < y0:
            continue
        span = y1 - y0 + 1
        frac = span / 365.25
        age = persons.age_at(y0 + span // 2)
        fertile = (persons.sex == 2) & (age >= 15) & (age < 50) & (persons.birth < y0)
        band = np.clip((age - 15) // 5, 0, len(FERTILITY_RATES) - 1)
        weight = np.where(fertile, FERTILITY_RATES[band], 0.0)
        deliveries = births_per_1000 / 1000 * n0 * frac / (1 + twin_birth_share)
        p = np.clip(weight * deliveries / max(weight.sum(), 1e-12), 0, 0.9)
        m = np.flatnonzero(rng.random(n0) < p)
        mothers.append(m)
        bdays.append(y0 + np.floor(rng.random(len(m)) * span).astype(np.int64))
        k = int(rng.binomial(n0, min(arrivals_per_1000 / 1000 * frac, 1.0)))
        adays.append(y0 + np.floor(rng.random(k) * span).astype(np.int64))
    mother = np.concatenate(mothers) if mothers else np.zeros(0, np.int64)
    bday = np.concatenate(bdays) if bdays else np.zeros(0, np.int64)
    aday = np.concatenate(adays) if adays else np.zeros(0, np.int64)
    born = _births(rng, persons, mother, bday, twin_birth_share)
    arrived = _arrivals(rng, world, aday, (study_start, study_end), move_rates)
    nb, na = len(born["birth"]), len(arrived["birth"])
    if nb + na == 0:
        return persons
    base = ENTRANT_PID_BASE + chunk_index * 10**9
    add: dict[str, np.ndarray] = {
        k: np.concatenate([born[k], arrived[k]]) for k in born if k != "twin_second"
    }
    out = Persons(
        pid=np.concatenate([persons.pid, base + np.arange(nb + na, dtype=np.int64)]),
        sex=np.concatenate([persons.sex, add["sex"]]).astype(np.int8),
        birth=np.concatenate([persons.birth, add["birth"]]).astype(np.int32),
        dep=np.concatenate([persons.dep, add["dep"]]).astype(np.int16),
        community=np.concatenate([persons.community, add["community"]]).astype(np.int32),
        gp=np.concatenate([persons.gp, add["gp"]]).astype(np.int32),
        pharmacy=np.concatenate([persons.pharmacy, add["pharmacy"]]).astype(np.int32),
        lab=np.concatenate([persons.lab, add["lab"]]).astype(np.int32),
        frailty=np.concatenate([persons.frailty, add["frailty"]]),
        cmu=np.concatenate([persons.cmu, add["cmu"]]).astype(bool),
        death=np.concatenate([persons.death, np.full(nb + na, NO_DAY, np.int32)]),
        nir_ano=np.concatenate([persons.nir_ano, add["nir_ano"]]).astype("S17"),
        entry=np.concatenate([persons.entry, add["entry"]]).astype(np.int32),
        entry_reason=np.concatenate(
            [persons.entry_reason, np.full(nb, BIRTH, np.int8), np.full(na, ARRIVAL, np.int8)]
        ),
        mother=np.concatenate([persons.mother, add["mother"]]).astype(np.int64),
        residence=_concat_residence(persons.residence, add),
    )
    old_pairs = getattr(persons, "twin_pairs", np.zeros((0, 2), np.int64))
    second = n0 + np.flatnonzero(born["twin_second"])
    new_pairs = np.stack([second - 1, second], axis=1)
    out.twin_pairs = np.concatenate([old_pairs, new_pairs]).astype(np.int64)  # type: ignore[attr-defined]
    return out


def _births(
    rng: np.random.Generator,
    persons: Persons,
    mother: np.ndarray,
    day: np.ndarray,
    twin_share: float,
) -> dict[str, np.ndarray]:
    """Newborn columns (a co-twin right after its twin; ``twin_second`` marks the co-twins
    of the same sex, who share the PSA)."""
    twin = rng.random(len(mother)) < twin_share
    count = np.where(twin, 2, 1)
    first = np.repeat(np.arange(len(mother)), count)
    is_second = np.zeros(len(first), bool)
    is_second[np.cumsum(count)[twin] - 1] = True
    m = mother[first]
    n = len(first)
    sex = np.where(rng.random(len(mother)) < BOY_SHARE, 1, 2)[first]
    same = rng.random(n) < SAME_SEX_TWIN_SHARE
    sex = np.where(is_second & ~same, 3 - sex, sex)
    return {
        "sex": sex,
        "birth": day[first],
        "entry": day[first],
        "dep": persons.dep[m],
        "community": persons.community[m],
        "gp": persons.gp[m],
        "pharmacy": persons.pharmacy[m],
        "lab": persons.lab[m],
        "frailty": rng.gamma(2.0, 0.5, n),
        "cmu": persons.cmu[m],
        "nir_ano": random_codes(rng, n, 17),
        "mother": m.astype(np.int64),
        "twin_second": is_second & same,
        **_residence_columns(persons.residence, m),  # a newborn lives (and moves) with its mother
    }


def _residence_columns(residence: Residence | None, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The residence of persons ``rows`` as entrant columns (none without residences)."""
    if residence is None:
        return {}
    return {
        "res_commune": residence.commune[rows],
        "res_move_day": residence.move_day[rows],
        "res_new_commune": residence.new_commune[rows],
    }


def _concat_residence(residence: Residence | None, add: dict[str, np.ndarray]) -> Residence | None:
    """``residence`` followed by the entrants' residences (``_residence_columns``)."""
    if residence is None or "res_commune" not in add:
        return residence
    return Residence(
        commune=np.concatenate([residence.commune, add["res_commune"]]),
        move_day=np.concatenate([residence.move_day, add["res_move_day"]]),
        new_commune=np.concatenate([residence.new_commune, add["res_new_commune"]]),
    )


def _arrivals(
    rng: np.random.Generator,
    world: World,
    day: np.ndarray,
    span: tuple[int, int],
    move_rates: tuple[float, float],
) -> dict[str, np.ndarray]:
    """Columns of new affiliates arriving on ``day`` (residence drawn over ``span``)."""
    n = len(day)
    lo = np.array([a[0] for a in ARRIVAL_AGES])
    hi = np.array([a[1] for a in ARRIVAL_AGES])
    share = np.array([a[2] for a in ARRIVAL_AGES])
    band = rng.choice(len(share), n, p=share / share.sum())
    age = lo[band] + np.floor(rng.random(n) * (hi[band] - lo[band])).astype(np.int64)
    birth = day - np.floor(age * 365.25).astype(np.int64) - rng.integers(1, 365, n)
    dep, residence, community, gp, pharmacy, lab = _place(rng, n, world, span, move_rates)
    nir = random_codes(rng, n, 17)
    nir[rng.random(n) < ARRIVAL_PROVISIONAL_SHARE] = b""
    return {
        "sex": rng.integers(1, 3, n),
        "birth": birth,
        "entry": day,
        "dep": dep,
        "community": community,
        "gp": gp,
        "pharmacy": pharmacy,
        "lab": lab,
        "frailty": rng.gamma(2.0, 0.5, n),
        "cmu": rng.random(n) < CMU_SHARE,
        "nir_ano": nir,
        "mother": np.full(n, -1, np.int64),
        "twin_second": np.zeros(n, bool),
        **_residence_columns(residence, np.arange(n)),
    }


def settle_entrants(
    persons: Persons, cond: Any, death_cause: np.ndarray, study_start: int, study_end: int
) -> None:
    """Move the conditions and deaths of entrants after their entry (in place).

    Conditions and deaths are drawn for everyone from the study start; for an entrant the
    drawn times are counted from its entry instead (exponential times: the same hazard over
    the time it is observed), incident onsets and deaths pushed beyond the study end are
    dropped, and a newborn has no condition present at birth. A mother who would die before
    the birth dies on the delivery day.
    """
    ent = np.flatnonzero(persons.entry > study_start)
    if len(ent) == 0:
        return
    offset = (persons.entry[ent] - study_start).astype(np.int64)
    death = persons.death
    drawn = death[ent].astype(np.int64)
    had = drawn < NO_DAY
    moved = np.where(had, drawn + offset, NO_DAY)
    moved[moved > study_end] = NO_DAY
    death[ent] = moved.astype(np.int32)
    death_cause[ent[had & (moved >= NO_DAY)]] = -1
    onset = cond.onset[ent].astype(np.int64)
    incident = (onset < NO_DAY) & (onset >= study_start)
    born = persons.entry_reason[ent] == BIRTH
    new = np.where(incident, onset + offset[:, None], onset)
    new[~incident & born[:, None]] = NO_DAY
    new[new > study_end] = NO_DAY
    new[new > death[ent][:, None].astype(np.int64)] = NO_DAY
    cond.onset[ent] = new.astype(np.int32)
    cond.prevalent[ent] &= ~born[:, None]
    if hasattr(cond, "subtype"):
        none = (new >= NO_DAY).all(axis=1)
        cond.subtype[ent[none]] = -1
    kids = np.flatnonzero(persons.mother >= 0)
    mom = persons.mother[kids]
    early = death[mom] < persons.birth[kids]
    death[mom[early]] = persons.birth[kids[early]]


# -- identity difficulties ---------------------------------------------------------------------


@dataclass
class KeyQuirks:
    """Identity difficulties per row of ``Identities`` (rows past the arrays: none)."""

    nir_missing: np.ndarray  # bool: no BEN_NIR_ANO in IR_BEN_R
    birth_year_shift: np.ndarray  # int8: recorded birth year − true birth year
    sex_swapped: np.ndarray  # bool: the other sex recorded
    psa_reused: np.ndarray  # bool: the key took another adult's PSA (rank 2)

    @classmethod
    def none(cls, n: int) -> KeyQuirks:
        return cls(np.zeros(n, bool), np.zeros(n, np.int8), np.zeros(n, bool), np.zeros(n, bool))

    def of(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Values of ``name`` for identity ``rows`` (default for rows past the arrays)."""
        arr = getattr(self, name)
        rows = np.asarray(rows, np.int64)
        inside = rows < len(arr)
        out = np.zeros(len(rows), arr.dtype)
        out[inside] = arr[rows[inside]]
        return out

    def labels(self, n: int) -> np.ndarray:
        """Truth label per row: ``;``-joined difficulty names, or None."""
        names = (
            ("nir_ano_missing", self.of("nir_missing", np.arange(n))),
            ("birth_year_disagrees", self.of("birth_year_shift", np.arange(n)) != 0),
            ("sex_disagrees", self.of("sex_swapped", np.arange(n))),
            ("psa_reused", self.of("psa_reused", np.arange(n))),
        )
        out = np.full(n, "", dtype=object)
        for name, mask in names:
            out[mask] = np.where(out[mask] == "", name, out[mask] + ";" + name)
        out[out == ""] = None
        return out


def inject_identity_difficulties(
    rng: np.random.Generator, persons: Persons, ident: Identities, rates: Any, study_start: int
) -> KeyQuirks:
    """Draw the key-level identity difficulties (modifies ``ident`` for reused PSAs).

    - ``psa_reused_rate``: adults (main key, rank 1, PSA of their own) whose key takes the PSA
      of the previous such adult of the chunk with rank 2 (two persons, one PSA);
    - ``nir_ano_missing_rate``: regular-NIR keys without BEN_NIR_ANO;
    - ``birth_sex_disagreement_rate``: persons with several keys whose extra key records a
      birth year ±1 (2/3) or the other sex (1/3).
    """
    n_rows = len(ident)
    n = len(persons)
    quirks = KeyQuirks.none(n_rows)
    start_age = persons.age_at(np.maximum(persons.entry, study_start))
    _, inverse, counts = np.unique(ident.psa, return_inverse=True, return_counts=True)
    own_psa = counts[inverse[:n]] == 1
    adults = np.flatnonzero((start_age >= 18) & own_psa & (ident.rng_gem[:n] == 1))
    if len(adults) > 1:
        first, second = adults[:-1], adults[1:]
        chosen = np.flatnonzero(rng.random(len(second)) < rates.psa_reused_rate)
        if len(chosen) > 1:
            chosen = chosen[np.r_[True, first[chosen[1:]] != second[chosen[:-1]]]]
        a, b = first[chosen], second[chosen]
        ident.psa[b] = ident.psa[a]
        ident.rng_gem[b] = 2
        quirks.psa_reused[b] = True
    real = ident.pid >= 0
    regular = real & (ident.cdi_nir == "00")
    quirks.nir_missing[:] = regular & (rng.random(n_rows) < rates.nir_ano_missing_rate)
    extra = np.arange(n, n_rows)
    extra = extra[real[extra]]
    pick = extra[rng.random(len(extra)) < rates.birth_sex_disagreement_rate]
    sex = rng.random(len(pick)) < 1 / 3
    quirks.sex_swapped[pick[sex]] = True
    quirks.birth_year_shift[pick[~sex]] = rng.choice(np.array([-1, 1], np.int8), (~sex).sum())
    return quirks


#: PMSI NIR_ANO_17 faults (truth): 0 none, 1 matches no key, 2 key of another person.
PMSI_NIR_OK, PMSI_NIR_UNLINKED, PMSI_NIR_WRONG_KEY = 0, 1, 2


def pmsi_nir(
    rng: np.random.Generator,
    ident: Identities,
    persons: Persons,
    key: np.ndarray,
    person: np.ndarray,
    day: np.ndarray,
    rates: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """NIR_ANO_17 of PMSI records billed on identity rows ``key`` and the fault of each
    (``PMSI_NIR_*``): with ``pmsi_nir_unlinked_rate`` a code matching no key, with
    ``pmsi_nir_wrong_key_rate`` the main key of another person: the mother's for a child in
    its first year, a random other person of the chunk otherwise."""
    m = len(key)
    nir = ident.psa[key].copy()
    u = rng.random(m)
    unlinked = u < rates.pmsi_nir_unlinked_rate
    wrong = ~unlinked & (u < rates.pmsi_nir_unlinked_rate + rates.pmsi_nir_wrong_key_rate)
    n = len(persons)
    if n > 1 and wrong.any():
        w = np.flatnonzero(wrong)
        other = (person[w] + rng.integers(1, n, len(w))) % n
        mom = persons.mother[person[w]]
        infant = (mom >= 0) & (np.asarray(day)[w] - persons.birth[person[w]] < 365)
        other = np.where(infant, mom, other)
        nir[w] = ident.psa[other]
    else:
        wrong[:] = False
    nir[unlinked] = random_codes(rng, int(unlinked.sum()), 17)
    fault = np.where(unlinked, PMSI_NIR_UNLINKED, np.where(wrong, PMSI_NIR_WRONG_KEY, PMSI_NIR_OK))
    return nir, fault.astype(np.int8)


def identity_counts(persons: Persons, ident: Identities, quirks: KeyQuirks) -> dict[str, int]:
    """Manifest counts of the chunk's open cohort and key-level identity difficulties."""
    n_rows = len(ident)
    rows = np.arange(n_rows)
    born = persons.entry_reason == BIRTH
    counts = {
        "cohort.births": int(born.sum()),
        "cohort.arrivals": int((persons.entry_reason == ARRIVAL).sum()),
        "cohort.twin_births_same_sex": int(
            ((ident.role == "twin") & np.isin(ident.pid, persons.pid[born])).sum()
        ),
        "identity.twin_keys": int((ident.role == "twin").sum()),
        "identity.psa_reused_keys": int(quirks.of("psa_reused", rows).sum()),
    }
    for y in np.unique(year_of(persons.entry[born])) if born.any() else []:
        counts[f"cohort.births.{int(y)}"] = int((year_of(persons.entry[born]) == y).sum())
    return counts


def open_cohort(
    config: Any, chunk_index: int, persons: Persons, world: World, study_start: int, study_end: int
) -> Persons:
    """``persons`` plus the chunk's births and arrivals (:func:`add_entrants`), drawn from a
    stream of their own (seed, 4, chunk index)."""
    rng = np.random.default_rng([config.seed, 4, chunk_index])
    return add_entrants(
        rng,
        persons,
        world,
        study_start,
        study_end,
        chunk_index=chunk_index,
        births_per_1000=config.truth.births_per_1000,
        arrivals_per_1000=config.truth.arrivals_per_1000,
        twin_birth_share=config.artefacts.twin_birth_share,
        move_rates=(config.truth.move_rate_per_year, config.truth.move_within_departement),
    )


def identity_truth(chunk: Any, truth: Any, table: str) -> dict[str, Any]:
    """Extra truth columns of ``persons`` (entry date and reason, mother) or ``identities``
    (difficulty per key). The ``identities`` call also records the chunk's manifest counts
    (open cohort, identity difficulties, PMSI NIR_ANO_17 faults)."""
    import pyarrow as pa

    persons = chunk.persons
    if table == "persons":
        entered = persons.entry_reason > 0
        has_mother = persons.mother >= 0
        return {
            "entry_date": truth.dates(np.where(entered, persons.entry, 0), ~entered),
            "entry_reason": np.array(ENTRY_REASONS, dtype=object)[persons.entry_reason],
            "mother_id": pa.array(
                persons.pid[np.maximum(persons.mother, 0)], pa.int64(), mask=~has_mother
            ),
        }
    ident = chunk.ident
    quirks = chunk.key_quirks or KeyQuirks.none(0)
    counts = identity_counts(persons, ident, quirks)
    counts.update(chunk.identity_counts)
    for name, n in counts.items():
        truth.count(name, n)
    return {"difficulty": quirks.labels(len(ident))}


def manifest_section(config: Any) -> dict[str, Any]:
    """The manifest's description of the open cohort and of the identity difficulties (their
    realised counts are under ``counts``: ``cohort.*``, ``identity.*``)."""
    a, t = config.artefacts, config.truth
    return {
        "open_cohort": {
            "births_per_1000": t.births_per_1000,
            "arrivals_per_1000": t.arrivals_per_1000,
            "twin_birth_share": a.twin_birth_share,
            "definition": "persons alive on the first study day (`patients`), plus births "
            "(mothers: women 15-49 of the chunk, by age-specific fertility) and arrivals (new "
            "affiliates) during the study; truth persons.entry_date / entry_reason "
            "(initial, birth, arrival) / mother_id; care starts at max(study start, entry)",
            "counts": "cohort.births, cohort.births.<year>, cohort.arrivals, "
            "cohort.twin_births_same_sex",
        },
        "identity_difficulties": {
            "rates": {
                k: getattr(a, k)
                for k in (
                    "nir_ano_missing_rate",
                    "birth_sex_disagreement_rate",
                    "psa_reused_rate",
                    "pmsi_nir_unlinked_rate",
                    "pmsi_nir_wrong_key_rate",
                    "twin_share_of_minors",
                    "family_rank_share_of_minors",
                    "ir_ben_r_missing_rate",
                )
            },
            "truth": "truth/identities.parquet: person_id, role and difficulty per key "
            "(nir_ano_missing, birth_year_disagrees, sex_disagrees, psa_reused); "
            "truth/pmsi_links.parquet: the person of every PMSI record",
            "counts": "identity.nir_ano_missing_keys, identity.birth_year_disagreement_keys, "
            "identity.sex_disagreement_keys (IR_BEN_R rows), identity.psa_reused_keys, "
            "identity.twin_keys, identity.pmsi_nir_unlinked / identity.pmsi_nir_wrong_key "
            "(written PMSI patient-link rows)",
        },
    }
