"""OMOP CDM 5.4 table definitions (the tables the export writes) and :func:`validate_omop`.

Source: the OHDSI Common Data Model v5.4 field-level specification (OHDSI/CommonDataModel,
``inst/csv/OMOP_CDMv5.4_Field_Level.csv``; Apache License 2.0, © Observational Health Data
Sciences and Informatics). Column names, order, types and required flags below were written from
it and checked column by column against the official DuckDB DDL
(``inst/ddl/5.4/duckdb/OMOPCDM_duckdb_5.4_ddl.sql``, commit 0dd2175a77db). Only the 12 tables of
the export are declared; the DDL is generated from them (:func:`ddl`), with the DuckDB DDL's type
spellings (``integer``, ``date``, ``TIMESTAMP``, ``varchar(n)``, ``NUMERIC``, ``TEXT``).

>>> [c.name for c in CDM_TABLES["death"]][:3]
['person_id', 'death_date', 'death_datetime']
>>> "death_date date NOT NULL" in ddl()
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from sndslab.errors import SndslabError

__all__ = ["CDM_TABLES", "CDM_VERSION", "Column", "OmopValidationError", "ddl", "validate_omop"]

CDM_VERSION = "5.4"


class OmopValidationError(SndslabError):
    """An OMOP export does not satisfy the CDM 5.4 DDL or its integrity checks (the message
    names the table and the column)."""


@dataclass(frozen=True)
class Column:
    """One CDM field: name, DDL type, NOT NULL."""

    name: str
    type: str
    required: bool

    @property
    def duckdb_type(self) -> str:
        """The type DuckDB reports for this column (``DESCRIBE``)."""
        t = self.type.lower()
        if t.startswith("varchar") or t == "text":
            return "VARCHAR"
        return {"integer": "INTEGER", "date": "DATE", "timestamp": "TIMESTAMP",
                "numeric": "DECIMAL(18,3)"}[t]  # fmt: skip

    @property
    def max_length(self) -> int | None:
        m = re.fullmatch(r"varchar\((\d+)\)", self.type)
        return int(m.group(1)) if m else None


# "name type" per line; a trailing "!" marks a required (NOT NULL) field.
_SPEC = {
    "person": """person_id integer ! | gender_concept_id integer ! | year_of_birth integer ! |
        month_of_birth integer | day_of_birth integer | birth_datetime TIMESTAMP |
        race_concept_id integer ! | ethnicity_concept_id integer ! | location_id integer |
        provider_id integer | care_site_id integer | person_source_value varchar(50) |
        gender_source_value varchar(50) | gender_source_concept_id integer |
        race_source_value varchar(50) | race_source_concept_id integer |
        ethnicity_source_value varchar(50) | ethnicity_source_concept_id integer""",
    "observation_period": """observation_period_id integer ! | person_id integer ! |
        observation_period_start_date date ! | observation_period_end_date date ! |
        period_type_concept_id integer !""",
    "visit_occurrence": """visit_occurrence_id integer ! | person_id integer ! |
        visit_concept_id integer ! | visit_start_date date ! | visit_start_datetime TIMESTAMP |
        visit_end_date date ! | visit_end_datetime TIMESTAMP | visit_type_concept_id integer ! |
        provider_id integer | care_site_id integer | visit_source_value varchar(50) |
        visit_source_concept_id integer | admitted_from_concept_id integer |
        admitted_from_source_value varchar(50) | discharged_to_concept_id integer |
        discharged_to_source_value varchar(50) | preceding_visit_occurrence_id integer""",
    "condition_occurrence": """condition_occurrence_id integer ! | person_id integer ! |
        condition_concept_id integer ! | condition_start_date date ! |
        condition_start_datetime TIMESTAMP | condition_end_date date |
        condition_end_datetime TIMESTAMP | condition_type_concept_id integer ! |
        condition_status_concept_id integer | stop_reason varchar(20) | provider_id integer |
        visit_occurrence_id integer | visit_detail_id integer |
        condition_source_value varchar(50) | condition_source_concept_id integer |
        condition_status_source_value varchar(50)""",
    "drug_exposure": """drug_exposure_id integer ! | person_id integer ! |
        drug_concept_id integer ! | drug_exposure_start_date date ! |
        drug_exposure_start_datetime TIMESTAMP | drug_exposure_end_date date ! |
        drug_exposure_end_datetime TIMESTAMP | verbatim_end_date date |
        drug_type_concept_id integer ! | stop_reason varchar(20) | refills integer |
        quantity NUMERIC | days_supply integer | sig TEXT | route_concept_id integer |
        lot_number varchar(50) | provider_id integer | visit_occurrence_id integer |
        visit_detail_id integer | drug_source_value varchar(50) |
        drug_source_concept_id integer | route_source_value varchar(50) |
        dose_unit_source_value varchar(50)""",
    "procedure_occurrence": """procedure_occurrence_id integer ! | person_id integer ! |
        procedure_concept_id integer ! | procedure_date date ! | procedure_datetime TIMESTAMP |
        procedure_end_date date | procedure_end_datetime TIMESTAMP |
        procedure_type_concept_id integer ! | modifier_concept_id integer | quantity integer |
        provider_id integer | visit_occurrence_id integer | visit_detail_id integer |
        procedure_source_value varchar(50) | procedure_source_concept_id integer |
        modifier_source_value varchar(50)""",
    "measurement": """measurement_id integer ! | person_id integer ! |
        measurement_concept_id integer ! | measurement_date date ! |
        measurement_datetime TIMESTAMP | measurement_time varchar(10) |
        measurement_type_concept_id integer ! | operator_concept_id integer |
        value_as_number NUMERIC | value_as_concept_id integer | unit_concept_id integer |
        range_low NUMERIC | range_high NUMERIC | provider_id integer |
        visit_occurrence_id integer | visit_detail_id integer |
        measurement_source_value varchar(50) | measurement_source_concept_id integer |
        unit_source_value varchar(50) | unit_source_concept_id integer |
        value_source_value varchar(50) | measurement_event_id integer |
        meas_event_field_concept_id integer""",
    "death": """person_id integer ! | death_date date ! | death_datetime TIMESTAMP |
        death_type_concept_id integer | cause_concept_id integer |
        cause_source_value varchar(50) | cause_source_concept_id integer""",
    "concept": """concept_id integer ! | concept_name varchar(255) ! | domain_id varchar(20) ! |
        vocabulary_id varchar(20) ! | concept_class_id varchar(20) ! |
        standard_concept varchar(1) | concept_code varchar(50) ! | valid_start_date date ! |
        valid_end_date date ! | invalid_reason varchar(1)""",
    "vocabulary": """vocabulary_id varchar(20) ! | vocabulary_name varchar(255) ! |
        vocabulary_reference varchar(255) | vocabulary_version varchar(255) |
        vocabulary_concept_id integer !""",
    "concept_relationship": """concept_id_1 integer ! | concept_id_2 integer ! |
        relationship_id varchar(20) ! | valid_start_date date ! | valid_end_date date ! |
        invalid_reason varchar(1)""",
    "source_to_concept_map": """source_code varchar(50) ! | source_concept_id integer ! |
        source_vocabulary_id varchar(20) ! | source_code_description varchar(255) |
        target_concept_id integer ! | target_vocabulary_id varchar(20) ! |
        valid_start_date date ! | valid_end_date date ! | invalid_reason varchar(1)""",
}


def _parse(spec: str) -> tuple[Column, ...]:
    cols = []
    for item in spec.split("|"):
        parts = item.split()
        cols.append(Column(parts[0], parts[1], len(parts) > 2 and parts[2] == "!"))
    return tuple(cols)


#: The exported CDM tables, in DDL order, each a tuple of :class:`Column`.
CDM_TABLES: dict[str, tuple[Column, ...]] = {t: _parse(s) for t, s in _SPEC.items()}

#: Primary key (unique, NOT NULL) of each table that has one; death: one row per person.
PRIMARY_KEYS = {
    "person": "person_id",
    "observation_period": "observation_period_id",
    "visit_occurrence": "visit_occurrence_id",
    "condition_occurrence": "condition_occurrence_id",
    "drug_exposure": "drug_exposure_id",
    "procedure_occurrence": "procedure_occurrence_id",
    "measurement": "measurement_id",
    "death": "person_id",
    "concept": "concept_id",
    "vocabulary": "vocabulary_id",
}

#: Clinical tables: (table, start date column); their rows must lie in an observation period.
EVENT_TABLES = {
    "visit_occurrence": "visit_start_date",
    "condition_occurrence": "condition_start_date",
    "drug_exposure": "drug_exposure_start_date",
    "procedure_occurrence": "procedure_date",
    "measurement": "measurement_date",
}


def ddl(schema: str = "cdm") -> str:
    """``CREATE TABLE`` statements of :data:`CDM_TABLES` in ``schema``."""
    stmts = []
    for table, cols in CDM_TABLES.items():
        body = ",\n  ".join(
            f"{c.name} {c.type}{' NOT NULL' if c.required else ' NULL'}" for c in cols
        )
        stmts.append(f"CREATE TABLE {schema}.{table} (\n  {body}\n);")
    return "\n".join(stmts) + "\n"


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    return con.execute(sql).fetchall()[0][0]


def _check_table(con: duckdb.DuckDBPyConnection, table: str, path: Path) -> int:
    """Columns, types, NOT NULL, lengths, then the DDL INSERT (``path``: the table's dataset
    directory); returns the row count."""
    src = f"read_parquet({_q(path / '*.parquet')})"  # lake-path-ok: an export, not the lake
    got = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    cols = CDM_TABLES[table]
    for c in cols:
        if c.name not in got:
            raise OmopValidationError(f"table {table}: column {c.name!r} is missing")
        if got[c.name] != c.duckdb_type:
            raise OmopValidationError(
                f"table {table}, column {c.name!r}: type {got[c.name]}, expected {c.duckdb_type}"
                f" ({c.type})"
            )
    extra = sorted(set(got) - {c.name for c in cols})
    if extra:
        raise OmopValidationError(f"table {table}: columns {extra} are not in the CDM 5.4 DDL")
    required = [c for c in cols if c.required]
    bounded = [c for c in cols if c.max_length]
    checks = [f'count(*) FILTER (WHERE "{c.name}" IS NULL)' for c in required] + [
        f'count(*) FILTER (WHERE length("{c.name}") > {c.max_length})' for c in bounded
    ]
    row = con.execute(f"SELECT count(*), {', '.join(checks)} FROM {src}").fetchall()[0]
    for c, n in zip(required, row[1 : 1 + len(required)], strict=True):
        if n:
            raise OmopValidationError(
                f"table {table}, column {c.name!r}: {n} NULL value(s) in a NOT NULL column"
            )
    for c, n in zip(bounded, row[1 + len(required) :], strict=True):
        if n:
            raise OmopValidationError(
                f"table {table}, column {c.name!r}: {n} value(s) longer than {c.type}"
            )
    names = ", ".join(f'"{c.name}"' for c in cols)
    try:
        con.execute(f"INSERT INTO cdm.{table} ({names}) SELECT {names} FROM {src}")
    except duckdb.Error as exc:
        msg = " ".join(str(exc).split())
        raise OmopValidationError(f"table {table}: rejected by the CDM 5.4 DDL: {msg}") from exc
    return int(row[0])


def _fail_if(con: duckdb.DuckDBPyConnection, sql: str, message: str) -> None:
    n = _one(con, f"SELECT count(*) FROM ({sql})")
    if n:
        raise OmopValidationError(message.format(n=n))


def _integrity(con: duckdb.DuckDBPyConnection) -> None:
    for table, key in PRIMARY_KEYS.items():
        _fail_if(
            con,
            f"SELECT {key} FROM cdm.{table} GROUP BY {key} HAVING count(*) > 1",
            f"table {table}, column {key!r}: {{n}} duplicated value(s) of the primary key",
        )
    for table in ("observation_period", "death", *EVENT_TABLES):
        _fail_if(
            con,
            f"SELECT 1 FROM cdm.{table} t ANTI JOIN cdm.person p USING (person_id)",
            f"table {table}, column 'person_id': {{n}} row(s) whose person is not in person",
        )
    visit_refs = [(t, "visit_occurrence_id") for t in EVENT_TABLES if t != "visit_occurrence"]
    for table, col in [*visit_refs, ("visit_occurrence", "preceding_visit_occurrence_id")]:
        _fail_if(
            con,
            f"""SELECT 1 FROM cdm.{table} t WHERE t.{col} IS NOT NULL AND NOT EXISTS
                (SELECT 1 FROM cdm.visit_occurrence v WHERE v.visit_occurrence_id = t.{col}
                 AND v.person_id = t.person_id)""",
            f"table {table}, column {col!r}: {{n}} row(s) referencing a visit_occurrence_id "
            "that does not exist for that person",
        )
    source_ids = [
        (t, c.name)
        for t, cols in CDM_TABLES.items()
        for c in cols
        if c.name.endswith("source_concept_id") and t != "source_to_concept_map"
    ]
    source_ids += [
        ("concept_relationship", "concept_id_1"),
        ("concept_relationship", "concept_id_2"),
        ("vocabulary", "vocabulary_concept_id"),
        ("source_to_concept_map", "source_concept_id"),
    ]
    for table, col in source_ids:
        _fail_if(
            con,
            f"""SELECT 1 FROM cdm.{table} t WHERE t.{col} IS NOT NULL AND t.{col} <> 0
                AND NOT EXISTS (SELECT 1 FROM cdm.concept c WHERE c.concept_id = t.{col})""",
            f"table {table}, column {col!r}: {{n}} concept id(s) not in the concept table",
        )
    _fail_if(
        con,
        "SELECT 1 FROM cdm.observation_period "
        "WHERE observation_period_end_date < observation_period_start_date",
        "table observation_period, column 'observation_period_end_date': {n} period(s) ending "
        "before they start",
    )
    _fail_if(
        con,
        """SELECT 1 FROM cdm.observation_period a JOIN cdm.observation_period b
           ON a.person_id = b.person_id AND a.observation_period_id < b.observation_period_id
           AND a.observation_period_start_date <= b.observation_period_end_date
           AND b.observation_period_start_date <= a.observation_period_end_date""",
        "table observation_period, column 'person_id': {n} overlapping period pair(s)",
    )
    _fail_if(
        con,
        "SELECT 1 FROM cdm.person p ANTI JOIN cdm.observation_period o USING (person_id)",
        "table person, column 'person_id': {n} person(s) without an observation period",
    )
    for table, col in EVENT_TABLES.items():
        _fail_if(
            con,
            f"""SELECT 1 FROM cdm.{table} t WHERE NOT EXISTS (
                SELECT 1 FROM cdm.observation_period o WHERE o.person_id = t.person_id
                AND t.{col} BETWEEN o.observation_period_start_date
                                AND o.observation_period_end_date)""",
            f"table {table}, column {col!r}: {{n}} row(s) outside every observation period of "
            "their person",
        )


def validate_omop(out: Path) -> dict[str, int]:
    """Load the tables of ``out`` (one dataset directory per table, ``<table>/*.parquet``)
    into an in-memory DuckDB created from the CDM 5.4 DDL (:func:`ddl`) and check integrity;
    returns the row count of each table.

    Per table: every DDL column present with its type, no other column, no NULL in a NOT NULL
    column, no string longer than its ``varchar(n)``, then ``INSERT INTO cdm.<table>`` (the DDL
    enforces NOT NULL and types). Then: unique primary keys (one death per person), every
    ``person_id`` in ``person``, every ``visit_occurrence_id`` (and preceding visit) existing for
    that person, every non-zero ``*_source_concept_id`` (and relationship / vocabulary concept)
    in ``concept``, observation periods well-formed, one at least per person and no overlap, and
    every clinical row's start date inside an observation period of its person. Raises
    :class:`OmopValidationError` naming the table and the column.
    """
    out = Path(out)
    if not out.is_dir():
        raise OmopValidationError(f"{out} is not a directory")
    con = duckdb.connect()
    try:
        con.execute("CREATE SCHEMA cdm")
        con.execute(ddl("cdm"))
        counts = {}
        for table in CDM_TABLES:
            path = out / table
            if not path.is_dir() or not any(path.glob("*.parquet")):
                raise OmopValidationError(f"table {table}: {table}/ is missing in {out}")
            counts[table] = _check_table(con, table, path)
        _integrity(con)
        return counts
    finally:
        con.close()
