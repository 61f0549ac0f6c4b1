"""The fixed "world" shared by all persons: territories, practitioners, establishments.

Built once per run from the seed, before persons are generated chunk by chunk. Practitioner
numbers scale with the population so that densities (e.g. about 150 GPs per 100 000
inhabitants, with the regional spread of ``departements.csv``) are those of France.

Practitioners are organised in *communities* (the injected network truth), which are
geographic: each département's GPs are split into groups of about four, every specialist, nurse,
physiotherapist and dentist of the département joins one of them, and each residence commune of
the département belongs to one community (so neighbours share a community). A patient's
community is that of their commune; they pick their providers inside it with probability
``community_loyalty``, then in their département, their region, France. A département with no
GP (small runs) has no community: its patients join a community of their region.

Behaviour of the practitioners (heavy-tailed practice volumes, home-visit habits) and the
abusive providers are drawn in ``_abuse.py`` (``ProviderBehaviour``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from sndslab.referentials import JURIDICAL_FINESS, finess_geo_duplicates
from sndslab.synth._config import SynthConfig
from sndslab.synth._geography import Communes, build_communes

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
    abuse_type: np.ndarray  # int8 index into ABUSE_TYPES (0 none)

    def __len__(self) -> int:
        return len(self.num)


ABUSE_TYPES = (
    "none",
    "excess_volume",
    "upcoding",
    "phantom_patients",
    "collusive_prescriber",
    "collusive_pharmacy",
)


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
    #: community id → département index
    community_dep: np.ndarray
    #: residence communes (IR_GEO_V) and the community of each (-1: département without GP)
    communes: Communes
    commune_community: np.ndarray
    #: practice volumes, habits and abuse of the practitioners (``_abuse.ProviderBehaviour``)
    behaviour: Any

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

    # -- communities: per département, groups of ~4 GPs; other professionals join one ----------
    community, community_region, community_dep = _communities(config, rng, terr, kind, dep)
    communes = build_communes(config.seed, terr.snds_dpt)
    commune_community = _commune_communities(rng, communes, community, community_dep, kind)

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
        abuse_type=np.zeros(n_prac, np.int8),
    )
    from sndslab.synth._abuse import draw_behaviour  # _abuse imports _world

    behaviour = draw_behaviour(config, practitioners, terr)

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
        community_dep=community_dep,
        communes=communes,
        commune_community=commune_community,
        behaviour=behaviour,
    )


def _communities(
    config: SynthConfig,
    rng: np.random.Generator,
    terr: Territories,
    kind: np.ndarray,
    dep: np.ndarray,
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Community of every practitioner (-1: none), and the region and département of each
    community. Communities never cross a département: GPs of a département are split into
    groups of about four (or ``n_communities_per_region`` shared among the region's
    départements by GP count); specialists, nurses, physiotherapists and dentists join a
    community of their département, or none when it has no GP."""
    community = np.full(len(kind), -1, np.int32)
    community_region: list[str] = []
    community_dep: list[int] = []
    setting = config.truth.n_communities_per_region
    gps_per_dep = np.bincount(dep[kind == GP], minlength=len(terr.dep))
    gps_per_region = {r: gps_per_dep[terr.region == r].sum() for r in terr.regions}
    for d in np.flatnonzero(gps_per_dep > 0):
        gps = np.flatnonzero((dep == d) & (kind == GP))
        if setting:
            n_comm = max(1, round(setting * len(gps) / gps_per_region[terr.region[d]]))
        else:
            n_comm = max(1, round(len(gps) / 4))
        n_comm = min(n_comm, len(gps))
        first = len(community_region)
        ids = np.arange(first, first + n_comm, dtype=np.int32)
        community_region.extend([str(terr.region[d])] * n_comm)
        community_dep.extend([int(d)] * n_comm)
        community[gps] = ids[rng.permutation(len(gps)) % n_comm]
        others = np.flatnonzero((dep == d) & np.isin(kind, (SPECIALIST, NURSE, PHYSIO, DENTIST)))
        community[others] = ids[rng.integers(0, n_comm, len(others))]
    return community, community_region, np.array(community_dep, np.int16)


def _commune_communities(
    rng: np.random.Generator,
    communes: Communes,
    community: np.ndarray,
    community_dep: np.ndarray,
    kind: np.ndarray,
) -> np.ndarray:
    """Community of each residence commune: one of its département's communities, drawn in
    proportion to their GP counts (-1 where the département has none)."""
    out = np.full(len(communes), -1, np.int64)
    gp_count = np.bincount(community[(kind == GP) & (community >= 0)], minlength=len(community_dep))
    for d in np.unique(community_dep):
        comms = np.flatnonzero(community_dep == d)
        sl = slice(communes.start[d], communes.start[d] + communes.count[d])
        p = gp_count[comms] / gp_count[comms].sum()
        out[sl] = comms[rng.choice(len(comms), communes.count[d], p=p)]
    return out


def _weighted_pick(
    rng: np.random.Generator, pool: np.ndarray, weight: np.ndarray, n: int
) -> np.ndarray:
    """``n`` draws from ``pool`` in proportion to ``weight[pool]``."""
    p = weight[pool] / weight[pool].sum()
    return pool[rng.choice(len(pool), n, p=p)]


def choose_regular_providers(
    rng: np.random.Generator, world: World, dep: np.ndarray, commune: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Community, regular GP, usual pharmacy and laboratory of persons living in ``commune``
    (global commune index) of département ``dep``.

    The community is the commune's (persons of a département without GP join a community of
    their region, in proportion to GP counts); the GP is a GP of the community and the pharmacy
    and laboratory are in the département (else the region), all in proportion to the
    practitioners' volume weights. Loops over départements and communities, vectorised inside.
    """
    n = len(dep)
    prac = world.practitioners
    terr = world.territories
    weight = world.behaviour.volume_weight
    community = world.commune_community[commune].astype(np.int32)
    gp_comm_size = np.bincount(
        prac.community[(prac.kind == GP) & (prac.community >= 0)],
        minlength=len(world.community_dep),
    ).astype(np.float64)
    region_of_comm = terr.region[world.community_dep]
    for d in np.unique(dep[community < 0]):
        who = np.flatnonzero((dep == d) & (community < 0))
        comms = np.flatnonzero(region_of_comm == terr.region[d])
        if len(comms) == 0:
            comms = np.arange(len(world.community_dep))
        p = gp_comm_size[comms] / gp_comm_size[comms].sum()
        community[who] = comms[rng.choice(len(comms), len(who), p=p)]
    gp = np.empty(n, np.int32)
    for c in np.unique(community):
        who = np.flatnonzero(community == c)
        own = np.flatnonzero((prac.kind == GP) & (prac.community == c))
        gp[who] = _weighted_pick(rng, own, weight, len(who))
    pharmacy = np.empty(n, np.int32)
    lab = np.empty(n, np.int32)
    prac_region = terr.region[prac.dep]
    for d in np.unique(dep):
        who = np.flatnonzero(dep == d)
        for out, kind in ((pharmacy, PHARMACY), (lab, LAB)):
            pool = np.flatnonzero((prac.kind == kind) & (prac.dep == d))
            if len(pool) == 0:
                pool = np.flatnonzero((prac.kind == kind) & (prac_region == terr.region[d]))
            out[who] = _weighted_pick(rng, pool, weight, len(who))
    return community, gp, pharmacy, lab
