"""``events.patients``: one row per person of ``int.persons``.

Birth: ``int/persons`` holds year and month only; ``birth_date`` is the 15th of the birth month
(1 July when the month is unknown), ``birth_date_min`` the earliest possible day (use it for
"event before birth" checks) and ``birth_precision`` says which. Death: ``death_date`` with its
``death_source``: ``KI_CCI_R`` (CépiDc certificate), ``IR_BEN_R`` (beneficiary referential, via
identity resolution) or ``PMSI_MCO`` (exit mode 9 = died in an MCO stay; date = exit date).
Residence département and its région (``int.ref_ir_dpt_v``); identity flags copied from
``int.persons``. Every table is read through the lake (:func:`sndslab.lake.relation`).
"""

from __future__ import annotations

from collections.abc import Collection

from sndslab.engines import Connection
from sndslab.lake import LakePaths, relation, relation_or_none

__all__ = ["PATIENT_SOURCES", "patients_sql"]

#: The optional tables of the patients table, and what each one gives.
PATIENT_SOURCES: dict[str, str] = {
    "int.deaths": "death dates from the CépiDc certificates",
    "int.mco_stays": "deaths in an MCO stay",
    "int.ref_ir_dpt_v": "residence région",
}


def patients_sql(con: Connection, paths: LakePaths, absent: Collection[str] = ()) -> str:
    """SQL of the patients table (``int.persons`` must exist; the tables of
    :data:`PATIENT_SOURCES` are optional: those in ``absent`` or not in the lake are left
    out, their columns NULL)."""

    def optional(name: str) -> str | None:
        return None if name in absent else relation_or_none(con, paths, name)

    persons = relation(con, paths, "int.persons")
    deaths_rel = optional("int.deaths")
    stays_rel = optional("int.mco_stays")
    dpt_rel = optional("int.ref_ir_dpt_v")
    deaths = (
        f"(SELECT person_id, min(death_date) AS d FROM {deaths_rel} "
        "WHERE person_id IS NOT NULL GROUP BY ALL)"
        if deaths_rel is not None
        else "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS d WHERE FALSE)"
    )
    pmsi = (
        f"(SELECT person_id, min(exit_date) AS d FROM {stays_rel} "
        "WHERE exit_mode = '9' AND person_id IS NOT NULL GROUP BY ALL)"
        if stays_rel is not None
        else "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS d WHERE FALSE)"
    )
    region = (
        f"(SELECT GEO_DPT_COD, any_value(GEO_REG_COD) AS reg FROM {dpt_rel} GROUP BY ALL)"
        if dpt_rel is not None
        else "(SELECT NULL::VARCHAR AS GEO_DPT_COD, NULL::VARCHAR AS reg WHERE FALSE)"
    )
    valid_month = "p.birth_month BETWEEN 1 AND 12"
    return f"""SELECT p.person_id,
        CAST(p.sex AS BIGINT) AS sex,
        CASE WHEN {valid_month} THEN make_date(p.birth_year, p.birth_month, 15)
             WHEN p.birth_year IS NOT NULL THEN make_date(p.birth_year, 7, 1) END AS birth_date,
        CASE WHEN {valid_month} THEN make_date(p.birth_year, p.birth_month, 1)
             WHEN p.birth_year IS NOT NULL THEN make_date(p.birth_year, 1, 1) END AS birth_date_min,
        CASE WHEN {valid_month} THEN 'month' WHEN p.birth_year IS NOT NULL THEN 'year'
             END AS birth_precision,
        coalesce(d.d, p.death_date, m.d) AS death_date,
        CASE WHEN d.d IS NOT NULL THEN 'KI_CCI_R' WHEN p.death_date IS NOT NULL THEN 'IR_BEN_R'
             WHEN m.d IS NOT NULL THEN 'PMSI_MCO' END AS death_source,
        p.residence_dpt AS residence_dpt,
        r.reg AS residence_region,
        p.n_keys, p.fictitious_nir, p.provisional_nir, p.twin_shared_psa, p.multiple_psa,
        p.inconsistent_birth_or_sex
    FROM {persons} p
    LEFT JOIN {deaths} d ON d.person_id = p.person_id
    LEFT JOIN {pmsi} m ON m.person_id = p.person_id
    LEFT JOIN {region} r ON r.GEO_DPT_COD = p.residence_dpt"""
