"""``events.codes``: one row per code present in the events.

``description`` from the nomenclatures of the lake, ``int.ref_<name>`` (IR_PHA_R, IR_CIM_V,
IR_CCAM_V63, IR_BIO_R, XX_GHM_R, NU_UCD_R, IR_NAT_V, IR_SPE_V); ``parent_codes`` (list of codes):
ATC levels (1, 3, 4, 5 characters), ICD-10 3-character category and chapter
(``ICD10_CHAPTER//IX``), GHM major category (``GHM_CMD//08``), CIP13 → its ATC class.
A code absent from its nomenclature keeps a NULL description (it is still listed).
"""

from __future__ import annotations

from collections.abc import Callable

from sndslab.engines import Connection
from sndslab.events._schema import Vocab
from sndslab.events._spec import ref_table
from sndslab.lake import LakePaths, relation_or_none

__all__ = ["ICD10_CHAPTERS", "codes_sql", "nomenclatures"]

#: ``SNDS nomenclature name -> SQL relation of int.ref_<name>, or None when absent``.
Nomenclatures = Callable[[str], str | None]

#: ICD-10 chapters: (first 3-char category, last, roman numeral) (WHO ICD-10 2019).
ICD10_CHAPTERS = (
    ("A00", "B99", "I"), ("C00", "D48", "II"), ("D50", "D89", "III"), ("E00", "E90", "IV"),
    ("F00", "F99", "V"), ("G00", "G99", "VI"), ("H00", "H59", "VII"), ("H60", "H95", "VIII"),
    ("I00", "I99", "IX"), ("J00", "J99", "X"), ("K00", "K93", "XI"), ("L00", "L99", "XII"),
    ("M00", "M99", "XIII"), ("N00", "N99", "XIV"), ("O00", "O99", "XV"), ("P00", "P96", "XVI"),
    ("Q00", "Q99", "XVII"), ("R00", "R99", "XVIII"), ("S00", "T98", "XIX"),
    ("V01", "Y98", "XX"), ("Z00", "Z99", "XXI"), ("U00", "U99", "XXII"),
)  # fmt: skip

_LABELS = {
    "ACE//ATU": "Accueil et traitement des urgences (passage aux urgences)",
    "STAY//SSR": "Séjour SSR (soins de suite et de réadaptation)",
    "STAY//HAD": "Séjour HAD (hospitalisation à domicile)",
    "STAY//RIP": "Séjour RIM-P (psychiatrie)",
}


def nomenclatures(con: Connection, paths: LakePaths) -> Nomenclatures:
    """The lake's nomenclatures (``int.ref_<name>``) on ``con``, by SNDS name."""
    return lambda table: relation_or_none(con, paths, ref_table(table))


def _ref(
    lake: Nomenclatures, vocab: Vocab, table: str, key: str, label: str, parents: str
) -> str | None:
    rel = lake(table)
    if rel is None:
        return None
    return f"""SELECT '{vocab.value}//' || trim(CAST({key} AS VARCHAR)) AS code,
        any_value({label}) AS description, any_value({parents}) AS parent_codes
    FROM {rel} WHERE {key} IS NOT NULL GROUP BY 1"""


def codes_sql(lake: Nomenclatures, events: str) -> str:
    """SQL of the codes table for the codes of relation ``events``; ``lake`` resolves the
    nomenclatures (:func:`nomenclatures`)."""
    chapter = " ".join(
        f"WHEN left(v, 3) BETWEEN '{a}' AND '{b}' THEN 'ICD10_CHAPTER//{r}'"
        for a, b, r in ICD10_CHAPTERS
    )
    empty = "CAST([] AS VARCHAR[])"
    c = "trim(PHA_ATC_C07)"
    atc_parents = (
        f"list_filter(list_transform([1, 3, 4, 5], lambda n: CASE WHEN n < len({c}) "
        f"THEN 'ATC//' || left({c}, n) END), lambda x: x IS NOT NULL)"
    )
    refs = [
        _ref(lake, Vocab.ATC, "IR_PHA_R", "PHA_ATC_C07", "PHA_ATC_L07", atc_parents),
        _ref(
            lake,
            Vocab.CIP13,
            "IR_PHA_R",
            "PHA_CIP_C13",
            "PHA_MED_NOM",
            "['ATC//' || trim(PHA_ATC_C07)]",
        ),
        _ref(lake, Vocab.CCAM, "IR_CCAM_V63", "CAM_PRS_IDE_COD", "CAM_PRS_IDE_LIB", empty),
        _ref(lake, Vocab.NABM, "IR_BIO_R", "BIO_PRS_IDE", "BIO_INF_LIB", empty),
        _ref(lake, Vocab.GHM, "XX_GHM_R", "GHM_COD", "GHM_LIB", "['GHM_CMD//' || trim(CMD_COD)]"),
        _ref(lake, Vocab.UCD, "NU_UCD_R", "UCD_UCD_COD", "UCD_DSN_LIB", empty),
        _ref(lake, Vocab.NGAP, "IR_NAT_V", "PRS_NAT_CB2", "PRS_NAT_LIB", empty),
        _ref(lake, Vocab.SPECIALTY, "IR_SPE_V", "PFS_SPE_COD", "PFS_SPE_LIB", empty),
        _ref(lake, Vocab.ICD10, "IR_CIM_V", "CIM_COD", "CIM_LIB", empty),
    ]
    labels = " UNION ALL ".join(
        f"SELECT '{c}' AS code, '{d.replace(chr(39), chr(39) * 2)}' AS description, "
        f"{empty} AS parent_codes"
        for c, d in _LABELS.items()
    )
    ref_union = " UNION ALL ".join([r for r in refs if r is not None] + [labels])
    return f"""WITH present AS (SELECT DISTINCT code FROM {events}),
    ref AS (SELECT code, any_value(description) AS description,
                   any_value(parent_codes) AS parent_codes FROM ({ref_union}) GROUP BY code),
    icd AS (SELECT code, split_part(code, '//', 2) AS v FROM present
            WHERE starts_with(code, 'ICD10//'))
    SELECT p.code, r.description,
        CASE WHEN starts_with(p.code, 'ICD10//') THEN list_filter(
                 [CASE WHEN len(i.v) > 3 THEN 'ICD10//' || left(i.v, 3) END,
                  CASE {chapter} END], lambda x: x IS NOT NULL)
             ELSE coalesce(r.parent_codes, {empty}) END AS parent_codes
    FROM present p LEFT JOIN ref r USING (code) LEFT JOIN icd i USING (code)"""
