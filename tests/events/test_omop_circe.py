"""OMOP export in a real OHDSI client: a Circe cohort written on SNDS source concepts
(``sndslab/events/cohorts/hip_fracture_dp.json``), compiled to SQL by ``ohdsi-circepy`` (the
Python port of CIRCE-BE), translated to DuckDB by its SqlRender port and run over the exported
Parquet tables; its persons and start dates equal a direct query on the lake's events."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import duckdb
import pytest
from circe import api as circe_api
from circe.cohortdefinition import BuildExpressionQueryOptions
from circe.sqlrender import split_sql, translate

from sndslab.events import EventsResult, to_omop
from sndslab.events._ids import create_subject_map
from sndslab.events._omop_cdm import CDM_TABLES
from sndslab.lake import open_lake, relation

SALT = "test"
COHORT = Path(str(importlib.resources.files("sndslab.events"))) / "cohorts" / "hip_fracture_dp.json"


@pytest.fixture(scope="module")
def omop_dir(events_result: EventsResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("omop-circe") / "omop"
    to_omop(events_result.lake, out, salt=SALT)
    return out


def test_circe_cohort_on_source_concepts_runs_on_the_export(
    omop_dir: Path, events_result: EventsResult
) -> None:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA cdm; CREATE SCHEMA results")
    for table in CDM_TABLES:
        con.execute(
            f"CREATE VIEW cdm.{table} AS SELECT * FROM read_parquet('{omop_dir / table}/*.parquet')"
        )
    con.execute(
        "CREATE TABLE results.cohort (cohort_definition_id BIGINT, subject_id BIGINT, "
        "cohort_start_date DATE, cohort_end_date DATE)"
    )
    # the concept set: the export's local SNDS_ICD10 source concepts of S72* (ids >= 2e9,
    # numbered per lake, so resolved from concept.parquet at run time)
    concepts = con.execute(
        """SELECT concept_id, concept_name, domain_id, vocabulary_id, concept_class_id,
                  concept_code
           FROM cdm.concept WHERE vocabulary_id = 'SNDS_ICD10' AND concept_code LIKE 'S72%'
           ORDER BY concept_id"""
    ).fetchall()
    assert concepts and all(c[0] >= 2_000_000_000 for c in concepts)
    keys = ("CONCEPT_ID", "CONCEPT_NAME", "DOMAIN_ID", "VOCABULARY_ID", "CONCEPT_CLASS_ID",
            "CONCEPT_CODE")  # fmt: skip
    definition = json.loads(COHORT.read_text())
    definition["ConceptSets"][0]["expression"]["items"] = [
        {"concept": dict(zip(keys, c, strict=True)), "includeDescendants": False,
         "includeMapped": False, "isExcluded": False}
        for c in concepts
    ]  # fmt: skip
    expression = circe_api.cohort_expression_from_json(json.dumps(definition))
    options = BuildExpressionQueryOptions()
    options.cdm_schema = options.vocabulary_schema = "cdm"
    options.target_table = "results.cohort"
    options.cohort_id = 1
    options.generate_stats = False
    sql = translate(circe_api.build_cohort_query(expression, options), "duckdb")
    assert "condition_source_concept_id" in sql and "32902" in sql
    for statement in split_sql(sql):
        con.execute(statement)
    got = set(
        con.execute(
            "SELECT subject_id, cohort_start_date FROM results.cohort "
            "WHERE cohort_definition_id = 1"
        ).fetchall()
    )
    # direct: persons with a PMSI primary diagnosis (DP) S72*, first date, mapped through the
    # export's surrogate person_id (same salt)
    with open_lake(events_result.lake) as lake:
        c = lake.con
        create_subject_map(c, relation(c, lake.paths, "events.patients"), SALT, name="sm")
        want = set(
            c.fetchall(
                f"""SELECT sm.subject_id, min(e.start)
                    FROM {relation(c, lake.paths, "events.events")} e JOIN sm USING (person_id)
                    WHERE e.category = 'diagnosis' AND e.code LIKE 'ICD10//S72%'
                      AND e.modifier = 'DP'
                    GROUP BY 1"""
            )
        )
    assert len(want) >= 5
    assert len(got) == len(want)
    assert {p for p, _ in got} == {p for p, _ in want}
    assert got == want
