"""Extractor specs: one YAML file per concept (``extractors/*.yaml``) and their pydantic twin.

A spec names an ``int/`` source table (alias ``s``), optional joins (int tables, ``clean/<TABLE>``
kept rows, or ``stg/<TABLE>`` nomenclatures), and SQL expressions over those aliases for the code
value, dates and numeric fields. :func:`compile_sql` turns a spec into one DuckDB ``SELECT``
(engine-neutral: the Spark engine runs it through sqlglot).

Load-time checks (:func:`load_extractors`): YAML shape, category and vocabulary (enumerated in
:mod:`sndslab.events._schema`), known source tables; with ``lake`` also every expression binds
against the lake's columns and every code of a code list prefix-matches at least one code of its
referential. Every failure is an :class:`ExtractorSpecError` naming the file and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sndslab.errors import SndslabError
from sndslab.events._schema import Category, DateQuality, Vocab
from sndslab.events._vocabularies import vocabularies
from sndslab.ingest._intermediate import INT_TABLES

__all__ = [
    "BUILTIN_DIR",
    "INT_SOURCES",
    "REFERENTIALS",
    "CodeSpec",
    "ExtractorSpec",
    "ExtractorSpecError",
    "FilterSpec",
    "JoinSpec",
    "StartSpec",
    "compile_sql",
    "load_extractors",
    "table_sql",
]

BUILTIN_DIR = Path(__file__).parent / "extractors"

#: ``int/`` tables an extractor may read (ingest's ``INT_TABLES`` plus the identity tables).
INT_SOURCES = (*INT_TABLES, "persons", "person_keys")

#: Referential (``stg/`` table, code column) used to check code lists, by vocabulary
#: (from ``vocabularies.yaml``).
REFERENTIALS: dict[Vocab, tuple[str, str]] = {
    Vocab(v.name): (v.referential.table, v.referential.code_sql)
    for v in vocabularies().values()
    if v.referential is not None and not v.parent_only
}

_ALIAS = re.compile(r"^[a-z][a-z0-9_]*$")
_TABLE = re.compile(r"^(?:(clean|stg)/)?([A-Za-z][A-Za-z0-9_]*)$")


class ExtractorSpecError(SndslabError):
    """A spec cannot be loaded; the message names the spec file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JoinSpec(_Model):
    """``<how> JOIN <table> <alias> ON <condition>``; ``table`` is an int table, ``clean/T`` or
    ``stg/T``. (The key is ``condition``, not ``on``: YAML 1.1 reads ``on`` as true.)"""

    table: str
    alias: str
    condition: str
    how: Literal["left", "inner"] = "left"


class CodeSpec(_Model):
    """The code value expression and its vocabulary (the ``VOCAB//`` prefix is added)."""

    vocabulary: Vocab
    value: str


class StartSpec(_Model):
    """``start = coalesce(expr, *fallback)``; ``date_quality`` is ``quality`` when ``expr`` is
    not null, else ``fallback_quality`` (documented estimation rules, scalpel3.md §2.4)."""

    expr: str
    fallback: tuple[str, ...] = ()
    quality: DateQuality = DateQuality.EXACT
    fallback_quality: DateQuality = DateQuality.ESTIMATED


class FilterSpec(_Model):
    """Keep rows whose code value starts with one of ``codes`` and/or satisfying ``where``."""

    codes: tuple[str, ...] = ()
    where: str | None = None


