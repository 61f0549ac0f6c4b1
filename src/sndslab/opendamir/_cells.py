"""From a lake's DCIR claims to the cells of the Open DAMIR product (DuckDB SQL).

``int.dcir_prestations`` (one row per kept ER_PRS_F line) is mapped onto the public axes:

- ``FLX_ANN_MOI``: month of ``FLX_DIS_DTD`` (the flow month, one file per month);
  ``SOI_ANN`` / ``SOI_MOI``: year and month of ``EXE_SOI_DTD``;
- ``AGE_BEN_SNDS``: ``BEN_AMA_COD`` in the public bands (0–19 → 0, 20, …, 70, 80+ → 80;
  ``BEN_AMA_COD`` ≥ 1000, an age in months under 2, → 0; unknown → 99);
- ``BEN_SEX_COD``: 1, 2, else 9; ``BEN_RES_REG``: ``BEN_RES_DPT`` → région of the public code
  list (Corse with PACA as 93, the overseas départements as 5, unknown → 99), after INSEE's
  COG (data/departement_region.csv);
- ``PRS_NAT``: ``PRS_NAT_REF``;
- executor and prescriber (``PSE_*``, ``PSP_*``): a physician specialty of the public list
  (``PSE_SPE_COD``) → ``*_SPE_SNDS`` = it, category 1 (médecin), activity 0; a physician
  specialty outside it → 99; a non-physician (specialty 0) whose activity nature
  (``PSE_ACT_NAT``) is in the public list → ``*_ACT_SNDS`` = it, its category (dentist 4,
  midwife 5, nurse 6, physiotherapist 7, podiatrist 8, speech/orthoptic 9, laboratory 3,
  pharmacy / transport / supplier 2, establishment 0), specialty 0; otherwise 0 / 0 / 99;
- every other dimension is not detailed by the export and carries a constant
  (:data:`CONSTANTS`: the code list's unknown or "sans objet" code, or empty);
- measures: sums of ``PRS_ACT_QTE``, ``PRS_ACT_NBR``, ``PRS_ACT_COG``, ``PRS_PAI_MNT``,
  ``BSE_REM_BSE`` (→ ``PRS_REM_BSE``), ``BSE_REM_MNT`` (→ ``PRS_REM_MNT``), ``PRS_DEP_MNT``;
  the ``FLT_*`` twins repeat them (the lake holds reference lines only, so filtering removes
  nothing).

Claims without a person (``person_id`` NULL) or without a flow or care date are left out by
named rules and counted (:data:`EXCLUSION_RULES`).
"""

from __future__ import annotations

import csv
from functools import cache
from importlib import resources
from pathlib import Path

from sndslab.opendamir._schema import PUBLIC_COLUMNS, codes

__all__ = [
    "CONSTANTS",
    "DETAILED",
    "EXCLUSION_RULES",
    "MEASURE_SOURCES",
    "lines_sql",
]

#: The public axes the export details (every other dimension is a constant).
DETAILED: tuple[str, ...] = (
    "FLX_ANN_MOI", "SOI_ANN", "SOI_MOI", "AGE_BEN_SNDS", "BEN_SEX_COD", "BEN_RES_REG",
    "PRS_NAT", "PSE_ACT_SNDS", "PSE_ACT_CAT", "PSE_SPE_SNDS", "PSP_ACT_SNDS", "PSP_ACT_CAT",
    "PSP_SPE_SNDS",
)  # fmt: skip
#: Dimensions not detailed: their constant value (None: written empty).
CONSTANTS: dict[str, int | str | None] = {
    "ORG_CLE_REG": 99, "BEN_CMU_TOP": None, "BEN_QLT_COD": 9, "DDP_SPE_COD": 0,
    "ETE_CAT_SNDS": 9999, "ETE_REG_COD": 99, "ETE_TYP_SNDS": 99, "ETP_REG_COD": 99,
    "ETP_CAT_SNDS": 9999, "MDT_TYP_COD": 9, "MFT_COD": None, "PRS_FJH_TYP": 8, "ASU_NAT": 99,
    "ATT_NAT": 9, "CPL_COD": 9, "CPT_ENV_TYP": None, "DRG_AFF_NAT": None, "ETE_IND_TAA": 9,
    "EXO_MTF": 99, "MTM_NAT": 0, "PRS_PPU_SEC": 9, "PRS_REM_TAU": None, "PRS_REM_TYP": 0,
    "PRS_PDS_QCP": None, "EXE_INS_REG": 99, "PSE_STJ_SNDS": 9, "PRE_INS_REG": 99,
    "PSP_STJ_SNDS": 9, "TOP_PS5_TRG": None,
}  # fmt: skip
#: Public measure ← sum of the claim column.
MEASURE_SOURCES: dict[str, str] = {
    "PRS_ACT_COG": "PRS_ACT_COG", "PRS_ACT_NBR": "PRS_ACT_NBR", "PRS_ACT_QTE": "PRS_ACT_QTE",
    "PRS_DEP_MNT": "PRS_DEP_MNT", "PRS_PAI_MNT": "PRS_PAI_MNT", "PRS_REM_BSE": "BSE_REM_BSE",
    "PRS_REM_MNT": "BSE_REM_MNT", "FLT_ACT_COG": "PRS_ACT_COG", "FLT_ACT_NBR": "PRS_ACT_NBR",
    "FLT_ACT_QTE": "PRS_ACT_QTE", "FLT_PAI_MNT": "PRS_PAI_MNT", "FLT_DEP_MNT": "PRS_DEP_MNT",
    "FLT_REM_MNT": "BSE_REM_MNT",
}  # fmt: skip
#: Named rules that leave a claim out of the product (counted in the audit).
EXCLUSION_RULES: dict[str, str] = {
    "no_person": "person_id IS NULL",
    "no_flow_date": "FLX_DIS_DTD IS NULL",
    "no_care_date": "EXE_SOI_DTD IS NULL",
}
#: Non-physician activity natures → public category (PSE_ACT_CAT / PSP_ACT_CAT).
_ACTIVITY_CATEGORY = {19: 4, 21: 5, 24: 6, 26: 7, 27: 8, 28: 9, 29: 9, 30: 3, 50: 2, 55: 2,
                      60: 2, 90: 0}  # fmt: skip

