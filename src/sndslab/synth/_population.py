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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sndslab.synth._geography import Residence, draw_residence
from sndslab.synth._ids import NO_DAY, day_of, random_codes, year_of
from sndslab.synth._world import World, choose_regular_providers

TWIN_SHARE_OF_MINORS = 0.012
TWO_PARENT_SHARE_OF_MINORS = 0.25
PSA_CHANGE_SHARE_OF_ADULTS = 0.03
PROVISIONAL_NIR_SHARE = 0.004
CMU_SHARE = 0.075


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
    study_end: int | None = None,
    move_rates: tuple[float, float] = (0.0, 1.0),
) -> Persons:
    """Draw ``n`` persons alive on ``study_start`` from the age pyramid and the territories.

    Residence (commune and moves until ``study_end``, at the yearly rate and within-département
    share ``move_rates``) and regular providers come from ``_geography``."""
    study_end = study_start if study_end is None else study_end
    ages, male, female = pyramid
    sex, age = _pyramid_sample(rng, n, ages, male, female)
    birth = (study_start - age * 365.25 - rng.integers(1, 365, n)).astype(np.int32)
    terr = world.territories
    dep = rng.choice(len(terr.dep), size=n, p=terr.weight).astype(np.int16)
    residence = draw_residence(
        rng, dep, world.communes, terr.region, (study_start, study_end), move_rates
    )
    community, gp, pharmacy, lab = choose_regular_providers(rng, world, dep, residence.commune)

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
    _make_twins(rng, persons, study_start)
    return persons


def _make_twins(rng: np.random.Generator, persons: Persons, study_start: int) -> None:
    """Turn pairs of adjacent minors into same-sex twins (same birth date, residence, GP)."""
    minors = np.flatnonzero(persons.age_at(study_start) < 18)
    minors = minors[minors + 1 < len(persons)]
    first = minors[rng.random(len(minors)) < TWIN_SHARE_OF_MINORS / 2]
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
    valid_from = np.minimum(persons.birth, study_start).astype(np.int32)
    valid_to = np.full(n, NO_DAY, np.int32)
    role = np.full(n, "main", dtype=object)
    role[pairs[:, 1] if len(pairs) else []] = "twin"

    # minors covered by both parents: a second key valid over the same period
    two_parents = np.flatnonzero((age < 18) & (rng.random(n) < TWO_PARENT_SHARE_OF_MINORS))
    # adults who changed key during the period: previous key until the switch day
    changers = np.flatnonzero((age >= 18) & (rng.random(n) < PSA_CHANGE_SHARE_OF_ADULTS))
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
