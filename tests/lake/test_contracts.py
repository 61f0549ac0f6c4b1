"""Table contracts: declared schema, grain and tests, checked when a dataset is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from sndslab.engines import get_engine
from sndslab.lake import (
    ColumnContract,
    LakeContractError,
    LakePaths,
    TableContract,
    canonical_type,
    check_dataset,
    contracts,
    write_generation,
)
from sndslab.registry import get_table

SPEC = TableContract(
    name="int.demo",
    grain="One row per demo thing.",
    built_by="tests",
    columns=(
        ColumnContract(name="id", type="string", nullable=False),
        ColumnContract(name="n", type="integer"),
        ColumnContract(name="person_id", type="string"),
        ColumnContract(name="kind", type="string"),
    ),
    unique=(("id",),),
    relationships=({"column": "person_id", "to": "int.persons", "field": "person_id"},),  # type: ignore[arg-type]
    accepted_values={"kind": ("a", "b")},
)

GOOD = "SELECT * FROM (VALUES ('x', 1, 'P1', 'a'), ('y', 2, NULL, 'b')) t(id, n, person_id, kind)"


@pytest.fixture(scope="module")
def con():  # type: ignore[no-untyped-def]
    c = get_engine("duckdb", threads=1).connect()
    c.create_view("persons", "SELECT 'P1' AS person_id")
    yield c
    c.close()


def _check(con, query: str, spec: TableContract = SPEC) -> None:  # type: ignore[no-untyped-def]
    cols = con.describe(query)
    check_dataset(con, spec, f"({query})", cols, lambda name: "persons")


def test_a_good_dataset_passes(con) -> None:  # type: ignore[no-untyped-def]
    _check(con, GOOD)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("SELECT id, n, person_id FROM (" + GOOD + ")", "schema: column 'kind' is missing"),
        ("SELECT id, CAST(n AS VARCHAR) AS n, person_id, kind FROM (" + GOOD + ")",
         "schema: column 'n' is string, declared integer"),
        ("SELECT *, 1 AS extra FROM (" + GOOD + ")", r"schema: undeclared column\(s\) \['extra'\]"),
        ("SELECT NULL::VARCHAR AS id, n, person_id, kind FROM (" + GOOD + ")",
         "not_null: column 'id' has 2 NULL"),
        ("SELECT 'x' AS id, n, person_id, kind FROM (" + GOOD + ")",
         r"unique: 1 duplicated value\(s\) of \(id\)"),
        ("SELECT id, n, person_id, 'c' AS kind FROM (" + GOOD + ")", "accepted_values: kind"),
        ("SELECT id, n, 'P9' AS person_id, kind FROM (" + GOOD + ")",
         r"relationships: 2 person_id value\(s\) not in int.persons.person_id"),
    ],
)  # fmt: skip
def test_each_broken_test_fails(con, query: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LakeContractError, match="int.demo: " + message):
        _check(con, query)


def test_passthrough_columns_are_allowed() -> None:
    spec = SPEC.model_copy(update={"passthrough": "IR_IMB_R"})
    assert "IMB_ALD_NUM" in spec.allowed_extra() and "_source_line" in spec.allowed_extra()
    assert set(get_table("IR_IMB_R").column_names) <= spec.allowed_extra()


def test_public_table_without_contract_fails_the_write(tmp_path: Path) -> None:
    con = get_engine("duckdb", threads=1).connect()
    paths = LakePaths(str(tmp_path / "lake"), con.storage)
    paths.ensure_marker()
    with (
        pytest.raises(LakeContractError, match=r"marts\.undeclared: no table contract"),
        write_generation(paths, "marts", con) as w,
    ):
        w.write("undeclared", "SELECT 1 AS x")
    assert not (tmp_path / "lake" / "marts" / "g00000001").exists()
    con.close()


def test_every_contract_is_well_formed() -> None:
    for name, spec in contracts().items():
        assert spec.name == name and spec.grain.startswith("One row per ")
        declared = [c.name for c in spec.columns]
        assert len(set(declared)) == len(declared), f"{name}: duplicated columns"
        known = set(declared) | spec.allowed_extra()
        for key in spec.unique:
            assert set(key) <= known, f"{name}: unique key {key} names unknown columns"
        for rel in spec.relationships:
            assert rel.column in known and rel.to in contracts(), f"{name}: {rel}"
        for col in spec.accepted_values:
            assert col in known, f"{name}: accepted_values of unknown column {col}"


def test_canonical_types_of_both_engines() -> None:
    pairs = {
        "VARCHAR": "string", "string": "string", "BIGINT": "integer", "int": "integer",
        "DOUBLE": "number", "decimal(18,3)": "number", "DATE": "date", "timestamp_ntz": "datetime",
        "TIMESTAMP": "datetime", "BOOLEAN": "boolean", "VARCHAR[]": "list", "array<string>": "list",
    }  # fmt: skip
    assert {t: canonical_type(t) for t in pairs} == pairs