assert set(DETAILED) | set(CONSTANTS) | set(MEASURE_SOURCES) == set(PUBLIC_COLUMNS)


@cache
def _regions() -> dict[str, int]:
    path = Path(str(resources.files("sndslab.opendamir").joinpath("data"))) / (
        "departement_region.csv"
    )
    with path.open(encoding="utf-8", newline="") as f:
        return {r["BEN_RES_DPT"]: int(r["BEN_RES_REG"]) for r in csv.DictReader(f)}


def _physician_specialties(column: str) -> list[int]:
    return [int(c) for c, _ in codes(column) if int(c) not in (0, 99)]


def _practitioner(prefix: str, spe: str, act: str) -> dict[str, str]:
    """SQL of ``<prefix>_SPE_SNDS``, ``_ACT_SNDS``, ``_ACT_CAT`` from a claim's specialty and
    activity-nature columns."""
    listed = ", ".join(str(c) for c in _physician_specialties(f"{prefix}_SPE_SNDS"))
    acts = ", ".join(str(c) for c in _ACTIVITY_CATEGORY)
    cat = " ".join(f"WHEN {a} THEN {c}" for a, c in _ACTIVITY_CATEGORY.items())
    physician = f"coalesce({spe}, 0) <> 0"
    other = f"coalesce({act}, 0) IN ({acts})"
    return {
        f"{prefix}_SPE_SNDS": f"CASE WHEN {spe} IN ({listed}) THEN {spe} "
        f"WHEN {physician} THEN 99 ELSE 0 END",
        f"{prefix}_ACT_SNDS": f"CASE WHEN {physician} THEN 0 WHEN {other} THEN {act} ELSE 0 END",
        f"{prefix}_ACT_CAT": f"CASE WHEN {physician} THEN 1 WHEN {other} THEN CASE {act} {cat} "
        "END ELSE 99 END",
    }


def dimension_sql() -> dict[str, str]:
    """SQL expression of every detailed public axis over a claim row (``c``)."""
    regions = " ".join(f"WHEN '{d}' THEN {r}" for d, r in sorted(_regions().items()))
    out = {
        "FLX_ANN_MOI": "CAST(strftime(c.FLX_DIS_DTD, '%Y%m') AS BIGINT)",
        "SOI_ANN": "year(c.EXE_SOI_DTD)",
        "SOI_MOI": "month(c.EXE_SOI_DTD)",
        "AGE_BEN_SNDS": "CASE WHEN c.BEN_AMA_COD IS NULL OR c.BEN_AMA_COD < 0 THEN 99 "
        "WHEN c.BEN_AMA_COD >= 1000 OR c.BEN_AMA_COD < 20 THEN 0 WHEN c.BEN_AMA_COD >= 80 "
        "THEN 80 ELSE c.BEN_AMA_COD // 10 * 10 END",
        "BEN_SEX_COD": "CASE WHEN c.BEN_SEX_COD IN (1, 2) THEN c.BEN_SEX_COD ELSE 9 END",
        "BEN_RES_REG": f"coalesce(CASE c.BEN_RES_DPT {regions} END, 99)",
        "PRS_NAT": "c.PRS_NAT_REF",
        **_practitioner("PSE", "c.PSE_SPE_COD", "c.PSE_ACT_NAT"),
        **_practitioner("PSP", "c.PSP_SPE_COD", "c.PSP_ACT_NAT"),
    }
    return {k: f"CAST({v} AS BIGINT)" for k, v in out.items()}


def lines_sql(claims: str) -> str:
    """One row per kept claim of ``claims`` (a relation of ``int.dcir_prestations``): the
    detailed public axes, ``person_id``, the claim measures, and ``_excluded`` (the first
    exclusion rule the claim meets, NULL when it enters the product)."""
    dims = ", ".join(f"{expr} AS {name}" for name, expr in dimension_sql().items())
    sources = sorted(set(MEASURE_SOURCES.values()))
    measures = ", ".join(f"CAST(c.{s} AS DECIMAL(18,2)) AS m_{s}" for s in sources)
    rules = " ".join(f"WHEN c.{cond.split()[0]} IS NULL THEN '{name}'" for name, cond in
                     EXCLUSION_RULES.items())  # fmt: skip
    return f"SELECT {dims}, c.person_id, {measures}, CASE {rules} END AS _excluded FROM {claims} c"
