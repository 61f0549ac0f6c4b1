"""Causes of death: the underlying cause (KI_CCI_R) and the death certificate (KI_ECD_R).

Calibration (``data/causes_of_death.yaml``, sources in ``data/SOURCES.md``): the underlying
cause of each death falls in one ICD-10 group (tumours, circulatory, respiratory, external
causes, nervous system, …) whose share of all deaths follows the CépiDc-Inserm distribution of
2016–2019 (tumours ≈ 28 %, circulatory ≈ 21.5 %, …). For a dead person ``i`` the probability of
group ``g`` is proportional to ``λ_g · age_profile_g(age_i) · Π_j k_j`` over the conditions ``j``
present whose group is ``g``, ``k_j`` the condition's ``condition_tilt`` (default its mortality
hazard ratio): a person with cancer most likely dies of a tumour. The
``λ_g`` are fitted by iterative proportional fitting on the deaths of the chunk so that the
expected number of deaths of each group equals its share: conditions move deaths between
persons, not between groups. Within the group the death is attributed to one of the person's
conditions of that group with probability ``(k_j - 1) / (1 + Σ (k_l - 1))``, otherwise to no
condition (a default code of the group, by age and sex).

Encoding of ``Chunk.death_cause`` (returned by :func:`assign_causes`): ``>= 0`` the index of the
condition the death is attributed to; ``-1`` no death (or no cause drawn); ``<= -2`` a death not
attributed to a condition, of group ``-2 - g`` (:func:`encode_group`). A scenario (e.g.
COVID-19 deaths in 2020–2021) sets ``chunk.death_cause[i] = encode_group(model, "covid")``.

The certificate (CépiDc model, part I a–d then part II): line 1 carries the immediate cause, the
following lines each the cause of the line above, the underlying cause on the last line used;
part II (``CER_LIG_NUM`` 5) the other significant conditions. ``ECD_CAU_RNG`` numbers the causes
in the order written, so rank 1 is the underlying cause only when part I has a single line.
For external causes the injury (S/T code) is written above the external cause (V–Y), which is the
underlying cause (ICD-10 rule: the external cause is coded as underlying).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from sndslab.synth import _refdata as rd
from sndslab.synth._frame import Frame
from sndslab.synth._ids import NO_DAY

#: ``CER_LIG_NUM`` of part II (other significant conditions).
PART2_LINE = 5
NO_CAUSE = -1


@dataclass(frozen=True)
class CodeList:
    """Codes with weights and optional sex / age restrictions."""

    codes: np.ndarray  # object [k]
    weights: np.ndarray  # float [k]
    sex: np.ndarray  # int [k], 0 = both
    min_age: np.ndarray  # float [k]
    max_age: np.ndarray  # float [k]

    @classmethod
    def of(cls, items: list[dict[str, Any]]) -> CodeList:
        return cls(
            codes=np.array([str(c["icd10"]) for c in items], dtype=object),
            weights=np.array([float(c["weight"]) for c in items]),
            sex=np.array([int(c.get("sex") or 0) for c in items]),
            min_age=np.array([float(c.get("min_age", -1)) for c in items]),
            max_age=np.array([float(c.get("max_age", 1e9)) for c in items]),
        )

    def draw(self, rng: np.random.Generator, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
        """One code per person among the codes allowed at its age and sex (all codes when
        none is allowed)."""
        ok = (self.sex[None, :] == 0) | (self.sex[None, :] == sex[:, None])
        ok &= (age[:, None] >= self.min_age[None, :]) & (age[:, None] <= self.max_age[None, :])
        w = np.where(ok, self.weights[None, :], 0.0)
        w = np.where(w.sum(axis=1, keepdims=True) > 0, w, self.weights[None, :])
        return self.codes[_sample_rows(rng, w)]


@dataclass(frozen=True)
class CauseModel:
    """The parsed ``causes_of_death.yaml`` bound to the conditions of ``conditions.yaml``."""

    groups: tuple[str, ...]
    share: np.ndarray  # [G]
    age_bands: np.ndarray  # [B] lower bounds
    age_profile: np.ndarray  # [G, B]
    codes: tuple[CodeList, ...]  # per group
    condition_group: np.ndarray  # [n_conditions] group index, -1 = never a cause
    condition_tilt: np.ndarray  # [n_conditions] multiplier of its group (nan: use the hr)
    condition_codes: tuple[np.ndarray, ...]  # per condition, its death codes of its group
    subtype_codes: tuple[tuple[np.ndarray, ...], ...]  # per condition, per subtype (site)
    part1_lines: np.ndarray  # [4] probabilities of 1..4 lines
    part2_max: int
    immediate: CodeList
    intermediate: tuple[np.ndarray, ...]  # per group (may be empty)
    external_injury: np.ndarray

    def group(self, name: str) -> int:
        return self.groups.index(name)


def _chapter_group(code: str, group_codes: dict[str, set[str]]) -> str | None:
    for g, codes in group_codes.items():
        if code[:1] in {c[:1] for c in codes}:
            return g
    return None


@lru_cache(maxsize=4)
def _model(condition_names: tuple[str, ...]) -> CauseModel:
    d = rd.causes_of_death()
    conditions = rd.conditions()
    groups = tuple(d["cause_groups"])
    spec = d["cause_groups"]
    cond_group = np.full(len(condition_names), -1, np.int64)
    cond_codes: list[np.ndarray] = []
    sub_codes: list[tuple[np.ndarray, ...]] = []
    for j, name in enumerate(condition_names):
        g = d["condition_groups"].get(name)
        cs = conditions[name]
        letters = {str(c["icd10"])[0] for c in spec[g]["codes"]} if g is not None else set()
        codes = [c for c in dict.fromkeys(cs.death_causes) if c[0] in letters]
        subs = tuple(
            np.array([c for c in st.icd10 if c[0] in letters], dtype=object) for st in cs.subtypes
        )
        if g is not None and (codes or any(len(x) for x in subs)):
            cond_group[j] = groups.index(g)
        cond_codes.append(np.array(codes, dtype=object))
        sub_codes.append(subs)
    cert = d["certificate"]
    lines = cert["part1_lines"]
    return CauseModel(
        groups=groups,
        share=np.array([float(spec[g]["share"]) for g in groups]),
        age_bands=np.array(d["age_bands"], dtype=float),
        age_profile=np.array([[float(x) for x in spec[g]["age_profile"]] for g in groups]),
        codes=tuple(CodeList.of(spec[g]["codes"]) for g in groups),
        condition_group=cond_group,
        condition_tilt=np.array(
            [float(d.get("condition_tilt", {}).get(c, np.nan)) for c in condition_names]
        ),
        condition_codes=tuple(cond_codes),
        subtype_codes=tuple(sub_codes),
        part1_lines=np.array([float(lines[k]) for k in (1, 2, 3, 4)]),
        part2_max=int(cert["part2_max"]),
        immediate=CodeList.of(cert["immediate"]),
        intermediate=tuple(np.array(cert["intermediate"].get(g, []), dtype=object) for g in groups),
        external_injury=np.array(cert["external_injury"], dtype=object),
    )


def cause_model(condition_names: list[str] | tuple[str, ...]) -> CauseModel:
    """The cause model for conditions named (in order) ``condition_names``."""
    return _model(tuple(condition_names))


def encode_group(model: CauseModel, name: str) -> int:
    """``Chunk.death_cause`` value of a death of group ``name`` attributed to no condition."""
    return -2 - model.group(name)


def _sample_rows(rng: np.random.Generator, w: np.ndarray) -> np.ndarray:
    cum = np.cumsum(w, axis=1)
    total = cum[:, -1]
    u = rng.random(len(w)) * np.where(total > 0, total, 1.0)
    return np.minimum((cum < u[:, None]).sum(axis=1), w.shape[1] - 1)


def _fit_lambda(base: np.ndarray, target: np.ndarray, iterations: int = 50) -> np.ndarray:
    """Group multipliers ``λ`` such that ``Σ_i P_i(g) = target_g`` where ``P_i(g) ∝ λ_g ·
    base[i, g]`` (iterative proportional fitting; groups with no weight keep ``λ = 1``)."""
    lam = np.ones(base.shape[1])
    for _ in range(iterations):
        w = base * lam
        p = w / np.maximum(w.sum(axis=1, keepdims=True), 1e-300)
        got = p.sum(axis=0)
        ok = (got > 0) & (target > 0)
        lam[ok] *= target[ok] / got[ok]
        lam[target <= 0] = 0.0
    return lam


def assign_causes(
    rng: np.random.Generator,
    model: CauseModel,
    age: np.ndarray,
    sex: np.ndarray,
    hr: np.ndarray,
    dies: np.ndarray,
) -> np.ndarray:
    """``Chunk.death_cause`` for every person (see the module docstring for the encoding).

    ``age`` is the age at death, ``hr[i, j]`` the mortality hazard ratio of condition ``j`` for
    person ``i`` (1 when absent), ``dies`` who dies during the study.
    """
    n = len(age)
    cause = np.full(n, NO_CAUSE, np.int64)
    idx = np.flatnonzero(dies)
    if len(idx) == 0:
        return cause
    n_groups = len(model.groups)
    band = np.clip(np.searchsorted(model.age_bands, age[idx], side="right") - 1, 0, None)
    tilt = np.ones((len(idx), n_groups))
    excess = np.zeros((len(idx), hr.shape[1]))
    for j, g in enumerate(model.condition_group):
        if g < 0:
            continue
        has = hr[idx, j] > 1.0
        factor = model.condition_tilt[j] if np.isfinite(model.condition_tilt[j]) else None
        k = np.where(has, factor if factor is not None else hr[idx, j], 1.0)
        tilt[:, g] *= k
        excess[:, j] = k - 1.0
    base = model.age_profile[:, band].T * tilt
    lam = _fit_lambda(base, model.share * len(idx))
    group = _sample_rows(rng, base * lam)
    # attribution to a condition of the drawn group, in proportion to its excess hazard
    in_group = model.condition_group[None, :] == group[:, None]
    w = np.where(in_group, excess, 0.0)
    w = np.concatenate([np.ones((len(idx), 1)), w], axis=1)
    pick = _sample_rows(rng, w) - 1
    cause[idx] = np.where(pick >= 0, pick, -2 - group)
    return cause


def group_of(model: CauseModel, cause: np.ndarray) -> np.ndarray:
    """Group index of each encoded cause (``-1`` for ``NO_CAUSE``)."""
    cond = np.maximum(cause, 0)
    return np.where(
        cause >= 0,
        model.condition_group[cond] if len(model.condition_group) else -1,
        np.where(cause <= -2, -2 - cause, -1),
    )


def underlying_causes(
    rng: np.random.Generator,
    model: CauseModel,
    cause: np.ndarray,
    age: np.ndarray,
    sex: np.ndarray,
    subtype: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``(icd10, group)``: the underlying cause of each death and its group.

    ``cause`` is encoded as in the module docstring (a ``NO_CAUSE`` row gets a group drawn from
    the shares); ``subtype`` the person's condition subtype (cancer site, ``-1`` none): a death
    attributed to a condition with subtypes takes a code of the person's site."""
    n = len(cause)
    out = np.full(n, None, dtype=object)
    filled = np.zeros(n, bool)
    group = group_of(model, cause)
    unknown = np.flatnonzero(group < 0)
    if len(unknown):
        p = model.share / model.share.sum()
        group[unknown] = rng.choice(len(p), len(unknown), p=p)
    for j, codes in enumerate(model.condition_codes):
        rows = np.flatnonzero(cause == j)
        if len(rows) == 0:
            continue
        if len(codes):
            out[rows] = codes[rng.integers(0, len(codes), len(rows))]
            filled[rows] = True
        for k, site in enumerate(model.subtype_codes[j]):
            sub = rows[subtype[rows] == k]
            if len(sub) and len(site):
                out[sub] = site[rng.integers(0, len(site), len(sub))]
                filled[sub] = True
    for g, code_list in enumerate(model.codes):
        rows = np.flatnonzero((group == g) & ~filled)
        if len(rows):
            out[rows] = code_list.draw(rng, age[rows], sex[rows])
    return out, group


