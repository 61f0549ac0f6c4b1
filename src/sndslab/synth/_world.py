"""The fixed "world" shared by all persons: territories, practitioners, establishments.

Built once per run from the seed, before persons are generated chunk by chunk. Practitioner
numbers scale with the population so that densities (e.g. about 150 GPs per 100 000
inhabitants, with the regional spread of ``departements.csv``) are those of France.

Practitioners are organised in *communities* (the injected network truth): each region's GPs
are split into groups of about four, every specialist, nurse and physiotherapist of the region
joins one of them, and a patient picks their providers inside their own community with
probability ``community_loyalty``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sndslab.referentials import JURIDICAL_FINESS, finess_geo_duplicates
from sndslab.synth._config import SynthConfig

# Practitioner kinds (internal enum).
GP, SPECIALIST, NURSE, PHYSIO, DENTIST, PHARMACY, LAB = range(7)
KIND_NAMES = ("gp", "specialist", "nurse", "physio", "dentist", "pharmacy", "lab")

#: IR_SPE_V specialty → density per 100 000 inhabitants (self-employed + mixed practice, DREES
#: orders of magnitude). GPs (code 1) are handled separately through ``gp_per_100k``.
SPECIALTY_DENSITY: dict[int, float] = {
    3: 7.0,  # cardiology
    5: 5.0,  # dermatology
    6: 12.0,  # radiology
    7: 8.0,  # obstetrics-gynaecology
    8: 5.0,  # gastro-enterology
    11: 4.5,  # ENT
    12: 6.0,  # paediatrics
    13: 4.0,  # pulmonology
    14: 4.0,  # rheumatology
    15: 9.0,  # ophthalmology
    32: 4.0,  # neurology
    33: 12.0,  # psychiatry
    35: 2.5,  # nephrology
    42: 3.0,  # endocrinology
    73: 2.0,  # medical oncology
}
#: Non-physician professions: kind → (IR_ACT_V activity nature, density per 100 000).
OTHER_DENSITY: dict[int, tuple[int, float]] = {
    NURSE: (24, 140.0),
    PHYSIO: (26, 100.0),
    DENTIST: (19, 55.0),
    PHARMACY: (50, 32.0),
    LAB: (30, 6.0),
}

# Establishment kinds.
CHU, CH, CLINIC, SSR_CENTRE, HAD_SERVICE, PSY_HOSPITAL = range(6)
EST_KIND_NAMES = ("chu", "ch", "private_clinic", "ssr_centre", "had_service", "psy_hospital")
#: IR_CET_V-like establishment category and IR_TYE_V-like type per kind.
EST_CATEGORY = {
    CHU: "101",
    CH: "355",
    CLINIC: "365",
    SSR_CENTRE: "109",
    HAD_SERVICE: "127",
    PSY_HOSPITAL: "292",
}
EST_PUBLIC = {
    CHU: True,
    CH: True,
    CLINIC: False,
    SSR_CENTRE: False,
    HAD_SERVICE: False,
    PSY_HOSPITAL: True,
}
#: Region (INSEE code) whose CHU is one of the multi-site groups with duplicate FINESS.
GROUP_OF_REGION = {"11": "APHP", "93": "APHM", "84": "HCL"}


@dataclass(frozen=True)
class Territories:
    """Départements with their weights and regional multipliers (arrays indexed by dep idx)."""

    dep: np.ndarray  # INSEE code ("01", "2A", "971")
    snds_dpt: np.ndarray  # 3-char SNDS code ("001", "02A", "971")
    region: np.ndarray  # INSEE region code
    weight: np.ndarray  # population share (sums to 1)
    gp_per_100k: np.ndarray
    diabetes_rr: np.ndarray
    cardio_rr: np.ndarray

    @property
    def regions(self) -> np.ndarray:
        return np.unique(self.region)


@dataclass(frozen=True)
class Practitioners:
    """One row per health professional or pharmacy/laboratory (→ DA_PRA_R)."""

    num: np.ndarray  # PFS_PFS_NUM, 8 characters (bytes)
    kind: np.ndarray  # int8, GP/SPECIALIST/…
    specialty: np.ndarray  # int16 IR_SPE_V code (0 for non-physicians)
    act_nat: np.ndarray  # int16 IR_ACT_V code (0 for physicians)
    dep: np.ndarray  # int16 dep index
    community: np.ndarray  # int32 community id (-1 for pharmacies and laboratories)
    sex: np.ndarray  # int8
    birth_year: np.ndarray  # int16
    install_year: np.ndarray  # int16
    sector: np.ndarray  # int8 convention sector 1/2
    abuse_type: np.ndarray  # int8: 0 none, 1 excess volume, 2 upcoding, 3 phantom patients

    def __len__(self) -> int:
        return len(self.num)


ABUSE_TYPES = ("none", "excess_volume", "upcoding", "phantom_patients")


@dataclass(frozen=True)
class Establishments:
    """One row per establishment (juridical FINESS for public ones)."""

    finess: np.ndarray  # 9-character FINESS (str)
    kind: np.ndarray  # int8
    dep: np.ndarray  # int16
    region: np.ndarray  # region code (str)
    public: np.ndarray  # bool
    group: np.ndarray  # "APHP"/"APHM"/"HCL" or ""
    name: np.ndarray  # str

    def __len__(self) -> int:
        return len(self.finess)


@dataclass(frozen=True)
class World:
    territories: Territories
    practitioners: Practitioners
    establishments: Establishments
    #: community id → region code
    community_region: np.ndarray
    #: geographic FINESS (str) per multi-site group, used for the duplicate artefact
    group_geo_finess: dict[str, np.ndarray]

    def establishment_of(self, kind: int) -> dict[str, np.ndarray]:
        """Region code → indices of establishments of ``kind`` in that region."""
        est = self.establishments
        out: dict[str, np.ndarray] = {}
        for reg in np.unique(est.region):
            out[str(reg)] = np.flatnonzero((est.region == reg) & (est.kind == kind))
        return out


def _stochastic_round(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    base = np.floor(x)
    return (base + (rng.random(len(x)) < (x - base))).astype(np.int64)


def _finess(rng: np.random.Generator, dep: np.ndarray, taken: set[str]) -> np.ndarray:
    """Synthetic 9-character FINESS numbers: 2-character département + 7 digits, unique."""
    out = []
    for d in dep:
        prefix = str(d)[:2]
        while True:
            code = f"{prefix}{int(rng.integers(0, 10**7)):07d}"
            if code not in taken:
                taken.add(code)
                out.append(code)
                break
    return np.array(out, dtype=object)


def build_territories(departements: dict[str, np.ndarray]) -> Territories:
    pop = np.asarray(departements["population"], dtype=np.float64)
    return Territories(
        dep=np.asarray(departements["dep"], dtype=object),
        snds_dpt=np.asarray(departements["snds_dpt"], dtype=object),
        region=np.asarray(departements["region"], dtype=object),
        weight=pop / pop.sum(),
        gp_per_100k=np.asarray(departements["gp_per_100k"], dtype=np.float64),
        diabetes_rr=np.asarray(departements["diabetes_rr"], dtype=np.float64),
        cardio_rr=np.asarray(departements["cardio_rr"], dtype=np.float64),
    )


def build_world(config: SynthConfig, territories: Territories) -> World:
    """Practitioners, communities and establishments for ``config.patients`` persons."""
    rng = np.random.default_rng([config.seed, 1])
    n = config.patients
    terr = territories
    expected_pop = n * terr.weight

    # -- practitioners: counts per département ----------------------------------------------
    kinds: list[np.ndarray] = []
    specs: list[np.ndarray] = []
    acts: list[np.ndarray] = []
    deps: list[np.ndarray] = []

    def add(kind: int, spe: int, act: int, per_100k: np.ndarray, at_least_per_region: int) -> None:
        counts = _stochastic_round(rng, expected_pop * per_100k / 1e5)
        # guarantee a minimum presence per region (small populations would otherwise have none)
        for reg in terr.regions:
            in_reg = np.flatnonzero(terr.region == reg)
            missing = at_least_per_region - counts[in_reg].sum()
            if missing > 0:
                biggest = in_reg[np.argmax(terr.weight[in_reg])]
                counts[biggest] += missing
        dep_idx = np.repeat(np.arange(len(counts)), counts)
        kinds.append(np.full(len(dep_idx), kind, np.int8))
        specs.append(np.full(len(dep_idx), spe, np.int16))
        acts.append(np.full(len(dep_idx), act, np.int16))
        deps.append(dep_idx.astype(np.int16))

    add(GP, 1, 0, terr.gp_per_100k, 1)
    for spe, dens in SPECIALTY_DENSITY.items():
        add(SPECIALIST, spe, 0, np.full(len(terr.dep), dens), 1)
    for other_kind, (act, dens) in OTHER_DENSITY.items():
        add(other_kind, 0, act, np.full(len(terr.dep), dens), 1)

    kind = np.concatenate(kinds)
    specialty = np.concatenate(specs)
    act_nat = np.concatenate(acts)
    dep = np.concatenate(deps)
    n_prac = len(kind)

    # -- communities: per region, groups of ~4 GPs; other professionals join one ------------------
    community = np.full(n_prac, -1, np.int32)
    community_region: list[str] = []
    region_of_prac = terr.region[dep]
    per_region_setting = config.truth.n_communities_per_region
    for reg in terr.regions:
        in_reg = region_of_prac == reg
        gps = np.flatnonzero(in_reg & (kind == GP))
        n_comm = per_region_setting or max(1, round(len(gps) / 4))
        ids = np.arange(len(community_region), len(community_region) + n_comm, dtype=np.int32)
        community_region.extend([str(reg)] * n_comm)
        community[gps] = ids[rng.permutation(len(gps)) % n_comm]
        others = np.flatnonzero(in_reg & np.isin(kind, (SPECIALIST, NURSE, PHYSIO, DENTIST)))
        community[others] = ids[rng.integers(0, n_comm, len(others))]

    # -- identities --------------------------------------------------------------------------------
    dep_prefix = np.array([str(d)[:2] for d in terr.dep], dtype=object)
    prof_digit = np.where(kind <= SPECIALIST, 1, kind).astype(np.int64)
    seq = np.arange(n_prac, dtype=np.int64) % 100_000
    num = np.array(
        [f"{dep_prefix[d]}{p}{s:05d}" for d, p, s in zip(dep, prof_digit, seq, strict=True)],
        dtype="S8",
    )
    sex = rng.choice(np.array([1, 2], np.int8), n_prac, p=[0.52, 0.48])
    birth_year = rng.integers(1955, 1993, n_prac).astype(np.int16)
    install_year = np.minimum(birth_year + rng.integers(28, 38, n_prac), 2018).astype(np.int16)
    sector = np.where((kind == SPECIALIST) & (rng.random(n_prac) < 0.45), 2, 1).astype(np.int8)

    abuse = np.zeros(n_prac, np.int8)
    eligible = np.flatnonzero(np.isin(kind, (GP, SPECIALIST)))
    n_abusive = round(len(eligible) * config.truth.abusive_provider_share)
    if config.truth.abusive_provider_share > 0:
        n_abusive = max(n_abusive, min(3, len(eligible)))
    if n_abusive:
        chosen = rng.choice(eligible, n_abusive, replace=False)
        abuse[chosen] = (np.arange(n_abusive) % 3 + 1).astype(np.int8)

    practitioners = Practitioners(
        num=num,
        kind=kind,
        specialty=specialty,
        act_nat=act_nat,
        dep=dep,
        community=community,
        sex=sex,
        birth_year=birth_year,
        install_year=install_year,
        sector=sector,
        abuse_type=abuse,
    )

    # -- establishments ---------------------------------------------------------------------------
    dup = finess_geo_duplicates()
    taken: set[str] = set(dup) | set(JURIDICAL_FINESS.values())
    e_kind: list[int] = []
    e_dep: list[int] = []
    e_fin: list[str] = []
    e_group: list[str] = []
    for reg in terr.regions:
        in_reg = np.flatnonzero(terr.region == reg)
        main_dep = int(in_reg[np.argmax(terr.weight[in_reg])])
        group = GROUP_OF_REGION.get(str(reg), "")
        e_kind.append(CHU)
        e_dep.append(main_dep)
        e_fin.append(JURIDICAL_FINESS[group] if group else "")
        e_group.append(group)
        for k in (SSR_CENTRE, HAD_SERVICE, PSY_HOSPITAL):
            e_kind.append(k)
            e_dep.append(main_dep)
            e_fin.append("")
            e_group.append("")
        for d in in_reg:
            for k in (CH, CLINIC):
                e_kind.append(k)
                e_dep.append(int(d))
                e_fin.append("")
                e_group.append("")
    e_dep_arr = np.array(e_dep, np.int16)
    fin = np.array(e_fin, dtype=object)
    blank = fin == ""
    fin[blank] = _finess(rng, terr.dep[e_dep_arr[blank]], taken)
    e_kind_arr = np.array(e_kind, np.int8)
    names = np.array(
        [
            f"{EST_KIND_NAMES[k].upper().replace('_', ' ')} {terr.dep[d]}-{i}"
            for i, (k, d) in enumerate(zip(e_kind_arr, e_dep_arr, strict=True))
        ],
        dtype=object,
    )
    establishments = Establishments(
        finess=fin,
        kind=e_kind_arr,
        dep=e_dep_arr,
        region=terr.region[e_dep_arr],
        public=np.array([EST_PUBLIC[int(k)] for k in e_kind_arr]),
        group=np.array(e_group, dtype=object),
        name=names,
    )
    group_geo: dict[str, list[str]] = {}
    for code, grp in dup.items():
        if len(code) == 9:
            group_geo.setdefault(grp, []).append(code)
    return World(
        territories=terr,
        practitioners=practitioners,
        establishments=establishments,
        community_region=np.array(community_region, dtype=object),
        group_geo_finess={g: np.array(sorted(v), dtype=object) for g, v in group_geo.items()},
    )
