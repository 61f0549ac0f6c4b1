"""Residence communes, residential moves and the supply-induced demand of GP care.

**Communes.** Every person lives in one commune of IR_GEO_V (the SNDS "Géographie
Administrative et Sanitaire" referential, vendored from indsante/schema-snds and copied into
the raw export), inside their département. The placeholder rows of IR_GEO_V (``000``
"commune absente", ``999`` "commune inconnue") and the whole-city codes that also exist split
by arrondissement (Paris ``056``) are never drawn. IR_GEO_V has no population, so commune sizes
are heavy-tailed synthetic weights (log-normal, σ = 1.5, drawn once per run): French commune
populations span 10 to 2 million inhabitants with a median of about 450 (INSEE, recensement),
so a few communes of each département hold most of its residents.

**Moves.** A person changes commune at most once over the study period, with a yearly
probability ``move_rate_per_year`` (about 5 % a year; INSEE reports that about 11 % of the
population changes dwelling each year, a third of them within the same commune, and that most
of the others stay in their département). A move stays in the département with probability
``move_within_departement``, otherwise it goes to another département of the same region.
Care after the move is billed with the new BEN_RES_COM / BEN_RES_DPT (DCIR) and the new PMSI
residence code; IR_BEN_R keeps the last known residence. Practitioners, fund and regional
risks stay those of the first département (a mover keeps their GP). The truth table
``residences`` records every residence period.

**PMSI residence code.** BDI_DEP / BDI_COD hold the 2-character département and the 5-character
INSEE commune code (département + GEO_COM_COD; ``97`` + GEO_COM_COD overseas). The real PMSI
carries a postcode-based "code géographique PMSI"; the ATIH correspondence table that maps it
to communes is not vendored, so the INSEE code stands in for it.

**Supply-induced demand.** The GP visit rate of a person rises with the GP density of their
département: ``slope`` extra consultations per person per year per +100 GPs per 100,000
inhabitants, relative to the population-weighted national mean density, spread in proportion to
the person's care intensity. The 2015 Open DAMIR hackathon (Etalab / CNAM open data, 2013
reimbursements) measured about +0.5 GP consultation per affiliate per year per +100 GPs per
100,000 once the age structure was controlled. Densities are ``departements.csv``
``gp_per_100k`` (DREES 2022, 52 to 274).
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import numpy as np

from sndslab.synth._ids import NO_DAY

#: IR_GEO_V commune codes that are placeholders or whole-city codes also split by arrondissement.
EXCLUDED_COMMUNES = {"000", "999"}
EXCLUDED_CITY_CODES = {("075", "056")}
#: σ of the log-normal commune weights (heavy tail of commune populations).
COMMUNE_WEIGHT_SIGMA = 1.5


@dataclass(frozen=True)
class Communes:
    """The communes of IR_GEO_V that persons can live in, grouped by département index."""

    dep: np.ndarray  # int16 département index (Territories order)
    code: np.ndarray  # object str GEO_COM_COD (3 characters)
    insee: np.ndarray  # object str 5-character INSEE commune code
    weight: np.ndarray  # float64, sums to 1 within each département
    start: np.ndarray  # int64 first commune of each département (communes sorted by dep)
    count: np.ndarray  # int64 communes per département

    def __len__(self) -> int:
        return len(self.code)

    def draw(self, rng: np.random.Generator, dep: np.ndarray) -> np.ndarray:
        """One commune (global index) per département index in ``dep``, by commune weight."""
        cum = np.cumsum(self.weight)
        before = np.where(self.start > 0, cum[np.maximum(self.start - 1, 0)], 0.0)
        lo = before[dep]
        target = lo + rng.random(len(dep)) * (cum[self.start[dep] + self.count[dep] - 1] - lo)
        idx = np.searchsorted(cum, target, side="right")
        return np.clip(idx, self.start[dep], self.start[dep] + self.count[dep] - 1).astype(np.int64)


def _ir_geo_v_rows() -> list[tuple[str, str]]:
    path = files("sndslab.registry").joinpath("nomenclatures/ORAVAL/IR_GEO_V.csv")
    text = path.read_bytes().decode("utf-8")
    reader = csv.DictReader(io.StringIO(text), delimiter=";")
    return [(r["GEO_DPT_COD"], r["GEO_COM_COD"]) for r in reader]


def insee_code(snds_dpt: str, com: str) -> str:
    """5-character INSEE commune code of an IR_GEO_V (GEO_DPT_COD, GEO_COM_COD) pair."""
    prefix = "97" if snds_dpt.startswith("97") else snds_dpt[1:]
    return prefix + com


def build_communes(seed: int, snds_dpt: np.ndarray) -> Communes:
    """Residence communes of every département of the run (IR_GEO_V rows, synthetic weights).

    Raises ``ValueError`` when a département has no drawable commune in IR_GEO_V.
    """
    index = {str(d): i for i, d in enumerate(snds_dpt)}
    rows = sorted(
        (index[d], c)
        for d, c in _ir_geo_v_rows()
        if d in index and c not in EXCLUDED_COMMUNES and (d, c) not in EXCLUDED_CITY_CODES
    )
    dep = np.array([r[0] for r in rows], np.int16)
    code = np.array([r[1] for r in rows], dtype=object)
    count = np.bincount(dep, minlength=len(snds_dpt)).astype(np.int64)
    missing = [str(snds_dpt[i]) for i in np.flatnonzero(count == 0)]
    if missing:
        raise ValueError(f"no IR_GEO_V commune for départements {missing}")
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int64)
    rng = np.random.default_rng([seed, 7])
    raw = rng.lognormal(0.0, COMMUNE_WEIGHT_SIGMA, len(code))
    weight = raw / np.bincount(dep, weights=raw)[dep]
    insee = np.array(
        [insee_code(str(snds_dpt[d]), c) for d, c in zip(dep, code, strict=True)], dtype=object
    )
    return Communes(dep=dep, code=code, insee=insee, weight=weight, start=start, count=count)


@dataclass
class Residence:
    """Residence of each person of a chunk: a first commune and at most one move."""

    commune: np.ndarray  # int64 global commune index until the move
    move_day: np.ndarray  # int32 first day in the new commune (NO_DAY: no move)
    new_commune: np.ndarray  # int64 commune after the move (= commune when no move)

    def commune_at(self, person: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Commune index of persons ``person`` on the matching ``day``."""
        moved = np.asarray(day) >= self.move_day[person]
        return np.where(moved, self.new_commune[person], self.commune[person])

    def copy_rows(self, dst: np.ndarray, src: np.ndarray) -> None:
        """Give persons ``dst`` the residence of persons ``src`` (twins)."""
        for arr in (self.commune, self.move_day, self.new_commune):
            arr[dst] = arr[src]