class ExtractorSpec(_Model):
    """One extractor (one concept). See the module docstring and ``extractors/*.yaml``."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    source_doc: str = ""
    category: Category
    source: str
    joins: tuple[JoinSpec, ...] = ()
    code: CodeSpec
    start: StartSpec
    end: str | None = None
    quantity: str | None = None
    amount_paid: str | None = None
    amount_reimbursed: str | None = None
    modifier: str | None = None
    filter: FilterSpec = FilterSpec()
    source_key: tuple[str, ...] = ()
    stay_id: tuple[str, ...] = ()
    prescriber_id: str | None = None
    executor_id: str | None = None
    establishment_id: str | None = None
    person_id: str = "s.person_id"
    distinct: bool = False
    path: Path | None = Field(default=None, exclude=True)

    @field_validator("source")
    @classmethod
    def _known_source(cls, v: str) -> str:
        m = _TABLE.match(v)
        if not m:
            raise ValueError(f"bad table name {v!r}")
        if m.group(1) is None and v not in INT_SOURCES:
            raise ValueError(f"unknown int table {v!r} (known: {', '.join(INT_SOURCES)})")
        return v

    @field_validator("joins")
    @classmethod
    def _known_joins(cls, v: tuple[JoinSpec, ...]) -> tuple[JoinSpec, ...]:
        for j in v:
            cls._known_source(j.table)
            if not _ALIAS.match(j.alias) or j.alias == "s":
                raise ValueError(f"bad join alias {j.alias!r}")
        return v

    def expressions(self) -> dict[str, str]:
        """Field path → SQL expression, for binding checks and compilation."""
        out: dict[str, str] = {
            "person_id": self.person_id,
            "code.value": self.code.value,
            "start.expr": self.start.expr,
        }
        out.update({f"start.fallback[{i}]": e for i, e in enumerate(self.start.fallback)})
        for f in (
            "end",
            "quantity",
            "amount_paid",
            "amount_reimbursed",
            "modifier",
            "prescriber_id",
            "executor_id",
            "establishment_id",
        ):
            e = getattr(self, f)
            if e is not None:
                out[f] = e
        out.update({f"source_key[{i}]": e for i, e in enumerate(self.source_key)})
        out.update({f"stay_id[{i}]": e for i, e in enumerate(self.stay_id)})
        if self.filter.where:
            out["filter.where"] = f"CAST(({self.filter.where}) AS BOOLEAN)"
        return out


def table_sql(lake: Path, table: str) -> str:
    """``read_parquet(...)`` of an int table, ``clean/<T>`` or ``stg/<T>`` of ``lake``."""
    m = _TABLE.match(table)
    assert m is not None
    layer, name = m.groups()
    if layer is None:
        path = Path(lake) / "int" / f"{name}.parquet"
    elif layer == "clean":
        path = Path(lake) / "int" / "clean" / name / "*.parquet"
    else:
        path = Path(lake) / "stg" / name / "**" / "*.parquet"
    quoted = "'" + str(path).replace("'", "''") + "'"
    return f"read_parquet({quoted}, union_by_name = true)"


def table_exists(lake: Path, table: str) -> bool:
    m = _TABLE.match(table)
    assert m is not None
    layer, name = m.groups()
    if layer is None:
        return (Path(lake) / "int" / f"{name}.parquet").exists()
    base = Path(lake) / ("int/clean" if layer == "clean" else "stg") / name
    return any(base.rglob("*.parquet"))


def _from(spec: ExtractorSpec, lake: Path) -> str:
    sql = f"{table_sql(lake, spec.source)} s"
    for j in spec.joins:
        sql += f"\n  {j.how.upper()} JOIN {table_sql(lake, j.table)} {j.alias} ON {j.condition}"
    return sql


def _str(e: str) -> str:
    return f"CAST(({e}) AS VARCHAR)"


def _keys(exprs: tuple[str, ...]) -> str:
    if not exprs:
        return "CAST(NULL AS VARCHAR)"
    return "concat_ws('|', " + ", ".join(f"coalesce({_str(e)}, '')" for e in exprs) + ")"


def _code_value(spec: ExtractorSpec) -> str:
    return f"trim({_str(spec.code.value)})"


def compile_sql(spec: ExtractorSpec, lake: Path) -> str:
    """One ``SELECT`` of the event columns plus ``_code_value`` (null: row counted, not emitted),
    in DuckDB SQL (run as is on DuckDB, transpiled by the Spark SQL facade on Spark).

    Rows are not filtered on null codes/dates here: :func:`sndslab.events.extract_events`
    counts them per extractor before dropping them (never silently).
    """
    value = _code_value(spec)
    starts = ", ".join(f"CAST(({e}) AS DATE)" for e in (spec.start.expr, *spec.start.fallback))
    start = f"coalesce({starts})" if spec.start.fallback else f"CAST(({spec.start.expr}) AS DATE)"
    quality = (
        f"CASE WHEN ({spec.start.expr}) IS NOT NULL THEN '{spec.start.quality.value}' "
        f"ELSE '{spec.start.fallback_quality.value}' END"
        if spec.start.fallback
        else f"'{spec.start.quality.value}'"
    )

    def opt(e: str | None, typ: str) -> str:
        return f"CAST(NULL AS {typ})" if e is None else f"CAST(({e}) AS {typ})"

    wheres = ["TRUE"]
    if spec.filter.codes:
        ors = " OR ".join(
            f"starts_with({value}, '" + c.replace("'", "''") + "')" for c in spec.filter.codes
        )
        wheres.append(f"({ors})")
    if spec.filter.where:
        wheres.append(f"({spec.filter.where})")
    cols = f"""CAST(({spec.person_id}) AS VARCHAR) AS person_id,
    {start} AS start,
    {opt(spec.end, "DATE")} AS "end",
    '{spec.code.vocabulary.value}//' || {value} AS code,
    '{spec.category.value}' AS category,
    {opt(spec.quantity, "DOUBLE")} AS quantity,
    {opt(spec.amount_paid, "DOUBLE")} AS amount_paid,
    {opt(spec.amount_reimbursed, "DOUBLE")} AS amount_reimbursed,
    {opt(spec.modifier, "VARCHAR")} AS modifier,
    '{spec.source}' AS source_table,
    {_keys(spec.source_key)} AS source_key,
    {_keys(spec.stay_id)} AS stay_id,
    {opt(spec.prescriber_id, "VARCHAR")} AS prescriber_id,
    {opt(spec.executor_id, "VARCHAR")} AS executor_id,
    {opt(spec.establishment_id, "VARCHAR")} AS establishment_id,
    {quality} AS date_quality,
    nullif({value}, '') AS _code_value"""
    distinct = "DISTINCT " if spec.distinct else ""
    return f"SELECT {distinct}{cols}\nFROM {_from(spec, lake)}\nWHERE " + "\n  AND ".join(wheres)


def _fail(spec_path: Path | str, field: str, msg: str) -> ExtractorSpecError:
    first = msg.strip().splitlines()[0] if msg.strip() else msg
    return ExtractorSpecError(f"extractor spec {spec_path}: field {field!r}: {first}")


def _parse(path: Path) -> ExtractorSpec:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ExtractorSpecError(f"extractor spec {path}: invalid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ExtractorSpecError(f"extractor spec {path}: expected a mapping at top level")
    try:
        return ExtractorSpec.model_validate({**raw, "path": path})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "<root>"
        raise _fail(path, field, err["msg"]) from exc


def _check_against_lake(spec: ExtractorSpec, lake: Path, con: Any) -> None:
    where = spec.path or spec.name
    for table in (spec.source, *(j.table for j in spec.joins)):
        if not table_exists(lake, table):
            return  # table absent from this extract: the extractor is skipped at run time
    frm = _from(spec, lake)
    try:
        con.execute(f"SELECT 1 FROM {frm} LIMIT 0")
    except Exception as exc:  # duckdb.Error: the join conditions do not bind
        raise _fail(where, "joins", str(exc)) from exc
    for field, expr in spec.expressions().items():
        try:
            con.execute(f"SELECT {expr} FROM {frm} LIMIT 0")
        except Exception as exc:  # duckdb.BinderException / ParserException
            raise _fail(where, field, str(exc)) from exc
    if spec.filter.codes:
        ref = REFERENTIALS.get(spec.code.vocabulary)
        if ref is None:
            raise _fail(
                where,
                "filter.codes",
                f"no referential to check {spec.code.vocabulary.value} code lists",
            )
        table, col = ref
        if not table_exists(lake, f"stg/{table}"):
            raise _fail(where, "filter.codes", f"referential stg/{table} is missing from {lake}")
        lits = ", ".join("('" + c.replace("'", "''") + "')" for c in spec.filter.codes)
        bad = con.execute(
            f"""SELECT c FROM (VALUES {lits}) v(c) WHERE NOT EXISTS (
                SELECT 1 FROM {table_sql(lake, "stg/" + table)} r
                WHERE starts_with(trim({col}), c))"""
        ).fetchall()
        if bad:
            raise _fail(
                where,
                "filter.codes",
                f"code(s) {[b[0] for b in bad]} match no {spec.code.vocabulary.value} code "
                f"of {table}.{col}",
            )


def load_extractors(
    lake: Path | None = None,
    *,
    extra_dirs: tuple[Path, ...] | list[Path] = (),
    names: list[str] | None = None,
    builtin: bool = True,
) -> list[ExtractorSpec]:
    """Load (and validate) the built-in specs plus any ``*.yaml`` of ``extra_dirs``.

    With ``lake``, expressions are bound against the lake's tables and code lists checked
    against the referentials in ``lake/stg``. ``names`` keeps only those extractors (an unknown
    name is an error). Duplicate names across files are an error.
    """
    files: list[Path] = sorted(BUILTIN_DIR.glob("*.yaml")) if builtin else []
    for d in extra_dirs:
        d = Path(d)
        if not d.is_dir():
            raise ExtractorSpecError(f"extractor directory {d} does not exist")
        files.extend(sorted(d.glob("*.yaml")))
    specs: list[ExtractorSpec] = []
    seen: dict[str, Path] = {}
    for f in files:
        spec = _parse(f)
        if spec.name in seen:
            raise _fail(
                f, "name", f"duplicate extractor name {spec.name!r} (also in {seen[spec.name]})"
            )
        seen[spec.name] = f
        specs.append(spec)
    if names is not None:
        unknown = sorted(set(names) - set(seen))
        if unknown:
            raise ExtractorSpecError(f"unknown extractor(s) {unknown}; known: {sorted(seen)}")
        specs = [s for s in specs if s.name in set(names)]
    if lake is not None:
        import duckdb

        con = duckdb.connect()
        try:
            for spec in specs:
                _check_against_lake(spec, Path(lake), con)
        finally:
            con.close()
    return specs
