"""The generator's view of its reference data: arrays and samplers built once per run.

``_refdata`` loads and validates the authored files (départements, pyramid, drugs, conditions,
general care, mortality, GHM); the vendored SNDS nomenclatures come from ``sndslab.registry``.
This module turns them into index spaces (drug presentations, CCAM, NABM, UCD codes) and
vectorised samplers used by the care steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from typing import Any

import numpy as np
import yaml

from sndslab.registry import load_nomenclature
from sndslab.synth import _refdata as rd
from sndslab.synth._world import (
    CH,
    CHU,
    CLINIC,
    EST_CATEGORY,
    HAD_SERVICE,
    PSY_HOSPITAL,
    SSR_CENTRE,
    World,
)

RateFn = Callable[[np.ndarray, np.ndarray], np.ndarray]

SSR_PURPOSE_CODES = np.array(["Z501", "Z502", "Z508", "Z509", "Z515"], dtype=object)
OCCUPATIONAL_CODES = np.array(
    ["S626", "S934", "M545", "M751", "T140", "S832", "F432"], dtype=object
)
HOSPITAL_ACTS = ("ZBQK002", "ACQK001", "DEQP003", "ZCQM001", "DZQM006", "ZBQK001")


def _band_lookup(bands: list[dict[str, Any]], field: str) -> np.ndarray:
    """Per-age (0..120) value of ``field`` from contiguous [lo, hi] age bands."""
    out = np.zeros(121)
    for b in bands:
        out[int(b["lo"]) : min(int(b["hi"]), 120) + 1] = float(b[field])
    return out


@dataclass
class GeneralCare:
    """Baseline care rates (per person-year) by age and sex."""

    raw: dict[str, Any]

    def _rate(self, field: str, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        table = _band_lookup(self.raw["age_bands"], field)
        mult = self.raw["sex_multipliers"]
        m = np.where(sex == 1, mult["male"].get(field, 1.0), mult["female"].get(field, 1.0))
        return table[np.clip(np.asarray(age), 0, 120)] * m

    def gp_rate(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        return self._rate("gp", age, sex)

    def nurse_rate(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        return self._rate("nurse", age, sex)

    def physio_rate(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        return self._rate("physio", age, sex)

    def stay_rate(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        return self._rate("mco_stay_rate", age, sex)

    def ace_rate(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        return self._rate("ace_rate", age, sex)

    def atu_rate(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        return self._rate("atu_rate", age, sex)

    def lab_panel_rate(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        return self._rate("lab_panels", age, sex)

    @cached_property
    def tariffs(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for v in self.raw["visit_kinds"].values():
            if v.get("tariff_eur") is not None:
                out.setdefault(int(v["prs_nat_ref"]), float(v["tariff_eur"]))
        out.setdefault(1191, out.get(1111, 25.0))
        return out

    def tariff_of(self, nat: np.ndarray) -> np.ndarray:
        nat = np.asarray(nat)
        out = np.zeros(len(nat))
        for code, price in self.tariffs.items():
            out[nat == code] = price
        return out

    @cached_property
    def specialist_rates(self) -> dict[int, RateFn]:
        rates: dict[int, list[dict[str, Any]]] = {}
        for item in self.raw["specialist_visits"]:
            rates.setdefault(int(item["spe"]), []).append(item)

        def make(items: list[dict[str, Any]]) -> RateFn:
            def fn(age: np.ndarray, sex: np.ndarray) -> np.ndarray:
                total = np.zeros(len(age))
                for it in items:
                    ok = (age >= it["lo"]) & (age <= it["hi"])
                    if it.get("sex"):
                        ok &= sex == int(it["sex"])
                    elderly = np.where(age >= 65, float(it.get("elderly_factor", 1.0)), 1.0)
                    total += np.where(ok, float(it["per_year"]) * elderly, 0.0)
                return total

            return fn

        return {spe: make(items) for spe, items in rates.items()}


def _restricted_rate(base: RateFn, item: dict[str, Any], scale: float) -> RateFn:
    def fn(age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        ok = np.ones(len(age), bool)
        if item.get("sex"):
            ok &= sex == int(item["sex"])
        if item.get("min_age") is not None:
            ok &= age >= int(item["min_age"])
        if item.get("max_age") is not None:
            ok &= age <= int(item["max_age"])
        elderly = np.where(age >= 65, float(item.get("elderly_factor", 1.0)), 1.0)
        return np.where(ok, base(age, sex) * scale * elderly, 0.0)

    return fn


class Reference:
    """Index spaces and samplers over the reference data (built once per run)."""

    def __init__(self) -> None:
        self.conditions = rd.conditions()
        self.fall = rd.fall_spec()
        self.general = GeneralCare(rd.general_care())
        self.mortality = rd.mortality()
        self._causes = rd.causes_of_death()
        self._build_codes()
        self._build_drugs()
        self._build_condition_care()
        self._build_condition_weights()
        self._build_stays()
        self._build_effects()

    # ------------------------------------------------------------------ territories
    @staticmethod
    def departements() -> dict[str, np.ndarray]:
        t = rd.departements()
        return {c: np.asarray(t.column(c).to_pylist(), dtype=object) for c in t.column_names}

    @staticmethod
    def pyramid() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = rd.age_pyramid()
        return tuple(
            np.asarray(t.column(c).to_pylist(), dtype=np.float64)  # type: ignore[return-value]
            for c in ("age", "male", "female")
        )

    # ------------------------------------------------------------------ codes
    def _build_codes(self) -> None:
        bio = load_nomenclature("IR_BIO_R")
        nabm = [str(c).zfill(4) for c in bio.column("BIO_PRS_IDE").to_pylist()]
        coef = [float(c or 0) for c in bio.column("BIO_TAR_COF").to_pylist()]
        self.nabm_codes = np.array(nabm, dtype=object)
        self.nabm_coef = np.where(np.array(coef) > 0, np.array(coef), 20.0)
        self._nabm_index = {c: i for i, c in enumerate(nabm)}
        ccam = load_nomenclature("IR_CCAM_V63").column("CAM_PRS_IDE_COD").to_pylist()
        self.ccam_codes = np.array(ccam, dtype=object)
        self._ccam_index = {c: i for i, c in enumerate(ccam)}
        self.ccam_specialty = np.array([_ccam_specialty(c) for c in ccam], np.int64)
        self.ccam_price = np.array([_ccam_price(c) for c in ccam], np.float64)
        self.hospital_act_codes = np.array([self.ccam(c) for c in HOSPITAL_ACTS], np.int64)
        csarr = load_nomenclature("CSARR").column("csarr_code").to_pylist()
        self.csarr_codes = np.array(sorted({str(c) for c in csarr if c})[:200], dtype=object)
        had = load_nomenclature("IR_HAD_PEC_PAL").column("PEC_PAL_COD").to_pylist()
        self.had_care_modes = np.array([str(c) for c in had if str(c) != "00"], dtype=object)
        ucd = rd.ucd_drugs()
        self.ucd_codes = np.asarray(ucd.column("ucd13").to_pylist(), dtype=object)
        self.ucd_price = np.asarray(ucd.column("unit_price_eur").to_pylist(), dtype=np.float64)
        self.ssr_purpose_codes = SSR_PURPOSE_CODES
        self.occupational_codes = OCCUPATIONAL_CODES
        self.est_category = np.array(
            [EST_CATEGORY[k] for k in range(len(EST_CATEGORY))], dtype=object
        )
        self.ace_specialties = np.array([3, 5, 7, 8, 12, 13, 14, 15, 32, 33, 42, 73], np.int64)
        lab_items: list[tuple[int, RateFn]] = []
        for panel in self.general.raw["lab_panels"]:
            lab_items.append(
                (
                    self.nabm(panel["nabm"]),
                    _restricted_rate(self.general.lab_panel_rate, panel, float(panel["p"])),
                )
            )
        self.lab_items = lab_items
        self.imaging_items = [
            (
                self.ccam(it["ccam"]),
                _restricted_rate(lambda a, s: np.ones(len(a)), it, float(it["per_year"])),
            )
            for it in self.general.raw["imaging"]
        ]

    def nabm(self, code: str) -> int:
        try:
            return self._nabm_index[str(code).zfill(4)]
        except KeyError:
            raise ValueError(f"NABM code {code!r} is not in IR_BIO_R") from None

    def ccam(self, code: str) -> int:
        try:
            return self._ccam_index[code]
        except KeyError:
            raise ValueError(f"CCAM code {code!r} is not in IR_CCAM_V63") from None

    # ------------------------------------------------------------------ drugs
    def _build_drugs(self) -> None:
        t = rd.drugs()
        col = {c: np.asarray(t.column(c).to_pylist(), dtype=object) for c in t.column_names}
        self.drug_atc = col["atc"]
        self.drug_use = col["use"]
        self.drug_cip13 = col["cip13"]
        self.drug_cip7 = col["cip7"]
        self.drug_presentation = col["presentation"]
        self.drug_inn = col["inn"]
        self.drug_days_per_box = col["days_per_box"].astype(np.int64)
        self.drug_box_price = col["box_price_eur"].astype(np.float64)
        self.drug_reimb_rate = col["reimb_rate"].astype(np.float64)
        self.drug_nat_ref = col["pha_nat_ref"].astype(np.int64)
        self.drug_ald_eligible = self.drug_use != "general"
        self.atc_codes = np.array(sorted(set(self.drug_atc.tolist())), dtype=object)
        self._atc_index = {a: i for i, a in enumerate(self.atc_codes)}
        self.drug_atc_index = np.array([self._atc_index[a] for a in self.drug_atc], np.int64)
        general = sorted(
            {a for a, u in zip(self.drug_atc, self.drug_use, strict=True) if u == "general"}
        )
        users = dict(zip(col["atc"], col["annual_users_per_1000"].astype(float), strict=True))
        elderly = dict(zip(col["atc"], col["elderly_factor"].astype(float), strict=True))
        self.general_presentations = [np.flatnonzero(self.drug_atc == a) for a in general]
        self.general_elderly_factor = np.array([elderly[a] for a in general])
        self._build_indications()
        # a restricted drug's users per 1,000 (drugs.csv: per 1,000 of the whole population)
        # are concentrated on the persons it is indicated for, so the population total holds
        scale = np.array([self._indication_scale(a, elderly[a]) for a in general])
        self.general_users_per_1000 = np.array([users[a] for a in general]) * scale

    def _build_indications(self) -> None:
        """Per presentation: allowed sex (0 = both), age range (drug_indications.yaml)."""
        n = len(self.drug_atc)
        self.drug_sex = np.zeros(n, np.int64)
        self.drug_min_age = np.zeros(n, np.int64)
        self.drug_max_age = np.full(n, 200, np.int64)
        for i, atc in enumerate(self.drug_atc):
            rule = rd.indication_of(str(atc))
            if rule is not None:
                self.drug_sex[i] = rule.sex or 0
                self.drug_min_age[i] = rule.min_age
                self.drug_max_age[i] = rule.max_age

    def indicated(self, drug: np.ndarray, sex: np.ndarray, age: np.ndarray) -> np.ndarray:
        """Whether presentation ``drug`` may be dispensed to a person of ``sex`` and ``age``."""
        want = self.drug_sex[drug]
        return (
            ((want == 0) | (want == sex))
            & (age >= self.drug_min_age[drug])
            & (age <= self.drug_max_age[drug])
        )

    def _indication_scale(self, atc: str, elderly_factor: float) -> float:
        """Population mean of the use multiplier over its mean among indicated persons."""
        rule = rd.indication_of(atc)
        if rule is None:
            return 1.0
        age, male, female = self.pyramid()
        mult = np.where(age >= 65, elderly_factor, 1.0)
        total = float((mult * (male + female)).sum())
        in_age = (age >= rule.min_age) & (age <= rule.max_age)
        by_sex = {1: male, 2: female}
        pop = by_sex[rule.sex] if rule.sex else male + female
        eligible = float((mult * pop * in_age).sum())
        return min(total / eligible, 50.0) if eligible > 0 else 0.0

    def presentations_of(self, atcs: tuple[str, ...]) -> np.ndarray:
        return np.flatnonzero(np.isin(self.drug_atc, np.array(atcs, dtype=object)))

    # ------------------------------------------------------------------ condition care
    def _build_condition_care(self) -> None:
        self.condition_presentations: dict[str, np.ndarray] = {}
        self.condition_other_presentations: dict[str, np.ndarray] = {}
        self.subtype_presentations: dict[str, list[np.ndarray]] = {}
        self.condition_biology: dict[str, list[tuple[int, float]]] = {}
        self.condition_ccam: dict[str, list[tuple[int, float]]] = {}
        self.subtype_ccam: dict[str, list[list[tuple[int, float]]]] = {}
        for name, spec in self.conditions.items():
            preferred = self.presentations_of(spec.drug_atc)
            self.condition_presentations[name] = preferred
            self.condition_other_presentations[name] = np.flatnonzero(self.drug_use == name)
            self.subtype_presentations[name] = [
                self.presentations_of(s.drug_atc) for s in spec.subtypes
            ]
            self.condition_biology[name] = [(self.nabm(b.nabm), b.per_year) for b in spec.biology]
            self.condition_ccam[name] = [(self.ccam(c.code), c.per_year) for c in spec.ccam]
            self.subtype_ccam[name] = [
                [(self.ccam(c.code), c.per_year) for c in s.ccam] for s in spec.subtypes
            ]

    def _build_condition_weights(self) -> None:
        """Per condition: pool presentations and their weights (drug_market_shares.yaml)."""
        shares = rd.drug_market_shares()
        self.condition_pool: dict[str, np.ndarray] = {}
        self.condition_pool_weight: dict[str, np.ndarray] = {}
        self.subtype_pool_weight: dict[str, list[np.ndarray]] = {}
        n_pres = {a: int((self.drug_atc == a).sum()) for a in set(self.drug_atc.tolist())}

        def weights(name: str, pres: np.ndarray) -> np.ndarray:
            w, other = shares.get(name, ({}, 1.0))
            atc = self.drug_atc[pres]
            return np.array([w.get(a, other) / n_pres[a] for a in atc], np.float64)

        for name in self.conditions:
            pool = np.union1d(
                self.condition_presentations[name], self.condition_other_presentations[name]
            )
            self.condition_pool[name] = pool
            self.condition_pool_weight[name] = weights(name, pool)
            self.subtype_pool_weight[name] = [
                weights(name, p) for p in self.subtype_presentations[name]
            ]
        # ALD numbers under which each presentation is reimbursed at 100 % (the ALD of any
        # condition whose pool holds it: an exempted patient's treatment of that disease)
        numbers = sorted(
            {int(s.ald_number) for s in self.conditions.values() if s.ald_number is not None}
        )
        self.ald_numbers = np.array(numbers, np.int64)
        self.drug_ald_mask = np.zeros((len(self.drug_atc), len(numbers)), bool)
        for name, spec in self.conditions.items():
            if spec.ald_number is None:
                continue
            k = numbers.index(int(spec.ald_number))
            self.drug_ald_mask[self.condition_pool[name], k] = True
            for pres in self.subtype_presentations[name]:
                self.drug_ald_mask[pres, k] = True

    def draw_condition_drugs(
        self,
        rng: np.random.Generator,
        name: str,
        subtype: np.ndarray,
        sex: np.ndarray,
        age: np.ndarray,
    ) -> np.ndarray:
        """A presentation per row for condition ``name``, -1 when none is indicated.

        Weighted by market share (``drug_market_shares.yaml``) among the presentations of the
        condition's pool (its subtype's list when it has subtypes) that are indicated for the
        row's sex and age (``drug_indications.yaml``).
        """
        out = self._weighted_pick(
            rng, self.condition_pool[name], self.condition_pool_weight[name], sex, age
        )
        for k, pres in enumerate(self.subtype_presentations[name]):
            rows = np.flatnonzero(subtype == k)
            if len(pres) and len(rows):
                out[rows] = self._weighted_pick(
                    rng, pres, self.subtype_pool_weight[name][k], sex[rows], age[rows]
                )
        return out

    def _weighted_pick(
        self,
        rng: np.random.Generator,
        pool: np.ndarray,
        weight: np.ndarray,
        sex: np.ndarray,
        age: np.ndarray,
    ) -> np.ndarray:
        n = len(sex)
        if len(pool) == 0 or n == 0:
            return np.full(n, -1, np.int64)
        ok = self.indicated(pool[None, :], sex[:, None], age[:, None])
        cum = np.cumsum(ok * weight[None, :], axis=1)
        total = cum[:, -1]
        u = rng.random(n) * total
        pick = np.minimum((cum <= u[:, None]).sum(axis=1), len(pool) - 1)
        return np.where(total > 0, pool[pick], -1).astype(np.int64)

    def condition_main_code(
        self, rng: np.random.Generator, cond: np.ndarray, subtype: np.ndarray
    ) -> np.ndarray:
        """A main ICD-10 code for each (condition index, cancer subtype) row."""
        names = list(self.conditions)
        out = np.empty(len(cond), dtype=object)
        for j, name in enumerate(names):
            rows = np.flatnonzero(cond == j)
            if len(rows) == 0:
                continue
            spec = self.conditions[name]
            codes = np.array(spec.icd10_main, dtype=object)
            out[rows] = codes[rng.integers(0, len(codes), len(rows))]
            for k, st in enumerate(spec.subtypes):
                sub = rows[subtype[rows] == k]
                sc = np.array(st.icd10, dtype=object)
                out[sub] = sc[rng.integers(0, len(sc), len(sub))]
        return out

    def draw_condition_dp(
        self, rng: np.random.Generator, name: str, subtype: np.ndarray
    ) -> np.ndarray:
        spec = self.conditions[name]
        codes = np.array(spec.stay_dp or spec.icd10_main, dtype=object)
        out = codes[rng.integers(0, len(codes), len(subtype))]
        if spec.subtypes:
            session = np.array([c for c in spec.stay_dp if c.startswith("Z")], dtype=object)
            j = list(self.conditions).index(name)
            tumour = self.condition_main_code(rng, np.full(len(subtype), j), subtype)
            is_session = (rng.random(len(subtype)) < 0.5) & (len(session) > 0)
            pick = (
                session[rng.integers(0, max(len(session), 1), len(subtype))]
                if len(session)
                else tumour
            )
            out = np.where(is_session, pick, tumour)
        return out

    # ------------------------------------------------------------------ stays
    def _build_stays(self) -> None:
        stays = self.general.raw["general_stays"]
        self.general_stay_dp = np.array([s["dp"] for s in stays], dtype=object)
        self.general_stay_los = np.array([float(s["los_mean"]) for s in stays])
        self.general_stay_surgical = np.array([bool(s["surgical"]) for s in stays])
        self.general_stay_act = np.array(
            [self.ccam(s["ccam"]) if s.get("ccam") else -1 for s in stays], np.int64
        )
        self._stay_items = stays
        self._stay_weights = np.array([float(s["weight"]) for s in stays])
        f = self.fall
        self.fracture_dp = np.array(f.fracture_dp, dtype=object)
        self.fracture_surgical = np.array(f.fracture_surgical)
        self._fracture_w = np.array(f.fracture_weights)
        self._hip = np.array([self.ccam(c) for c in f.hip_surgery_ccam], np.int64)
        self._wrist = np.array([self.ccam(c) for c in f.wrist_surgery_ccam], np.int64)
        self._external = np.array(f.external_cause_icd10, dtype=object)
        ghm = rd.ghm_roots()
        roots = ghm.column("ghm_root").to_pylist()
        types = ghm.column("type").to_pylist()
        prefixes = ghm.column("dp_prefixes").to_pylist()
        self._ghm_medical: dict[str, str] = {}
        self._ghm_surgical: dict[str, str] = {}
        for root, typ, pref in zip(roots, types, prefixes, strict=True):
            for p in pref if isinstance(pref, list) else str(pref).split():
                target = self._ghm_surgical if typ == "C" else self._ghm_medical
                target.setdefault(p, root)
        self.ghm_roots_table = ghm
        places = [p for p in self._causes["place_of_death"] if p["code"] != "2"]
        self._places = np.array([p["code"] for p in places], dtype=object)
        self._place_w = np.array([float(p["share"]) for p in places])

    def _eligible_weights(
        self, items: list[dict[str, Any]], weights: np.ndarray, age: np.ndarray, sex: np.ndarray
    ) -> np.ndarray:
        w = np.broadcast_to(weights, (len(age), len(items))).copy()
        for k, it in enumerate(items):
            ok = np.ones(len(age), bool)
            if it.get("sex"):
                ok &= sex == int(it["sex"])
            if it.get("min_age") is not None:
                ok &= age >= int(it["min_age"])
            if it.get("max_age") is not None:
                ok &= age <= int(it["max_age"])
            w[~ok, k] = 0.0
        return w

    @staticmethod
    def _sample_rows(rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
        cum = np.cumsum(w, axis=1)
        total = cum[:, -1]
        u = rng.random(len(w)) * np.where(total > 0, total, 1.0)
        idx = (cum < u[:, None]).sum(axis=1)
        return np.minimum(idx, w.shape[1] - 1)

    def draw_general_stay(
        self, rng: np.random.Generator, age: np.ndarray, sex: np.ndarray
    ) -> np.ndarray:
        w = self._eligible_weights(self._stay_items, self._stay_weights, age, sex)
        return self._sample_rows(rng, w)

    def draw_fracture(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(len(self._fracture_w), n, p=self._fracture_w / self._fracture_w.sum())

    def fracture_act(self, rng: np.random.Generator, frac: np.ndarray) -> np.ndarray:
        dp = self.fracture_dp[frac].astype(str)
        hip = np.char.startswith(dp, "S72")
        wrist = np.char.startswith(dp, "S52")
        out = np.full(len(frac), -1, np.int64)
        surg = self.fracture_surgical[frac]
        out[hip & surg] = self._hip[rng.integers(0, len(self._hip), (hip & surg).sum())]
        out[wrist & surg] = self._wrist[rng.integers(0, len(self._wrist), (wrist & surg).sum())]
        return out

    def draw_external_cause(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return self._external[rng.integers(0, len(self._external), n)]

    def terminal_dp(
        self, rng: np.random.Generator, chunk: Any, persons: np.ndarray, cause: np.ndarray
    ) -> np.ndarray:
        out = np.empty(len(persons), dtype=object)
        names = list(self.conditions)
        for j, name in enumerate(names):
            rows = np.flatnonzero(cause == j)
            if len(rows):
                out[rows] = self.draw_condition_dp(rng, name, chunk.cond.subtype[persons[rows]])
        rest = np.flatnonzero(cause < 0)
        medical = np.array(["J189", "A419", "R53", "I269", "N390"], dtype=object)
        out[rest] = medical[rng.integers(0, len(medical), len(rest))]
        return out

    def ssr_share_of_stays(self, stays: Any) -> np.ndarray:
        from sndslab.synth._hospital import STAY_KINDS

        share = np.full(len(stays), 0.015)
        names = list(self.conditions)
        for j, name in enumerate(names):
            share[stays["cond"] == j] = self.conditions[name].ssr_after_stay_share
        share[stays["kind"] == STAY_KINDS["fall"]] = self.fall.ssr_after_stay_share
        return share

    def ghm_root_of(self, dp: np.ndarray, surgical: np.ndarray) -> np.ndarray:
        out = np.empty(len(dp), dtype=object)
        cache: dict[tuple[str, bool], str] = {}
        for i, (code, surg) in enumerate(zip(dp.tolist(), surgical.tolist(), strict=True)):
            key = (code, bool(surg))
            if key not in cache:
                cache[key] = self._ghm_lookup(code, bool(surg))
            out[i] = cache[key]
        return out

    def _ghm_lookup(self, code: str, surgical: bool) -> str:
        for length in range(len(code), 2, -1):
            prefix = code[:length]
            if surgical and prefix in self._ghm_surgical:
                return self._ghm_surgical[prefix]
            if prefix in self._ghm_medical:
                return self._ghm_medical[prefix]
            if prefix in self._ghm_surgical:
                return self._ghm_surgical[prefix]
        return "23M20"  # "other factors influencing health status" (fallback root)

    @staticmethod
    def cmd_of(ghm: np.ndarray) -> np.ndarray:
        return np.array([str(g)[:2] for g in ghm], dtype=object)

    @staticmethod
    def ghs_number(ghm: np.ndarray) -> np.ndarray:
        """A stable 4-digit GHS number per GHM (synthetic tariff grouping)."""
        uniq, inv = np.unique(ghm.astype(str), return_inverse=True)
        numbers = np.array([1000 + (sum(map(ord, g)) * 37 % 8000) for g in uniq], np.int64)
        return numbers[inv]

    # ------------------------------------------------------------------ establishments
    def bind_world(self, world: World) -> None:
        """Precompute (département, kind) → establishment index."""
        est = world.establishments
        terr = world.territories
        n_dep = len(terr.dep)
        table = np.full((n_dep, 6), -1, np.int64)
        for d in range(n_dep):
            region = terr.region[d]
            for kind in (CH, CLINIC):
                idx = np.flatnonzero((est.dep == d) & (est.kind == kind))
                table[d, kind] = idx[0] if len(idx) else -1
            for kind in (CHU, SSR_CENTRE, HAD_SERVICE, PSY_HOSPITAL):
                idx = np.flatnonzero((est.region == region) & (est.kind == kind))
                table[d, kind] = idx[0]
        for kind in (CH, CLINIC):  # départements without their own fall back to the CHU
            missing = table[:, kind] < 0
            table[missing, kind] = table[missing, CHU]
        self._est_table = table

    def establishment_for(self, dep: np.ndarray, kind: np.ndarray) -> np.ndarray:
        return self._est_table[np.asarray(dep, np.int64), np.asarray(kind, np.int64)]

    def chu_of_person(self, chunk: Any, persons: np.ndarray) -> np.ndarray:
        return self.establishment_for(chunk.persons.dep[persons], np.full(len(persons), CHU))

    def draw_non_hospital_place(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.choice(self._places, n, p=self._place_w / self._place_w.sum())

    # ------------------------------------------------------------------ truth: drug effects
    def _build_effects(self) -> None:
        text = (
            resources.files("sndslab.synth").joinpath("data/truth_effects.yaml").read_text("utf-8")
        )
        raw = yaml.safe_load(text)
        self.effect_specs: list[dict[str, Any]] = raw["effects"]
        effects: dict[int, tuple[float, int, int]] = {}
        for e in self.effect_specs:
            atc = e["atc"]
            if atc not in self._atc_index:
                raise ValueError(f"truth_effects.yaml: ATC {atc!r} is not in drugs.csv")
            if not (e["irr"] > 0 and 0 <= e["lag_start"] <= e["lag_end"]):
                raise ValueError(f"truth_effects.yaml: invalid effect for {atc}: {e}")
            effects[self._atc_index[atc]] = (
                float(e["irr"]),
                int(e["lag_start"]),
                int(e["lag_end"]),
            )
        self.fall_effects = effects

    def annual_death_prob(self, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        return self.mortality.annual_probability(age, sex == 1)


def _ccam_specialty(code: str) -> int:
    """Specialty of the usual executor of an outpatient CCAM act (from its code structure)."""
    code = str(code)
    if len(code) < 4:
        return 6
    system, technique = code[0], code[3]
    if system == "D":
        return 3  # cardiology (ECG, echocardiography)
    if technique in "KM":
        return 6  # radiography / ultrasound: radiology
    return {"B": 15, "G": 13, "H": 8, "Q": 7, "J": 7, "A": 32}.get(system, 6)


def _ccam_price(code: str) -> float:
    """A plausible fee for a CCAM act (the public CCAM fee schedule is not vendored)."""
    code = str(code)
    technique = code[3] if len(code) >= 4 else "Q"
    action = code[2] if len(code) >= 3 else "Q"
    if technique == "K":
        return 40.0 if code[0] != "A" else 120.0
    if technique == "M":
        return 55.0
    if action == "Q":
        return 30.0
    return 250.0