def draw_residence(
    rng: np.random.Generator,
    dep: np.ndarray,
    communes: Communes,
    region: np.ndarray,
    study: tuple[int, int],
    rates: tuple[float, float],
) -> Residence:
    """First commune in département ``dep`` and an optional move during ``study`` (first, last
    day). ``region`` is the region code of every département index; ``rates`` are the yearly
    move rate and the share of moves that stay in the département."""
    start, end = study
    move_rate, within = rates
    n = len(dep)
    commune = communes.draw(rng, dep)
    years = (end - start + 1) / 365.25
    moves = rng.random(n) < 1.0 - (1.0 - move_rate) ** years
    move_day = np.where(moves, start + rng.integers(1, max(end - start, 2), n), NO_DAY)
    new_dep = dep.astype(np.int64).copy()
    leave = moves & (rng.random(n) >= within)
    if leave.any():
        # another département of the same region, by population (the commune count as a proxy)
        same_region = region[None, :] == region[dep[leave]][:, None]
        same_region[np.arange(leave.sum()), dep[leave]] = False
        w = same_region * communes.count[None, :].astype(np.float64)
        has = w.sum(axis=1) > 0
        cum = np.cumsum(w, axis=1)
        u = rng.random(len(w)) * cum[:, -1]
        target = (cum < u[:, None]).sum(axis=1)
        new_dep[np.flatnonzero(leave)[has]] = target[has]
    new_commune = communes.draw(rng, new_dep)
    # a move within the département goes to another commune when there is one
    same = moves & (new_commune == commune) & (communes.count[new_dep] > 1)
    new_commune[same] = communes.start[new_dep[same]] + (
        (new_commune[same] - communes.start[new_dep[same]] + 1) % communes.count[new_dep[same]]
    )
    new_commune = np.where(moves, new_commune, commune)
    return Residence(commune=commune, move_day=move_day.astype(np.int32), new_commune=new_commune)


