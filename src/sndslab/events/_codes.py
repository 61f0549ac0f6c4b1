"""``events.codes``: one row per code present in the events.

``description`` from the nomenclatures of the lake, ``int.ref_<name>`` (IR_PHA_R, IR_CIM_V,
IR_CCAM_V63, IR_BIO_R, XX_GHM_R, NU_UCD_R, IR_NAT_V, IR_SPE_V); ``parent_codes`` (list of codes):
ATC levels (1, 3, 4, 5 characters), ICD-10 3-character category and chapter
(``ICD10_CHAPTER//IX``), GHM major category (``GHM_CMD//08``), CIP13 → its ATC class.
A code absent from its nomenclature keeps a NULL description (it is still listed).
Referentials, parents expressions, fixed labels and ICD-10 chapters: ``vocabularies.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable

from sndslab.engines import Connection
from sndslab.events._schema import Vocab
from sndslab.events._spec import ref_table
from sndslab.events._vocabularies import vocabularies
from sndslab.lake import LakePaths, relation_or_none

__all__ = ["ICD10_CHAPTERS", "codes_sql", "nomenclatures"]

#: ``SNDS nomenclature name -> SQL relation of int.ref_<name>, or None when absent``.
Nomenclatures = Callable[[str], str | None]

#: ICD-10 chapters: (first 3-char category, last, roman numeral) (WHO ICD-10 2019), from the
#: ``ranges`` of ``ICD10_CHAPTER`` in ``vocabularies.yaml``.
ICD10_CHAPTERS = tuple(
    (first, last, chapter)
    for chapter, (first, last) in vocabularies()["ICD10_CHAPTER"].ranges.items()
)

#: Fixed labels of the codes of vocabularies without a nomenclature (``codes`` in the YAML).
_LABELS = {
    f"{v.name}//{code}": label for v in vocabularies().values() for code, label in v.codes.items()
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
    refs = [
        _ref(lake, Vocab(v.name), r.table, r.code, r.label, r.parents or empty)
        for v in vocabularies().values()
        if (r := v.referential) is not None and r.label is not None and not v.parent_only
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
