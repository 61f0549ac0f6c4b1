"""The same cohort in OHDSI Circe and in a sndslab spec selects the same persons on the same
days: ``sndslab/events/cohorts/hip_fracture_dp.json`` compiled by ``ohdsi-circepy`` (the
Python port of CIRCE-BE) and run on the lake's OMOP export, and its YAML twin
``sndslab/cohorts/specs/hip_fracture_dp.yaml`` built on the lake (see docs/cohorts.md for
what maps between the two models and what does not)."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import duckdb
from circe import api as circe_api
from circe.cohortdefinition import BuildExpressionQueryOptions
from circe.sqlrender import split_sql, translate

import sndslab
from sndslab.cohorts import build_cohort
from sndslab.events import to_omop
from sndslab.events._ids import create_subject_map
from sndslab.events._omop_cdm import CDM_TABLES
from sndslab.lake import relation

SALT = "cohorts"
CIRCE = Path(str(importlib.resources.files("sndslab.events"))) / "cohorts" / "hip_fracture_dp.json"


def _circe_cohort(omop: Path) -> set[tuple[int, object]]:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA cdm; CREATE SCHEMA results")
    for table in CDM_TABLES:
        con.execute(
            f"CREATE VIEW cdm.{table} AS SELECT * FROM read_parquet('{omop / table}/*.parquet')"
        )
    con.execute(
        "CREATE TABLE results.cohort (cohort_definition_id BIGINT, subject_id BIGINT, "
        "cohort_start_date DATE, cohort_end_date DATE)"
    )
    concepts = con.execute(
        """SELECT concept_id, concept_name, domain_id, vocabulary_id, concept_class_id,
                  concept_code FROM cdm.concept
           WHERE vocabulary_id = 'SNDS_ICD10' AND concept_code LIKE 'S72%' ORDER BY concept_id"""
    ).fetchall()
    keys = ("CONCEPT_ID", "CONCEPT_NAME", "DOMAIN_ID", "VOCABULARY_ID", "CONCEPT_CLASS_ID",
            "CONCEPT_CODE")  # fmt: skip
    definition = json.loads(CIRCE.read_text())
    definition["ConceptSets"][0]["expression"]["items"] = [
        {"concept": dict(zip(keys, c, strict=True)), "includeDescendants": False,
         "includeMapped": False, "isExcluded": False}
        for c in concepts
    ]  # fmt: skip
    options = BuildExpressionQueryOptions()
    options.cdm_schema = options.vocabulary_schema = "cdm"
    options.target_table = "results.cohort"
    options.cohort_id = 1
    options.generate_stats = False
    expression = circe_api.cohort_expression_from_json(json.dumps(definition))
    for statement in split_sql(
        translate(circe_api.build_cohort_query(expression, options), "duckdb")
    ):
        con.execute(statement)
    return set(
        con.execute(
            "SELECT subject_id, cohort_start_date FROM results.cohort "
            "WHERE cohort_definition_id = 1"
        ).fetchall()
    )


def test_yaml_twin_selects_the_circe_persons(cohort_lake: Path, tmp_path: Path) -> None:
    omop = tmp_path / "omop"
    to_omop(cohort_lake, omop, salt=SALT)
    circe = _circe_cohort(omop)
    with sndslab.open_lake(cohort_lake) as lake:
        result = build_cohort(lake, "hip_fracture_dp")
        create_subject_map(lake.con, relation(lake.con, lake.paths, "events.patients"), SALT,
                           name="_circe_sm")  # fmt: skip
        ours = set(
            lake.con.fetchall(
                f"""SELECT sm.subject_id, c.index_date FROM {result.relation} c
                JOIN _circe_sm sm USING (person_id)"""
            )
        )
        result.drop()
    assert len(ours) >= 5
    assert ours == circe