def residence_truth(chunk: Any, truth: Any) -> None:
    """Truth table ``residences``: one row per residence period of a person (a mover has two)."""
    res: Residence = chunk.persons.residence
    communes: Communes = chunk.world.communes
    snds = chunk.world.territories.snds_dpt
    n = len(res.commune)
    # a move drawn after the person's death never happens
    moves = res.move_day <= chunk.alive_end
    moved = np.flatnonzero(moves)
    person = np.concatenate([np.arange(n), moved])
    commune = np.concatenate([res.commune, res.new_commune[moved]])
    start = np.concatenate([np.full(n, chunk.study_start), res.move_day[moved]])
    end = np.concatenate(
        [np.where(moves, res.move_day - 1, chunk.study_end), np.full(len(moved), chunk.study_end)]
    )
    truth.append(
        "residences",
        {
            "person_id": chunk.persons.pid[person],
            "ben_res_dpt": snds[communes.dep[commune]],
            "ben_res_com": communes.code[commune],
            "insee_commune": communes.insee[commune],
            "start": truth.dates(start),
            "end": truth.dates(end),
        },
    )
    truth.count("residence.moves", len(moved))
    truth.count(
        "residence.moves_other_departement",
        int((communes.dep[res.new_commune[moved]] != communes.dep[res.commune[moved]]).sum()),
    )


def supply_multiplier_extra(
    gp_per_100k: np.ndarray, weight: np.ndarray, slope: float
) -> tuple[np.ndarray, float]:
    """Extra GP visits per person-year for each département (``slope`` per +100 GPs/100,000
    around the population-weighted mean density) and that mean."""
    mean = float(np.sum(gp_per_100k * weight))
    return slope * (gp_per_100k - mean) / 100.0, mean


#: E[frailty ** 0.5] for frailty ~ Gamma(shape 2, scale 0.5) (the care intensity of a person).
MEAN_INTENSITY = math.sqrt(0.5) * math.gamma(2.5) / math.gamma(2.0)


def supply_extra_rate(chunk: Any, intensity: np.ndarray) -> np.ndarray:
    """Extra GP consultations per year of every person of the chunk (supply-induced demand).

    Added to the baseline GP rate, proportional to the care intensity (mean 1 over persons), and
    never below minus the baseline (clipped by the caller)."""
    terr = chunk.world.territories
    extra, _ = supply_multiplier_extra(
        terr.gp_per_100k, terr.weight, chunk.config.truth.supply_gp_visits_per_100_gps
    )
    return extra[chunk.persons.dep] * intensity / MEAN_INTENSITY


def supply_manifest(config: Any, world: Any) -> dict[str, Any]:
    """The ``supply_effect`` section of the truth manifest."""
    terr = world.territories
    slope = config.truth.supply_gp_visits_per_100_gps
    extra, mean = supply_multiplier_extra(terr.gp_per_100k, terr.weight, slope)
    return {
        "outcome": "GP consultations and visits (PRS_NAT_REF 1111, 1211, 1157 by a GP) per "
        "person per year",
        "exposure": "GP density of the person's département (departements.csv gp_per_100k, "
        "GPs per 100,000 inhabitants)",
        "slope_per_100_gps_per_100k": slope,
        "reference_density": mean,
        "model": "GP visit rate = baseline(age, sex) × intensity + slope × (density − "
        "reference_density) / 100 × intensity / E[intensity] (clipped at 0), intensity = "
        "frailty ** 0.5; the slope is therefore the age-adjusted between-département effect",
        "source": "2015 Open DAMIR hackathon (2013 reimbursements): about +0.5 GP consultation "
        "per affiliate per year per +100 GPs per 100,000 once age is controlled",
        "extra_visits_per_year_by_departement": {
            str(d): round(float(e), 4) for d, e in zip(terr.dep, extra, strict=True)
        },
    }


def residence_at(chunk: Any, person: np.ndarray, day: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(département index, global commune index) of persons ``person`` on ``day``.

    Persons built without a residence (unit tests) live in the first commune of their
    département."""
    communes: Communes = chunk.world.communes
    res: Residence | None = chunk.persons.residence
    if res is None:
        dep = chunk.persons.dep[person].astype(np.int64)
        return dep, communes.start[dep]
    commune = res.commune_at(person, day)
    return communes.dep[commune].astype(np.int64), commune
