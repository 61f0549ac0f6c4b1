"""Typed, validated access to the synthetic generator's reference data.

The files live in ``sndslab/synth/data`` (see ``SOURCES.md`` there). Every loader is cached and
validates its file on first use, raising :class:`ValueError` that names the file and the field at
fault. Nothing here reads outside the package.

Example
-------
>>> from sndslab.synth import _refdata as rd
>>> deps = rd.departements()
>>> deps.num_rows
101
>>> spec = rd.conditions()["diabetes"]
>>> spec.ald_number, 0.0 < spec.ald_share <= 1.0
(8, True)
>>> round(rd.expected_prevalence("diabetes"), 2) > 0.0
True
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

__all__ = [
    "BiologySpec",
    "CcamSpec",
    "ConditionSpec",
    "FallSpec",
    "Mortality",
    "SubtypeSpec",
    "age_pyramid",
    "causes_of_death",
    "conditions",
    "departements",
    "drugs",
    "ean13_is_valid",
    "expected_prevalence",
    "fall_spec",
    "general_care",
    "ghm_roots",
    "mortality",
    "prevalence_at",
    "ucd_drugs",
]

_PKG = "sndslab.synth.data"
FALL_RISK_CLASSES = frozenset(
    {
        "benzodiazepine",
        "z_drug",
        "antidepressant_ssri",
        "antidepressant_tca",
        "antidepressant_other",
        "antipsychotic",
        "opioid",
        "antiepileptic",
        "alpha_blocker",
        "loop_diuretic",
        "antihypertensive_central",
        "dopaminergic",
        "hypoglycaemic_sulfonylurea",
        "insulin",
        "muscle_relaxant",
        "sedative_antihistamine",
    }
)
NAT_REF_BY_RATE = {100: 3311, 65: 3313, 30: 3312, 15: 3341}
CONDITION_KEYS = (
    "diabetes",
    "hypertension",
    "heart_failure",
    "atrial_fibrillation",
    "coronary_disease",
    "dyslipidaemia",
    "stroke",
    "copd_asthma",
    "depression",
    "anxiety_insomnia",
    "psychosis",
    "dementia",
    "parkinson",
    "epilepsy",
    "osteoporosis",
    "cancer",
    "chronic_kidney_disease",
    "hypothyroidism",
)


def _text(name: str) -> str:
    return resources.files(_PKG).joinpath(name).read_text(encoding="utf-8")


def _csv_rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_text(name))))


def _yaml(name: str) -> dict[str, Any]:
    data = yaml.safe_load(_text(name))
    if not isinstance(data, dict):
        raise ValueError(f"{name}: top level must be a mapping")
    return data


def _fail(name: str, field: str, msg: str) -> ValueError:
    return ValueError(f"{name}: field {field!r}: {msg}")


def _prob(name: str, field: str, value: Any) -> float:
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise _fail(name, field, f"probability {v} outside [0, 1]")
    return v


def _nonneg(name: str, field: str, value: Any) -> float:
    v = float(value)
    if v < 0 or not np.isfinite(v):
        raise _fail(name, field, f"value {v} must be finite and >= 0")
    return v


def ean13_is_valid(code: str) -> bool:
    """True when ``code`` is 13 digits with a correct EAN-13 check digit.

    >>> ean13_is_valid("3400930079195")
    True
    >>> ean13_is_valid("3400930079196")
    False
    """
    if len(code) != 13 or not code.isdigit():
        return False
    s = sum(int(c) * (3 if i % 2 else 1) for i, c in enumerate(code[:12]))
    return (10 - s % 10) % 10 == int(code[12])


# --------------------------------------------------------------------------- tables


@lru_cache(maxsize=1)
def departements() -> pa.Table:
    """The 101 départements with sampling weights and regional multipliers.

    >>> t = departements()
    >>> t.column("snds_dpt").to_pylist()[:2]
    ['001', '002']
    """
    name = "departements.csv"
    rows = _csv_rows(name)
    if len(rows) != 101:
        raise _fail(name, "dep", f"expected 101 rows, got {len(rows)}")
    seen: set[str] = set()
    for r in rows:
        dep, snds = r["dep"], r["snds_dpt"]
        if dep in seen:
            raise _fail(name, "dep", f"duplicate {dep}")
        seen.add(dep)
        if len(snds) != 3 or not snds.endswith(dep[-2:]):
            raise _fail(name, "snds_dpt", f"{snds!r} inconsistent with dep {dep!r}")
        if int(r["population"]) <= 0:
            raise _fail(name, "population", f"{dep}: must be > 0")
        for col in ("gp_per_100k", "diabetes_rr", "cardio_rr"):
            _nonneg(name, col, r[col])
        if r["urban"] not in {"0", "1"}:
            raise _fail(name, "urban", f"{dep}: must be 0/1")
    return pa.table(
        {
            "dep": [r["dep"] for r in rows],
            "snds_dpt": [r["snds_dpt"] for r in rows],
            "name": [r["name"] for r in rows],
            "region": [r["region"] for r in rows],
            "region_name": [r["region_name"] for r in rows],
            "population": pa.array([int(r["population"]) for r in rows], pa.int64()),
            "gp_per_100k": pa.array([float(r["gp_per_100k"]) for r in rows], pa.float64()),
            "diabetes_rr": pa.array([float(r["diabetes_rr"]) for r in rows], pa.float64()),
            "cardio_rr": pa.array([float(r["cardio_rr"]) for r in rows], pa.float64()),
            "urban": pa.array([r["urban"] == "1" for r in rows], pa.bool_()),
        }
    )


@lru_cache(maxsize=1)
def age_pyramid() -> pa.Table:
    """Population by single year of age 0..100 (100 = 100+), columns ``age, male, female``.

    >>> t = age_pyramid()
    >>> 66e6 < sum(t.column("male").to_pylist()) + sum(t.column("female").to_pylist()) < 68e6
    True
    """
    name = "age_pyramid.csv"
    rows = _csv_rows(name)
    ages = [int(r["age"]) for r in rows]
    if ages != list(range(101)):
        raise _fail(name, "age", "ages must be exactly 0..100 in order")
    for r in rows:
        for col in ("male", "female"):
            if int(r[col]) < 0:
                raise _fail(name, col, f"age {r['age']}: negative count")
    return pa.table(
        {
            "age": pa.array(ages, pa.int16()),
            "male": pa.array([int(r["male"]) for r in rows], pa.int64()),
            "female": pa.array([int(r["female"]) for r in rows], pa.int64()),
        }
    )


@lru_cache(maxsize=1)
def drugs() -> pa.Table:
    """IR_PHA_R-like referential, one row per presentation (CIP13).

    >>> t = drugs()
    >>> len(set(t.column("atc").to_pylist())) >= 450
    True
    """
    name = "drugs.csv"
    rows = _csv_rows(name)
    uses = set(CONDITION_KEYS) | {"general"}
    cips: set[str] = set()
    cip7s: set[str] = set()
    for r in rows:
        atc = r["atc"]
        if len(atc) != 7 or not (atc[0].isalpha() and atc[1:3].isdigit() and atc[5:].isdigit()):
            raise _fail(name, "atc", f"{atc!r} is not an ATC level-5 code")
        if r["use"] not in uses:
            raise _fail(name, "use", f"{atc}: unknown use {r['use']!r}")
        if r["fall_risk_class"] and r["fall_risk_class"] not in FALL_RISK_CLASSES:
            raise _fail(name, "fall_risk_class", f"{atc}: unknown {r['fall_risk_class']!r}")
        rate = int(r["reimb_rate"])
        if rate not in NAT_REF_BY_RATE:
            raise _fail(name, "reimb_rate", f"{atc}: {rate} not in 15/30/65/100")
        if int(r["pha_nat_ref"]) != NAT_REF_BY_RATE[rate]:
            raise _fail(
                name, "pha_nat_ref", f"{atc}: {r['pha_nat_ref']} inconsistent with rate {rate}"
            )
        cip = r["cip13"]
        if not cip.startswith("34009") or not ean13_is_valid(cip):
            raise _fail(name, "cip13", f"{cip!r} is not a valid 34009 EAN-13")
        if cip in cips:
            raise _fail(name, "cip13", f"duplicate {cip}")
        cips.add(cip)
        if len(r["cip7"]) != 7 or not r["cip7"].isdigit() or r["cip7"] in cip7s:
            raise _fail(name, "cip7", f"invalid or duplicate {r['cip7']!r}")
        cip7s.add(r["cip7"])
        _nonneg(name, "annual_users_per_1000", r["annual_users_per_1000"])
        _nonneg(name, "elderly_factor", r["elderly_factor"])
        if int(r["units_per_box"]) <= 0 or int(r["days_per_box"]) <= 0:
            raise _fail(name, "units_per_box/days_per_box", f"{cip}: must be > 0")
        if float(r["box_price_eur"]) <= 0:
            raise _fail(name, "box_price_eur", f"{cip}: must be > 0")
    return pa.table(
        {
            "atc": [r["atc"] for r in rows],
            "inn": [r["inn"] for r in rows],
            "atc_label": [r["atc_label"] for r in rows],
            "use": [r["use"] for r in rows],
            "annual_users_per_1000": pa.array([float(r["annual_users_per_1000"]) for r in rows]),
            "elderly_factor": pa.array([float(r["elderly_factor"]) for r in rows]),
            "fall_risk_class": [r["fall_risk_class"] or None for r in rows],
            "reimb_rate": pa.array([int(r["reimb_rate"]) for r in rows], pa.int16()),
            "pha_nat_ref": pa.array([int(r["pha_nat_ref"]) for r in rows], pa.int32()),
            "cip13": [r["cip13"] for r in rows],
            "cip7": [r["cip7"] for r in rows],
            "presentation": [r["presentation"] for r in rows],
            "units_per_box": pa.array([int(r["units_per_box"]) for r in rows], pa.int32()),
            "box_price_eur": pa.array([float(r["box_price_eur"]) for r in rows]),
            "days_per_box": pa.array([int(r["days_per_box"]) for r in rows], pa.int32()),
            "ddd_mg": pa.array(
                [float(r["ddd_mg"]) if r["ddd_mg"] else None for r in rows], pa.float64()
            ),
        }
    )


@lru_cache(maxsize=1)
def ucd_drugs() -> pa.Table:
    """Hospital-only drugs (UCD13 codes from NU_UCD_R) with approximate unit prices."""
    name = "ucd_drugs.csv"
    rows = _csv_rows(name)
    seen: set[str] = set()
    for r in rows:
        code = r["ucd13"]
        if len(code) != 13 or not code.isdigit() or code in seen:
            raise _fail(name, "ucd13", f"invalid or duplicate {code!r}")
        seen.add(code)
        if r["use"] not in set(CONDITION_KEYS) | {"general"}:
            raise _fail(name, "use", f"{code}: unknown use {r['use']!r}")
        if float(r["unit_price_eur"]) <= 0:
            raise _fail(name, "unit_price_eur", f"{code}: must be > 0")
    return pa.table(
        {
            "ucd13": [r["ucd13"] for r in rows],
            "label": [r["label"] for r in rows],
            "use": [r["use"] for r in rows],
            "unit_price_eur": pa.array([float(r["unit_price_eur"]) for r in rows]),
        }
    )


@lru_cache(maxsize=1)
def ghm_roots() -> pa.Table:
    """GHM roots (5 characters) with the ICD-10 DP prefixes that group to them."""
    name = "ghm.csv"
    rows = _csv_rows(name)
    seen: set[str] = set()
    for r in rows:
        root = r["ghm_root"]
        if len(root) != 5 or root[2] not in "MCKZ" or root[2] != r["type"] or root[:2] != r["cmd"]:
            raise _fail(name, "ghm_root", f"{root!r} inconsistent with cmd/type")
        if root in seen:
            raise _fail(name, "ghm_root", f"duplicate {root}")
        seen.add(root)
        if not r["dp_prefixes"].split():
            raise _fail(name, "dp_prefixes", f"{root}: empty")
    return pa.table(
        {
            "ghm_root": [r["ghm_root"] for r in rows],
            "label": [r["label"] for r in rows],
            "cmd": [r["cmd"] for r in rows],
            "type": [r["type"] for r in rows],
            "dp_prefixes": [r["dp_prefixes"].split() for r in rows],
        }
    )


# --------------------------------------------------------------------------- conditions


@dataclass(frozen=True)
class BiologySpec:
    nabm: str
    per_year: float


@dataclass(frozen=True)
class CcamSpec:
    code: str
    per_year: float


@dataclass(frozen=True)
class SubtypeSpec:
    key: str
    icd10: tuple[str, ...]
    sex: int | None
    weight: float
    drug_atc: tuple[str, ...]
    ccam: tuple[CcamSpec, ...]
    mortality_hr: float


@dataclass(frozen=True)
class ConditionSpec:
    """One latent condition; see ``conditions.yaml`` for field meanings."""

    key: str
    label: str
    source: str
    prevalence_ages: tuple[int, ...]
    prevalence_values: tuple[float, ...]
    male_rr: float
    regional_column: str | None
    annual_incidence_share: float
    icd10_main: tuple[str, ...]
    ald_number: int | None
    ald_etm_nat: str | None
    ald_share: float
    drug_atc: tuple[str, ...]
    dispensings_per_year: float
    specialist: int | None
    specialist_visits_per_year: float
    gp_visits_extra_per_year: float
    biology: tuple[BiologySpec, ...]
    ccam: tuple[CcamSpec, ...]
    hosp_rate_per_year: float
    stay_dp: tuple[str, ...]
    stay_los_mean: float
    stay_surgical_share: float
    ssr_after_stay_share: float
    had_share: float
    psy_share: float
    mortality_hr: float
    death_causes: tuple[str, ...]
    subtypes: tuple[SubtypeSpec, ...] = ()

    def prevalence(self, age: np.ndarray | float, male: np.ndarray | bool) -> np.ndarray:
        """Prevalence at ``age`` for ``male`` (bool) before the regional multiplier."""
        base = np.interp(age, self.prevalence_ages, self.prevalence_values)
        return np.asarray(base * np.where(male, self.male_rr, 1.0), dtype=float)


def _ccams(name: str, field: str, items: Any) -> tuple[CcamSpec, ...]:
    out = []
    for it in items or []:
        code = str(it["code"])
        if len(code) != 7:
            raise _fail(name, field, f"bad CCAM code {code!r}")
        out.append(CcamSpec(code, _nonneg(name, field, it["per_year"])))
    return tuple(out)


def _codes(name: str, field: str, items: Any) -> tuple[str, ...]:
    out = tuple(str(x) for x in (items or []))
    for c in out:
        if not 3 <= len(c) <= 6 or not c[0].isalpha():
            raise _fail(name, field, f"bad ICD-10 code {c!r}")
    return out


def _condition(key: str, d: dict[str, Any], atcs: set[str]) -> ConditionSpec:
    name = f"conditions.yaml[{key}]"
    prev = d["prevalence_by_age"]
    ages = tuple(sorted(int(a) for a in prev))
    values = tuple(_prob(name, "prevalence_by_age", prev[a]) for a in ages)
    male_rr = _nonneg(name, "male_rr", d["male_rr"])
    if max(values) * male_rr > 1:
        raise _fail(name, "male_rr", "male prevalence exceeds 1")
    region = d.get("regional_column")
    if region not in (None, "diabetes_rr", "cardio_rr"):
        raise _fail(name, "regional_column", f"unknown {region!r}")
    drug_atc = tuple(d["drug_atc"])
    for a in drug_atc:
        if a not in atcs:
            raise _fail(name, "drug_atc", f"{a} not in drugs.csv")
    ald = d.get("ald")
    subtypes = []
    for s in d.get("subtypes") or []:
        for a in s["drug_atc"]:
            if a not in atcs:
                raise _fail(name, "subtypes.drug_atc", f"{a} not in drugs.csv")
        sex = s.get("sex")
        if sex not in (None, 1, 2):
            raise _fail(name, "subtypes.sex", f"{sex!r} not in 1/2/null")
        subtypes.append(
            SubtypeSpec(
                key=str(s["key"]),
                icd10=_codes(name, "subtypes.icd10", s["icd10"]),
                sex=sex,
                weight=_prob(name, "subtypes.weight", s["weight"]),
                drug_atc=tuple(s["drug_atc"]),
                ccam=_ccams(name, "subtypes.ccam", s.get("ccam")),
                mortality_hr=_nonneg(name, "subtypes.mortality_hr", s["mortality_hr"]),
            )
        )
    if subtypes and abs(sum(s.weight for s in subtypes) - 1) > 1e-6:
        raise _fail(name, "subtypes.weight", "weights must sum to 1")
    shares = (
        "ald_share",
        "stay_surgical_share",
        "ssr_after_stay_share",
        "had_share",
        "psy_share",
        "annual_incidence_share",
    )
    p = {f: _prob(name, f, d[f]) for f in shares}
    if p["had_share"] + p["psy_share"] > 1:
        raise _fail(name, "had_share/psy_share", "sum exceeds 1")
    if d["hosp_rate_per_year"] and not d["stay_dp"]:
        raise _fail(name, "stay_dp", "empty while hosp_rate_per_year > 0")
    return ConditionSpec(
        key=key,
        label=str(d["label"]),
        source=str(d["source"]),
        prevalence_ages=ages,
        prevalence_values=values,
        male_rr=male_rr,
        regional_column=region,
        annual_incidence_share=p["annual_incidence_share"],
        icd10_main=_codes(name, "icd10_main", d["icd10_main"]),
        ald_number=int(ald["number"]) if ald else None,
        ald_etm_nat=str(ald["etm_nat"]) if ald else None,
        ald_share=p["ald_share"],
        drug_atc=drug_atc,
        dispensings_per_year=_nonneg(name, "dispensings_per_year", d["dispensings_per_year"]),
        specialist=None if d["specialist"] is None else int(d["specialist"]),
        specialist_visits_per_year=_nonneg(
            name, "specialist_visits_per_year", d["specialist_visits_per_year"]
        ),
        gp_visits_extra_per_year=_nonneg(
            name, "gp_visits_extra_per_year", d["gp_visits_extra_per_year"]
        ),
        biology=tuple(
            BiologySpec(str(b["nabm"]).zfill(4), _nonneg(name, "biology", b["per_year"]))
            for b in d["biology"] or []
        ),
        ccam=_ccams(name, "ccam", d.get("ccam")),
        hosp_rate_per_year=_nonneg(name, "hosp_rate_per_year", d["hosp_rate_per_year"]),
        stay_dp=_codes(name, "stay_dp", d["stay_dp"]),
        stay_los_mean=_nonneg(name, "stay_los_mean", d["stay_los_mean"]),
        stay_surgical_share=p["stay_surgical_share"],
        ssr_after_stay_share=p["ssr_after_stay_share"],
        had_share=p["had_share"],
        psy_share=p["psy_share"],
        mortality_hr=_nonneg(name, "mortality_hr", d["mortality_hr"]),
        death_causes=_codes(name, "death_causes", d["death_causes"]),
        subtypes=tuple(subtypes),
    )


@lru_cache(maxsize=1)
def _conditions_yaml() -> dict[str, Any]:
    return _yaml("conditions.yaml")


@lru_cache(maxsize=1)
def conditions() -> dict[str, ConditionSpec]:
    """All latent conditions keyed by name (``diabetes``, ``heart_failure``…).

    >>> sorted(conditions())[:3]
    ['anxiety_insomnia', 'atrial_fibrillation', 'cancer']
    """
    raw = _conditions_yaml()["conditions"]
    atcs = set(drugs().column("atc").to_pylist())
    missing = set(CONDITION_KEYS) - set(raw)
    if missing:
        raise _fail("conditions.yaml", "conditions", f"missing {sorted(missing)}")
    return {k: _condition(k, v, atcs) for k, v in raw.items()}


@dataclass(frozen=True)
class FallSpec:
    """Falls with injury in people aged ``min_age`` and over."""

    min_age: int
    rate_ages: tuple[int, ...]
    rate_values: tuple[float, ...]
    female_rr: float
    share_hospitalised: float
    share_emergency_only: float
    fracture_dp: tuple[str, ...]
    fracture_weights: tuple[float, ...]
    fracture_surgical: tuple[bool, ...]
    external_cause_icd10: tuple[str, ...]
    surgery_ccam: tuple[str, ...]
    hip_surgery_ccam: tuple[str, ...]
    wrist_surgery_ccam: tuple[str, ...]
    imaging_ccam: tuple[str, ...]
    stay_los_mean: float
    ssr_after_stay_share: float
    mortality_1y_hip_fracture: float

    def rate(self, age: np.ndarray | float, female: np.ndarray | bool) -> np.ndarray:
        """Annual probability of a fall with injury (0 below ``min_age``)."""
        base = np.interp(age, self.rate_ages, self.rate_values)
        out = base * np.where(female, self.female_rr, 1.0) * (np.asarray(age) >= self.min_age)
        return np.asarray(out, dtype=float)


@lru_cache(maxsize=1)
def fall_spec() -> FallSpec:
    """The fall outcome block of ``conditions.yaml``."""
    name = "conditions.yaml[fall]"
    d = _conditions_yaml()["fall"]
    ages = tuple(sorted(int(a) for a in d["rate_by_age"]))
    sh = _prob(name, "share_hospitalised", d["share_hospitalised"])
    se = _prob(name, "share_emergency_only", d["share_emergency_only"])
    if sh + se > 1:
        raise _fail(name, "share_hospitalised/share_emergency_only", "sum exceeds 1")
    frac = d["fracture_dp"]
    weights = tuple(_prob(name, "fracture_dp.weight", f["weight"]) for f in frac)
    if abs(sum(weights) - 1) > 1e-6:
        raise _fail(name, "fracture_dp.weight", "weights must sum to 1")
    return FallSpec(
        min_age=int(d["min_age"]),
        rate_ages=ages,
        rate_values=tuple(_prob(name, "rate_by_age", d["rate_by_age"][a]) for a in ages),
        female_rr=_nonneg(name, "female_rr", d["female_rr"]),
        share_hospitalised=sh,
        share_emergency_only=se,
        fracture_dp=_codes(name, "fracture_dp", [f["code"] for f in frac]),
        fracture_weights=weights,
        fracture_surgical=tuple(bool(f["surgical"]) for f in frac),
        external_cause_icd10=_codes(name, "external_cause_icd10", d["external_cause_icd10"]),
        surgery_ccam=tuple(d["surgery_ccam"]),
        hip_surgery_ccam=tuple(d["hip_surgery_ccam"]),
        wrist_surgery_ccam=tuple(d["wrist_surgery_ccam"]),
        imaging_ccam=tuple(d["imaging_ccam"]),
        stay_los_mean=_nonneg(name, "stay_los_mean", d["stay_los_mean"]),
        ssr_after_stay_share=_prob(name, "ssr_after_stay_share", d["ssr_after_stay_share"]),
        mortality_1y_hip_fracture=_prob(
            name, "mortality_1y_hip_fracture", d["mortality_1y_hip_fracture"]
        ),
    )


@lru_cache(maxsize=1)
def general_care() -> dict[str, Any]:
    """Baseline care parameters (raw mapping, validated). See ``general_care.yaml``."""
    name = "general_care.yaml"
    d = _yaml(name)
    bands = d["age_bands"]
    expected_lo = 0
    for b in bands:
        if int(b["lo"]) != expected_lo or int(b["hi"]) < int(b["lo"]):
            raise _fail(name, "age_bands", f"bands must be contiguous from 0 (at lo={b['lo']})")
        expected_lo = int(b["hi"]) + 1
        for f in (
            "gp",
            "nurse",
            "physio",
            "dentist",
            "lab_panels",
            "mco_stay_rate",
            "ace_rate",
            "atu_rate",
        ):
            _nonneg(name, f"age_bands.{f}", b[f])
        _prob(name, "age_bands.home_visit_share", b["home_visit_share"])
        _prob(name, "age_bands.mco_stay_rate", b["mco_stay_rate"])
    for k, v in d["visit_kinds"].items():
        if not 1000 <= int(v["prs_nat_ref"]) <= 9999:
            raise _fail(name, f"visit_kinds.{k}.prs_nat_ref", "must be a 4-digit IR_NAT_V code")
    for p in d["lab_panels"]:
        _prob(name, "lab_panels.p", p["p"])
    for s in d["general_stays"]:
        _nonneg(name, "general_stays.weight", s["weight"])
    if abs(sum(float(s["weight"]) for s in d["general_stays"]) - 1) > 1e-3:
        raise _fail(name, "general_stays.weight", "weights must sum to 1")
    return d


@lru_cache(maxsize=1)
def causes_of_death() -> dict[str, Any]:
    """Cause groups, death-certificate structure and place-of-death shares (raw mapping,
    validated: codes look like ICD-10, weights are non-negative, group shares sum to 1, every
    group has one age weight per age band, condition groups exist)."""
    name = "causes_of_death.yaml"
    d = _yaml(name)
    groups = d["cause_groups"]
    n_bands = len(d["age_bands"])
    for g, spec in groups.items():
        _nonneg(name, f"cause_groups.{g}.share", spec["share"])
        if len(spec["age_profile"]) != n_bands:
            raise _fail(name, f"cause_groups.{g}.age_profile", f"needs {n_bands} values")
        for s in spec["codes"]:
            _codes(name, f"cause_groups.{g}.codes", [s["icd10"]])
            _nonneg(name, f"cause_groups.{g}.codes.weight", s["weight"])
    if abs(sum(float(g["share"]) for g in groups.values()) - 1) > 1e-6:
        raise _fail(name, "cause_groups.share", "shares must sum to 1")
    for cond, g in d["condition_groups"].items():
        if g not in groups:
            raise _fail(name, f"condition_groups.{cond}", f"unknown group {g!r}")
    for cond, k in d.get("condition_tilt", {}).items():
        if cond not in d["condition_groups"] or float(k) < 1:
            raise _fail(name, f"condition_tilt.{cond}", "needs a condition group and a tilt >= 1")
    cert = d["certificate"]
    _codes(name, "certificate.immediate", [c["icd10"] for c in cert["immediate"]])
    _codes(name, "certificate.external_injury", cert["external_injury"])
    for g, codes in cert["intermediate"].items():
        if g not in groups:
            raise _fail(name, f"certificate.intermediate.{g}", f"unknown group {g!r}")
        _codes(name, f"certificate.intermediate.{g}", codes)
    if abs(sum(float(p) for p in cert["part1_lines"].values()) - 1) > 1e-6:
        raise _fail(name, "certificate.part1_lines", "probabilities must sum to 1")
    if abs(sum(float(p["share"]) for p in d["place_of_death"]) - 1) > 1e-6:
        raise _fail(name, "place_of_death.share", "shares must sum to 1")
    return d


@dataclass(frozen=True)
class Mortality:
    """Baseline Gompertz mortality by sex."""

    log_a_male: float
    b_male: float
    log_a_female: float
    b_female: float
    infant_male: float
    infant_female: float
    young_excess_male: float
    young_excess_female: float
    max_age: int

    def annual_probability(self, age: np.ndarray | float, male: np.ndarray | bool) -> np.ndarray:
        """One-year death probability at integer ``age`` for ``male`` (bool)."""
        a = np.asarray(age, dtype=float)
        log_a = np.where(male, self.log_a_male, self.log_a_female)
        b = np.where(male, self.b_male, self.b_female)
        h = np.exp(log_a + b * a)
        h = h + np.where(
            (a >= 15) & (a <= 35),
            np.where(male, self.young_excess_male, self.young_excess_female),
            0.0,
        )
        q = 1.0 - np.exp(-h)
        q = np.where(a < 1, np.where(male, self.infant_male, self.infant_female), q)
        return np.asarray(np.clip(q, 0.0, 1.0), dtype=float)

    def life_expectancy(self, male: bool) -> float:
        """Period life expectancy at birth implied by the parameters."""
        ages = np.arange(self.max_age + 1)
        q = self.annual_probability(ages, male)
        surv = np.concatenate([[1.0], np.cumprod(1 - q)[:-1]])
        return float(np.sum(surv * (1 - q / 2)))


@lru_cache(maxsize=1)
def mortality() -> Mortality:
    """Baseline mortality from ``causes_of_death.yaml``.

    >>> m = mortality()
    >>> 77 < m.life_expectancy(male=True) < 82 and 83 < m.life_expectancy(male=False) < 88
    True
    """
    name = "causes_of_death.yaml"
    d = causes_of_death()
    g = d["gompertz"]
    return Mortality(
        log_a_male=float(g["male"]["log_a"]),
        b_male=_nonneg(name, "gompertz.male.b", g["male"]["b"]),
        log_a_female=float(g["female"]["log_a"]),
        b_female=_nonneg(name, "gompertz.female.b", g["female"]["b"]),
        infant_male=_prob(name, "infant_mortality.male", d["infant_mortality"]["male"]),
        infant_female=_prob(name, "infant_mortality.female", d["infant_mortality"]["female"]),
        young_excess_male=_nonneg(name, "young_adult_excess.male", d["young_adult_excess"]["male"]),
        young_excess_female=_nonneg(
            name, "young_adult_excess.female", d["young_adult_excess"]["female"]
        ),
        max_age=int(d["max_age"]),
    )


# --------------------------------------------------------------------------- helpers


def prevalence_at(key: str, age: np.ndarray | float, male: np.ndarray | bool) -> np.ndarray:
    """Prevalence of condition ``key`` at ``age`` and sex (no regional multiplier)."""
    return conditions()[key].prevalence(age, male)


def expected_prevalence(key: str) -> float:
    """National prevalence implied by ``conditions.yaml`` and the age pyramid.

    Regional multipliers have a population-weighted mean of 1, so they are ignored here.
    Subtype sex restrictions are not applied (they split cases, they do not add any).
    """
    pyr = age_pyramid()
    ages = np.asarray(pyr.column("age").to_pylist(), dtype=float)
    men = np.asarray(pyr.column("male").to_pylist(), dtype=float)
    women = np.asarray(pyr.column("female").to_pylist(), dtype=float)
    spec = conditions()[key]
    cases = np.sum(spec.prevalence(ages, True) * men) + np.sum(spec.prevalence(ages, False) * women)
    return float(cases / (men.sum() + women.sum()))


# ---------------------------------------------------------------------------- drug indications
@dataclass(frozen=True)
class IndicationRule:
    """Who may be dispensed the drugs whose ATC starts with ``atc`` (drug_indications.yaml)."""

    atc: str
    sex: int | None  # 1 men, 2 women, None both
    min_age: int
    max_age: int
    reason: str
    source: str


@lru_cache(maxsize=1)
def drug_indications() -> tuple[IndicationRule, ...]:
    """Sex and age constraints of the drugs (longest ATC prefix wins), validated.

    >>> rules = {r.atc: r for r in drug_indications()}
    >>> rules["G03A"].sex, rules["G04CA"].sex, rules["G04CA"].min_age, rules["J07CA09"].max_age
    (2, 1, 45, 1)
    """
    name = "drug_indications.yaml"
    atcs = set(drugs().column("atc").to_pylist())
    seen: set[str] = set()
    out: list[IndicationRule] = []
    for d in _yaml(name)["rules"]:
        atc = str(d["atc"])
        if atc in seen:
            raise _fail(name, "atc", f"duplicate prefix {atc}")
        seen.add(atc)
        if not any(a.startswith(atc) for a in atcs):
            raise _fail(name, "atc", f"{atc} matches no drug of drugs.csv")
        sex = d.get("sex")
        if sex not in (None, 1, 2):
            raise _fail(name, "sex", f"{atc}: {sex!r} not in 1/2/null")
        lo, hi = int(d.get("min_age", 0)), int(d.get("max_age", 120))
        if not 0 <= lo <= hi <= 120:
            raise _fail(name, "min_age/max_age", f"{atc}: [{lo}, {hi}] is not an age range")
        if not d.get("reason") or not d.get("source"):
            raise _fail(name, "reason/source", f"{atc}: both are required")
        out.append(IndicationRule(atc, sex, lo, hi, str(d["reason"]), str(d["source"])))
    return tuple(out)


def indication_of(atc: str) -> IndicationRule | None:
    """The rule that applies to ``atc`` (longest matching prefix), or None."""
    best: IndicationRule | None = None
    for r in drug_indications():
        if atc.startswith(r.atc) and (best is None or len(r.atc) > len(best.atc)):
            best = r
    return best


# ---------------------------------------------------------------------------- market shares
@lru_cache(maxsize=1)
def drug_market_shares() -> dict[str, tuple[dict[str, float], float]]:
    """Per condition: (relative weight per ATC, weight of each unlisted pool drug).

    >>> w, other = drug_market_shares()["hypothyroidism"]
    >>> w["H03AA01"] > 10 * w["H03AA02"]
    True
    """
    name = "drug_market_shares.yaml"
    conds = conditions()
    table = drugs()
    uses = dict(zip(table.column("atc").to_pylist(), table.column("use").to_pylist(), strict=True))
    out: dict[str, tuple[dict[str, float], float]] = {}
    for key, d in _yaml(name)["conditions"].items():
        if key not in conds:
            raise _fail(name, "conditions", f"unknown condition {key!r}")
        spec = conds[key]
        pool = set(spec.drug_atc) | {a for a, u in uses.items() if u == key}
        for s in spec.subtypes:
            pool |= set(s.drug_atc)
        if not d.get("source"):
            raise _fail(name, "source", f"{key}: required")
        weights = {str(a): _nonneg(name, f"{key}.weights", w) for a, w in d["weights"].items()}
        outside = sorted(set(weights) - pool)
        if outside:
            raise _fail(name, "weights", f"{key}: {outside} not in the condition's drug pool")
        out[key] = (weights, _nonneg(name, f"{key}.other_weight", d.get("other_weight", 1.0)))
    return out
