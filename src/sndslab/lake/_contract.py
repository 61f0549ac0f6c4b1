"""The declared schema, grain and tests of every ``int/`` and ``events/`` table.

One YAML file per table under ``sndslab/lake/tables/<layer>/<name>.yaml`` (the dbt idea: a model
is documented and tested where it is declared), and its pydantic twin :class:`TableContract`:

.. code-block:: yaml

    name: int.mco_stays
    grain: One row per kept MCO stay (T_MCOaaB ⋈ T_MCOaaC on ETA_NUM, RSA_NUM, year).
    built_by: sndslab.ingest (intermediate tables)
    columns:
      - {name: person_id, type: string, description: resolved person (NULL if unlinked)}
      - {name: entry_date, type: date, nullable: false, description: stay start}
    passthrough: null          # or a registry table whose staged columns follow
    unique: [[ETA_NUM, RSA_NUM, _year]]
    relationships:
      - {column: person_id, to: int.persons, field: person_id}
    accepted_values:
      link_status: [linked, twin_resolved, ambiguous_twin, no_person_key]

:func:`check_dataset` runs the tests in SQL on the written dataset (no data leaves the engine)
and raises :class:`LakeContractError` naming the table and the failed test.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sndslab.engines import Connection, quote_ident, quote_literal
from sndslab.errors import SndslabError
from sndslab.registry import get_table

__all__ = [
    "ColumnContract",
    "LakeContractError",
    "TableContract",
    "canonical_type",
    "check_dataset",
    "contract",
    "contracts",
]

ContractType = Literal["string", "integer", "number", "date", "datetime", "boolean", "list"]
#: Columns every staged row carries after the registry's columns.
ROW_COLUMNS: tuple[str, ...] = ("_source_file", "_source_line", "_year")


class LakeContractError(SndslabError):
    """A dataset does not satisfy its table contract (the message names table and test)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnContract(_Model):
    name: str
    type: ContractType
    description: str = ""
    nullable: bool = True


class Relationship(_Model):
    column: str
    to: str
    field: str


class TableContract(_Model):
    """One table of the lake contract (see the module docstring)."""

    name: str = Field(pattern=r"^(int|events|marts|opendamir)\.[a-z][a-z0-9_]*$")
    grain: str = Field(pattern=r"^One row per ")
    built_by: str
    description: str = ""
    columns: tuple[ColumnContract, ...]
    passthrough: str | None = None
    unique: tuple[tuple[str, ...], ...] = ()
    relationships: tuple[Relationship, ...] = ()
    accepted_values: dict[str, tuple[str, ...]] = Field(default_factory=dict)

    @property
    def layer(self) -> str:
        return self.name.split(".", 1)[0]

    @property
    def table(self) -> str:
        return self.name.split(".", 1)[1]

    def allowed_extra(self) -> set[str]:
        """Columns allowed beyond the declared ones: the passthrough table's staged columns."""
        if self.passthrough is None:
            return set()
        return {*get_table(self.passthrough).column_names, *ROW_COLUMNS}


def _tables_dir() -> Path:
    return Path(str(resources.files("sndslab.lake").joinpath("tables")))