def certificate_lines(
    rng: np.random.Generator,
    model: CauseModel,
    person: np.ndarray,
    underlying: np.ndarray,
    group: np.ndarray,
    age: np.ndarray,
    sex: np.ndarray,
    comorbid_person: np.ndarray,
    comorbid_code: np.ndarray,
) -> Frame:
    """KI_ECD_R lines of each certificate: ``person``, ``line`` (CER_LIG_NUM), ``rank``
    (ECD_CAU_RNG, 1 = first cause written), ``code``.

    Part I: ``k`` lines (``part1_lines``; at least 2 for external causes), line 1 the immediate
    cause, lines 2..k-1 intermediate causes of the group, line k the underlying cause. Part II:
    up to ``part2_max`` other conditions (``comorbid_person``/``comorbid_code``, one row per
    condition present at death), minus any code already written in part I."""
    n = len(person)
    k = rng.choice(np.arange(1, 5), n, p=model.part1_lines / model.part1_lines.sum())
    external = group == model.group("external")
    k = np.where(external, np.maximum(k, 2), k)
    parts: list[Frame] = []
    # line 1: the immediate cause (for an external cause, the injury)
    first = model.immediate.draw(rng, age, sex)
    injury = model.external_injury[rng.integers(0, len(model.external_injury), n)]
    first = np.where(external, injury, first)
    first = np.where(k == 1, underlying, first)
    parts.append(Frame(person=person, line=np.ones(n, np.int64), code=first))
    for line in (2, 3):  # intermediate causes
        rows = np.flatnonzero(k > line)
        if len(rows) == 0:
            continue
        code = np.empty(len(rows), dtype=object)
        for g in np.unique(group[rows]):
            pool = model.intermediate[g]
            sel = np.flatnonzero(group[rows] == g)
            if len(pool) == 0:
                pool = model.immediate.codes
            code[sel] = pool[rng.integers(0, len(pool), len(sel))]
        parts.append(Frame(person=person[rows], line=np.full(len(rows), line, np.int64), code=code))
    last = np.flatnonzero(k >= 2)
    parts.append(Frame(person=person[last], line=k[last].astype(np.int64), code=underlying[last]))
    # part II: other conditions present at death (not already on part I)
    if len(comorbid_person):
        pos = np.searchsorted(person, comorbid_person)
        keep = comorbid_code != underlying[pos]
        cp, cc = comorbid_person[keep], comorbid_code[keep]
        order = np.lexsort((rng.random(len(cp)), cp))
        cp, cc = cp[order], cc[order]
        start = np.r_[0, np.flatnonzero(cp[1:] != cp[:-1]) + 1]
        within = np.arange(len(cp)) - np.repeat(start, np.diff(np.r_[start, len(cp)]))
        sel = within < model.part2_max
        parts.append(
            Frame(person=cp[sel], line=np.full(int(sel.sum()), PART2_LINE, np.int64), code=cc[sel])
        )
    listed = Frame.concat(parts)
    order = np.lexsort((listed["line"], listed["person"]))
    listed = listed.take(order)
    # drop a part II code repeating a part I code of the same certificate
    key = np.char.add(listed["person"].astype(str), np.char.add("|", listed["code"].astype(str)))
    _, first_of = np.unique(key, return_index=True)
    unique = np.zeros(len(listed), bool)
    unique[first_of] = True
    listed = listed.filter(unique | (listed["line"] < PART2_LINE))
    start = np.r_[0, np.flatnonzero(listed["person"][1:] != listed["person"][:-1]) + 1]
    rank = np.arange(len(listed)) - np.repeat(start, np.diff(np.r_[start, len(listed)])) + 1
    return listed.with_columns(rank=rank.astype(np.int64))


def present_conditions(onset: np.ndarray, death: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, condition) of the conditions with an onset before death (``NO_DAY`` = never)."""
    rows, cols = np.nonzero((onset < NO_DAY) & (onset <= death[:, None]))
    return rows, cols
