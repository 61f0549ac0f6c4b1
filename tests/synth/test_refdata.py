"""Tests for the synthetic generator's reference data (sndslab.synth._refdata)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from sndslab.synth import _refdata as rd

NOMENCLATURES = Path(rd.__file__).resolve().parents[1] / "registry" / "nomenclatures"


def _weighted_mean(col: str) -> float:
    t = rd.departements()
    pop = np.asarray(t.column("population").to_pylist(), dtype=float)
    return float(np.sum(pop * np.asarray(t.column(col).to_pylist())) / pop.sum())


def test_departements() -> None:
    t = rd.departements()
    assert t.num_rows == 101
    codes = set(t.column("snds_dpt").to_pylist())
    assert {"001", "02A", "02B", "075", "971", "976"} <= codes
    assert abs(_weighted_mean("diabetes_rr") - 1) <= 0.02
    assert abs(_weighted_mean("cardio_rr") - 1) <= 0.02
    assert 140 <= _weighted_mean("gp_per_100k") <= 160
    gp = dict(zip(t.column("dep").to_pylist(), t.column("gp_per_100k").to_pylist(), strict=True))
    assert gp["05"] == 274 and gp["75"] == 236 and gp["976"] == 52
    assert all(gp[d] < 100 for d in ("27", "77", "28", "18", "95"))


def test_age_pyramid() -> None:
    t = rd.age_pyramid()
    total = sum(t.column("male").to_pylist()) + sum(t.column("female").to_pylist())
    assert 66e6 <= total <= 68e6
    both = np.asarray(t.column("male").to_pylist()) + np.asarray(t.column("female").to_pylist())
    assert both[70:74].mean() > 1.3 * both[76:80].mean()  # baby boom vs 1940-45 deficit


def test_drugs() -> None:
    t = rd.drugs()
    atcs = set(t.column("atc").to_pylist())
    assert len(atcs) >= 450
    cips = t.column("cip13").to_pylist()
    assert len(cips) == len(set(cips))
    assert all(c.startswith("34009") and rd.ean13_is_valid(c) for c in cips)
    cip7 = t.column("cip7").to_pylist()
    assert len(cip7) == len(set(cip7))
    uses = set(t.column("use").to_pylist())
    assert set(rd.CONDITION_KEYS) - {"stroke"} <= uses | {"stroke"}


def test_ean13() -> None:
    assert rd.ean13_is_valid("3400930079195")
    assert not rd.ean13_is_valid("3400930079196")
    assert not rd.ean13_is_valid("34009300791")


def test_ucd_and_ghm() -> None:
    assert 35 <= rd.ucd_drugs().num_rows <= 50
    assert rd.ghm_roots().num_rows >= 60


def _all_codes() -> tuple[set[str], set[str], set[str]]:
    icd: set[str] = set()
    ccam: set[str] = set()
    nabm: set[str] = set()
    for spec in rd.conditions().values():
        icd |= set(spec.icd10_main) | set(spec.stay_dp) | set(spec.death_causes)
        ccam |= {c.code for c in spec.ccam}
        nabm |= {b.nabm for b in spec.biology}
        for sub in spec.subtypes:
            icd |= set(sub.icd10)
            ccam |= {c.code for c in sub.ccam}
    fall = rd.fall_spec()
    icd |= set(fall.fracture_dp) | set(fall.external_cause_icd10)
    ccam |= set(fall.surgery_ccam) | set(fall.hip_surgery_ccam) | set(fall.wrist_surgery_ccam)
    ccam |= set(fall.imaging_ccam)
    care = rd.general_care()
    nabm |= {str(p["nabm"]) for p in care["lab_panels"]}
    ccam |= {str(i["ccam"]) for i in care["imaging"]}
    for s in care["general_stays"]:
        icd.add(str(s["dp"]))
        if "ccam" in s:
            ccam.add(str(s["ccam"]))
    causes = rd.causes_of_death()
    icd |= {str(c["icd10"]) for g in causes["cause_groups"].values() for c in g["codes"]}
    cert = causes["certificate"]
    icd |= {str(c["icd10"]) for c in cert["immediate"]} | set(cert["external_injury"])
    icd |= {str(c) for codes in cert["intermediate"].values() for c in codes}
    return icd, ccam, nabm


def test_condition_references_resolve() -> None:
    atcs = set(rd.drugs().column("atc").to_pylist())
    prefixes = [p for ps in rd.ghm_roots().column("dp_prefixes").to_pylist() for p in ps]
    care = rd.general_care()
    dps = {str(s["dp"]) for s in care["general_stays"]} | set(rd.fall_spec().fracture_dp)
    for spec in rd.conditions().values():
        assert set(spec.drug_atc) <= atcs, spec.key
        for sub in spec.subtypes:
            assert set(sub.drug_atc) <= atcs, (spec.key, sub.key)
            dps |= set(sub.icd10)
        dps |= set(spec.stay_dp)
    uncovered = sorted(d for d in dps if not any(d.startswith(p) for p in prefixes))
    assert not uncovered


def test_prevalences_realistic() -> None:
    targets = {
        "diabetes": (0.05, 0.06),
        "heart_failure": (0.01, 0.02),
        "copd_asthma": (0.045, 0.065),
        "depression": (0.06, 0.08),
        "dementia": (0.007, 0.013),
    }
    for key, (lo, hi) in targets.items():
        assert lo <= rd.expected_prevalence(key) <= hi, key


def test_mortality() -> None:
    m = rd.mortality()
    assert 78 <= m.life_expectancy(male=True) <= 81
    assert 84 <= m.life_expectancy(male=False) <= 87
    q = m.annual_probability(np.array([50, 80]), np.array([True, True]))
    assert 0 < q[0] < q[1] < 1


def _vendored(path: str, column: str, sep: str = ";") -> set[str]:
    f = NOMENCLATURES / path
    if not f.exists():
        raise AssertionError(f"{path} is not vendored")
    with f.open(encoding="utf-8", errors="replace", newline="") as fh:
        return {r[column].strip('"') for r in csv.DictReader(fh, delimiter=sep)}


def test_icd10_codes_exist() -> None:
    known = _vendored("ORAVAL/IR_CIM_V.csv", "CIM_COD")
    icd, _, _ = _all_codes()
    assert not sorted(icd - known)


def test_ccam_codes_exist() -> None:
    known = _vendored("ATIH/IR_CCAM_V63.csv", "CAM_PRS_IDE_COD")
    _, ccam, _ = _all_codes()
    assert not sorted(ccam - known)


def test_nabm_codes_exist() -> None:
    known = {k.lstrip("0") for k in _vendored("ORAREF/IR_BIO_R.csv", "BIO_PRS_IDE")}
    _, _, nabm = _all_codes()
    assert not sorted(n for n in nabm if n.lstrip("0") not in known)


def test_validation_error_names_file(monkeypatch: pytest.MonkeyPatch) -> None:
    original = rd._text

    def broken(name: str) -> str:
        text = original(name)
        if name == "drugs.csv":
            lines = text.splitlines()
            lines.append(lines[1])  # duplicate CIP13
            return "\n".join(lines) + "\n"
        return text

    rd.drugs.cache_clear()
    monkeypatch.setattr(rd, "_text", broken)
    try:
        with pytest.raises(ValueError, match=r"drugs\.csv.*cip13"):
            rd.drugs()
    finally:
        monkeypatch.setattr(rd, "_text", original)
        rd.drugs.cache_clear()
