"""Fixtures of the pathway tests: a hand-made lake writer (patients and events written as an
events layer, so every count is worked out by hand) and the session's synthetic lake with its
events and pathways (2,000 persons × 2019–2020, read-only: copy before modifying)."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

import sndslab
from sndslab.lake import write_generation
from sndslab.pathways import PathwaysResult, compute_pathways

#: person, sex, birth date, death date, département, région
Patient = tuple[str, int, str | None, str | None, str | None, str | None]
#: person, start, end, code, category, modifier, stay id
Event = tuple[str, str, str | None, str, str, str | None, str | None]


def _lit(v: object) -> str:
    return "NULL" if v is None else "'" + str(v) + "'"


def filler_events(years: Sequence[int] = (2019, 2020)) -> list[Event]:
    """Dispensings of a filler person every month of ``years`` (so that the lake's data years,
    judged on dispensings and visits, are ``years``)."""
    return [
        ("F0", f"{y}-{m:02d}-15", None, "ATC//A02BC01", "dispensing", None, None)
        for y in years
        for m in range(1, 13)
    ]


def write_lake(root: Path, patients: Sequence[Patient], events: Sequence[Event]) -> Path:
    """A lake whose events layer holds exactly ``patients`` and ``events``."""
    lake = sndslab.open_lake(root, create=True)
    pat = " UNION ALL ".join(
        f"""SELECT CAST({_lit(p)} AS VARCHAR) AS person_id, CAST({s} AS BIGINT) AS sex,
        CAST({_lit(b)} AS DATE) AS birth_date, CAST({_lit(b)} AS DATE) AS birth_date_min,
        CAST('month' AS VARCHAR) AS birth_precision, CAST({_lit(d)} AS DATE) AS death_date,
        CAST({_lit("KI_CCI_R" if d else None)} AS VARCHAR) AS death_source,
        CAST({_lit(dpt)} AS VARCHAR) AS residence_dpt,
        CAST({_lit(reg)} AS VARCHAR) AS residence_region,
        CAST(1 AS BIGINT) AS n_keys, FALSE AS fictitious_nir, FALSE AS provisional_nir,
        FALSE AS twin_shared_psa, FALSE AS multiple_psa, FALSE AS inconsistent_birth_or_sex"""
        for p, s, b, d, dpt, reg in [*patients, ("F0", 1, "1970-01-15", None, "075", "11")]
    )
    ev = " UNION ALL ".join(
        f"""SELECT CAST({_lit(p)} AS VARCHAR) AS person_id, CAST({_lit(s)} AS DATE) AS start,
        CAST({_lit(e)} AS DATE) AS "end", CAST({_lit(c)} AS VARCHAR) AS code,
        CAST({_lit(cat)} AS VARCHAR) AS category, CAST(1 AS DOUBLE) AS quantity,
        CAST(10 AS DOUBLE) AS amount_paid, CAST(7 AS DOUBLE) AS amount_reimbursed,
        CAST({_lit(m)} AS VARCHAR) AS modifier, CAST('handmade' AS VARCHAR) AS source_table,
        CAST({_lit(f"{p}|{s}|{c}|{i}")} AS VARCHAR) AS source_key,
        CAST({_lit(stay)} AS VARCHAR) AS stay_id,
        CAST(NULL AS VARCHAR) AS prescriber_id, CAST(NULL AS VARCHAR) AS executor_id,
        CAST(NULL AS VARCHAR) AS establishment_id, CAST('exact' AS VARCHAR) AS date_quality"""
        for i, (p, s, e, c, cat, m, stay) in enumerate(events)
    )
    with write_generation(lake.paths, "events", lake.con) as w:
        w.write("patients", pat)
        w.write("events", ev)
    lake.close()
    return root


@pytest.fixture(scope="session")
def pathways_lake(
    events_synth: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, PathwaysResult]:
    """(lake, result): a copy of the session's lake with its events, and the shipped
    pathways computed (merge threshold 11)."""
    lake = tmp_path_factory.mktemp("pathways-lake") / "lake"
    shutil.copytree(events_synth, lake)
    return lake, compute_pathways(lake)
