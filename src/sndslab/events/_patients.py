"""``lake/events/patients.parquet``: one row per person of ``int/persons``.

Birth: ``int/persons`` holds year and month only; ``birth_date`` is the 15th of the birth month
(1 July when the month is unknown), ``birth_date_min`` the earliest possible day (use it for
"event before birth" checks) and ``birth_precision`` says which. Death: ``death_date`` with its
``death_source``: ``KI_CCI_R`` (CépiDc certificate), ``IR_BEN_R`` (beneficiary referential, via
identity resolution) or ``PMSI_MCO`` (exit mode 9 = died in an MCO stay; date = exit date).
Residence département and its région (IR_DPT_V); identity flags copied from ``int/persons``.
"""

from __future__ import annotations

from pathlib import Path

from sndslab.events._spec import table_exists, table_sql

__all__ = ["patients_sql"]


def patients_sql(lake: Path) -> str:
    lake = Path(lake)
    persons = table_sql(lake, "persons")
    deaths = (
        f"(SELECT person_id, min(death_date) AS d FROM {table_sql(lake, 'deaths')} "
        "WHERE person_id IS NOT NULL GROUP BY ALL)"
        if table_exists(lake, "deaths")
        else "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS d WHERE FALSE)"
    )
    pmsi = (
        f"(SELECT person_id, min(exit_date) AS d FROM {table_sql(lake, 'mco_stays')} "
        "WHERE exit_mode = '9' AND person_id IS NOT NULL GROUP BY ALL)"
        if table_exists(lake, "mco_stays")
        else "(SELECT NULL::VARCHAR AS person_id, NULL::DATE AS d WHERE FALSE)"
    )
    region = (
        f"(SELECT GEO_DPT_COD, any_value(GEO_REG_COD) AS reg FROM "
        f"{table_sql(lake, 'stg/IR_DPT_V')} GROUP BY ALL)"
        if table_exists(lake, "stg/IR_DPT_V")
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
    LEFT JOIN {region} r ON r.GEO_DPT_COD = p.residence_dpt
    ORDER BY p.person_id"""