@cache
def contracts() -> dict[str, TableContract]:
    """Every table contract, by qualified name (``int.mco_stays``)."""
    out: dict[str, TableContract] = {}
    for path in sorted(_tables_dir().glob("*/*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            spec = TableContract.model_validate(data)
        except (yaml.YAMLError, ValidationError) as exc:
            first = str(exc).strip().splitlines()
            raise SndslabError(f"table contract {path}: {' '.join(first[:3])}") from exc
        expected = f"{path.parent.name}.{path.stem}"
        if spec.name != expected:
            raise SndslabError(f"table contract {path}: name {spec.name!r} != {expected!r}")
        out[spec.name] = spec
    return out


def contract(name: str) -> TableContract | None:
    """The contract of ``name`` (``layer.table``), or None."""
    return contracts().get(name)


_DUCKDB_TYPES = {
    "VARCHAR": "string", "BIGINT": "integer", "INTEGER": "integer", "SMALLINT": "integer",
    "TINYINT": "integer", "HUGEINT": "integer", "UBIGINT": "integer", "UINTEGER": "integer",
    "DOUBLE": "number", "FLOAT": "number", "DATE": "date", "TIMESTAMP": "datetime",
    "TIMESTAMP_NS": "datetime", "TIMESTAMP_MS": "datetime", "TIMESTAMP_S": "datetime",
    "BOOLEAN": "boolean", "string": "string", "bigint": "integer", "int": "integer",
    "smallint": "integer", "tinyint": "integer", "double": "number", "float": "number",
    "date": "date", "timestamp": "datetime", "timestamp_ntz": "datetime", "boolean": "boolean",
}  # fmt: skip


def canonical_type(engine_type: str) -> str:
    """The contract type of a DuckDB or Spark type name.

    >>> canonical_type("DECIMAL(18,3)"), canonical_type("array<string>"), canonical_type("DATE")
    ('number', 'list', 'date')
    """
    t = engine_type.strip()
    if t.endswith("[]") or t.lower().startswith("array<"):
        return "list"
    if t.upper().startswith("DECIMAL"):
        return "number"
    return _DUCKDB_TYPES.get(t, _DUCKDB_TYPES.get(t.upper(), "unknown:" + t))


def _fail(spec: TableContract, test: str, detail: str) -> LakeContractError:
    return LakeContractError(f"{spec.name}: {test}: {detail}")


def check_schema(spec: TableContract, columns: list[tuple[str, str]]) -> None:
    """Declared columns present with their types; no undeclared column."""
    got = {n: canonical_type(t) for n, t in columns}
    for col in spec.columns:
        if col.name not in got:
            raise _fail(spec, "schema", f"column {col.name!r} is missing")
        if got[col.name] != col.type:
            raise _fail(
                spec, "schema", f"column {col.name!r} is {got[col.name]}, declared {col.type}"
            )
    declared = {c.name for c in spec.columns} | spec.allowed_extra()
    extra = [n for n in got if n not in declared]
    if extra:
        raise _fail(spec, "schema", f"undeclared column(s) {extra}")


def _lits(values: tuple[str, ...]) -> str:
    return ", ".join(quote_literal(v) for v in values)


def _test_counts(
    spec: TableContract, relation: str, resolve: Any
) -> tuple[list[tuple[str, str]], str | None]:
    """(test kind, what) per failing-row count, and ONE query computing every count (a cross
    join of one-row aggregates: one job on Spark, whose stages run side by side)."""
    tests: list[tuple[str, str]] = []
    row_counts: list[str] = []
    for c in spec.columns:
        if not c.nullable:
            tests.append(("not_null", c.name))
            row_counts.append(f"count(*) FILTER (WHERE {quote_ident(c.name)} IS NULL)")
    for col, values in spec.accepted_values.items():
        q = quote_ident(col)
        tests.append(("accepted_values", col))
        row_counts.append(
            f"count(*) FILTER (WHERE {q} IS NOT NULL AND {q} NOT IN ({_lits(values)}))"
        )
    parts = []
    if row_counts:
        cols = ", ".join(f"{e} AS t{i}" for i, e in enumerate(row_counts))
        parts.append(f"(SELECT {cols} FROM {relation} x) a")
    for key in spec.unique:
        cols = ", ".join(quote_ident(c) for c in key)
        i = len(tests)
        tests.append(("unique", ", ".join(key)))
        parts.append(
            f"(SELECT count(*) AS t{i} FROM (SELECT {cols} FROM {relation} x GROUP BY {cols} "
            f"HAVING count(*) > 1) d) u{i}"
        )
    for rel in spec.relationships:
        target = resolve(rel.to) if resolve is not None else None
        if target is None:
            continue
        col, field = quote_ident(rel.column), quote_ident(rel.field)
        i = len(tests)
        tests.append(("relationships", f"{rel.column} value(s) not in {rel.to}.{rel.field}"))
        parts.append(
            f"(SELECT count(*) AS t{i} FROM {relation} s WHERE s.{col} IS NOT NULL AND NOT "
            f"EXISTS (SELECT 1 FROM {target} t WHERE t.{field} = s.{col})) r{i}"
        )
    if not parts:
        return tests, None
    names = ", ".join(f"t{i}" for i in range(len(tests)))
    return tests, f"SELECT {names} FROM " + " CROSS JOIN ".join(parts)


def check_dataset(
    con: Connection,
    spec: TableContract,
    relation: str,
    columns: list[tuple[str, str]],
    resolve: Any = None,
) -> None:
    """Run the contract's tests on ``relation`` (schema, not-null, unique, accepted values,
    relationships; ``resolve(name)`` gives the relation of a referenced table, or None to
    skip that relationship). Every count comes from one query; the first failing test is
    reported (for accepted values, with examples of the values refused)."""
    check_schema(spec, columns)
    tests, query = _test_counts(spec, relation, resolve)
    if query is None:
        return
    row = con.fetchone(query) or ()
    for (kind, what), n in zip(tests, row, strict=True):
        if not n:
            continue
        if kind == "not_null":
            raise _fail(spec, kind, f"column {what!r} has {n} NULL value(s)")
        if kind == "unique":
            raise _fail(spec, kind, f"{n} duplicated value(s) of ({what})")
        if kind == "accepted_values":
            q = quote_ident(what)
            values = spec.accepted_values[what]
            bad = con.fetchall(
                f"SELECT DISTINCT {q} FROM {relation} x "
                f"WHERE {q} IS NOT NULL AND {q} NOT IN ({_lits(values)}) LIMIT 5"
            )
            raise _fail(spec, kind, f"{what}: {[b[0] for b in bad]} not accepted")
        raise _fail(spec, kind, f"{n} {what}")
