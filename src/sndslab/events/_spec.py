"""Extractor specs: one YAML file per concept (``extractors/*.yaml``) and their pydantic twin.

A spec names an ``int`` source table (alias ``s``), optional joins (other ``int`` tables,
nomenclatures included: ``ref_ir_pha_r``...), and SQL expressions over those aliases for the code
value, dates and numeric fields. Tables are resolved through the lake contract
(:func:`sndslab.lake.relation`): an extractor reads ``int.<name>`` only, never staged rows.
:func:`compile_sql` turns a spec into one DuckDB ``SELECT`` (engine-neutral: the Spark engine
runs it through sqlglot).

Load-time checks (:func:`load_extractors`): YAML shape, category and vocabulary (enumerated in
:mod:`sndslab.events._schema`), table names (``int`` tables with a contract in
``sndslab/lake/tables/int/`` when any is declared, else any lower-case name; existence is checked
at run time); with ``lake`` also every expression binds against the lake's columns on the chosen
engine's connection and every code of a code list prefix-matches at least one code of its
referential (``int.ref_<table>``). Every failure is an :class:`ExtractorSpecError` naming the
file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sndslab.engines import Connection, Engine, get_engine
from sndslab.errors import SndslabError
from sndslab.events._schema import Category, DateQuality, Vocab
from sndslab.events._vocabularies import vocabularies
from sndslab.lake import LakePaths, contracts, dataset_paths, relation_or_none

__all__ = [
    "BUILTIN_DIR",
    "REFERENTIALS",
    "CodeSpec",
    "ExtractorSpec",
    "ExtractorSpecError",
    "FilterSpec",
    "JoinSpec",
    "StartSpec",
    "compile_sql",
    "int_sources",
    "load_extractors",
    "ref_table",
]

BUILTIN_DIR = Path(__file__).parent / "extractors"

#: Referential (SNDS nomenclature, code column) used to check code lists, by vocabulary (from
#: ``vocabularies.yaml``); the nomenclature is read from ``int.ref_<lower-case name>``
#: (:func:`ref_table`).
REFERENTIALS: dict[Vocab, tuple[str, str]] = {
    Vocab(v.name): (v.referential.table, v.referential.code_sql)
    for v in vocabularies().values()
    if v.referential is not None and not v.parent_only
}

_ALIAS = re.compile(r"^[a-z][a-z0-9_]*$")
_TABLE = re.compile(r"^[a-z][a-z0-9_]*$")


def ref_table(nomenclature: str) -> str:
    """The lake table of an SNDS nomenclature.

    >>> ref_table("IR_PHA_R")
    'int.ref_ir_pha_r'
    """
    return f"int.ref_{nomenclature.lower()}"


def int_sources() -> tuple[str, ...]:
    """The ``int`` tables declared by a contract (``sndslab/lake/tables/int/*.yaml``); empty
    while none is declared (then any lower-case name is accepted, checked at run time)."""
    return tuple(sorted(n.split(".", 1)[1] for n in contracts() if n.startswith("int.")))


class ExtractorSpecError(SndslabError):
    """A spec cannot be loaded; the message names the spec file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JoinSpec(_Model):
    """``<how> JOIN <table> <alias> ON <condition>``; ``table`` is an ``int`` table name
    (``mco_stays``, ``ref_ir_pha_r``). (The key is ``condition``, not ``on``: YAML 1.1 reads
    ``on`` as true.)"""

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
        if not _TABLE.match(v):
            raise ValueError(f"bad table name {v!r} (an int table name: lower case, no layer)")
        known = int_sources()
        if known and v not in known:
            raise ValueError(f"unknown int table {v!r} (known: {', '.join(known)})")
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


#: ``table name -> SQL relation`` (the lake's :func:`sndslab.lake.relation` bound to a connection).
Resolver = Callable[[str], str]


def tables_of(spec: ExtractorSpec) -> tuple[str, ...]:
    """The ``int`` tables ``spec`` reads (source first), as lake names ``int.<name>``."""
    return tuple(f"int.{t}" for t in (spec.source, *(j.table for j in spec.joins)))


def _from(spec: ExtractorSpec, resolve: Resolver) -> str:
    sql = f"{resolve(f'int.{spec.source}')} s"
    for j in spec.joins:
        sql += f"\n  {j.how.upper()} JOIN {resolve(f'int.{j.table}')} {j.alias} ON {j.condition}"
    return sql


def _str(e: str) -> str:
    return f"CAST(({e}) AS VARCHAR)"


def _keys(exprs: tuple[str, ...]) -> str:
    if not exprs:
        return "CAST(NULL AS VARCHAR)"
    return "concat_ws('|', " + ", ".join(f"coalesce({_str(e)}, '')" for e in exprs) + ")"


def _code_value(spec: ExtractorSpec) -> str:
    return f"trim({_str(spec.code.value)})"


def compile_sql(spec: ExtractorSpec, resolve: Resolver) -> str:
    """One ``SELECT`` of the event columns plus ``_code_value`` (null: row counted, not emitted),
    in DuckDB SQL (run as is on DuckDB, transpiled by the Spark SQL facade on Spark).

    ``resolve`` gives the SQL relation of a lake table (``int.<name>``). Rows are not filtered
    on null codes/dates here: :func:`sndslab.events.extract_events`
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
    return f"SELECT {distinct}{cols}\nFROM {_from(spec, resolve)}\nWHERE " + "\n  AND ".join(wheres)


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


def _bind(con: Connection, where: Path | str, field: str, query: str) -> None:
    """Bind ``query`` without running it (``describe``); a failure names ``field``."""
    try:
        con.describe(query)
    except Exception as exc:  # duckdb.Error / Spark AnalysisException: does not bind
        raise _fail(where, field, str(exc)) from exc


def _check_codes(spec: ExtractorSpec, con: Connection, paths: LakePaths) -> None:
    """Every code of ``filter.codes`` prefix-matches a code of its referential."""
    where = spec.path or spec.name
    ref = REFERENTIALS.get(spec.code.vocabulary)
    if ref is None:
        raise _fail(
            where,
            "filter.codes",
            f"no referential to check {spec.code.vocabulary.value} code lists",
        )
    table, col = ref
    rel = relation_or_none(con, paths, ref_table(table))
    if rel is None:
        raise _fail(
            where, "filter.codes", f"referential {ref_table(table)} is missing from {paths.root}"
        )
    lits = ", ".join("('" + c.replace("'", "''") + "')" for c in spec.filter.codes)
    bad = con.fetchall(
        f"""SELECT c FROM (VALUES {lits}) v(c) WHERE NOT EXISTS (
            SELECT 1 FROM {rel} r WHERE starts_with(trim({col}), c)) ORDER BY c"""
    )
    if bad:
        raise _fail(
            where,
            "filter.codes",
            f"code(s) {[b[0] for b in bad]} match no {spec.code.vocabulary.value} code "
            f"of {table}.{col}",
        )


def check_against_lake(spec: ExtractorSpec, con: Connection, paths: LakePaths) -> None:
    """Bind the joins and every expression of ``spec`` on ``con`` against the lake's tables,
    and check its code list; a spec whose tables are absent is left to run time (skipped)."""
    where = spec.path or spec.name
    rels = {t: relation_or_none(con, paths, t) for t in tables_of(spec)}
    gone = [p for t in rels for p in dataset_paths(paths, t) or [] if not paths.storage.exists(p)]
    if gone or any(r is None for r in rels.values()):
        return  # table absent from this lake: skipped or refused (sndslab.events._missing)

    def resolve(name: str) -> str:
        rel = rels[name]
        assert rel is not None
        return rel

    frm = _from(spec, resolve)
    _bind(con, where, "joins", f"SELECT 1 AS one FROM {frm} LIMIT 0")
    for field, expr in spec.expressions().items():
        _bind(con, where, field, f"SELECT {expr} AS v FROM {frm} LIMIT 0")
    if spec.filter.codes:
        _check_codes(spec, con, paths)


def load_extractors(
    lake: Path | str | None = None,
    *,
    extra_dirs: tuple[Path, ...] | list[Path] = (),
    names: list[str] | None = None,
    builtin: bool = True,
    con: Connection | None = None,
    engine: str | Engine = "duckdb",
) -> list[ExtractorSpec]:
    """Load (and validate) the built-in specs plus any ``*.yaml`` of ``extra_dirs``.

    With ``lake``, expressions are bound against the lake's ``int`` tables and code lists
    checked against the nomenclatures ``int.ref_*``, on ``con`` (or a connection of ``engine``,
    closed afterwards). ``names`` keeps only those extractors (an unknown name is an error).
    Duplicate names across files are an error.
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
        own = con is None
        connection = get_engine(engine).connect() if con is None else con
        try:
            paths = LakePaths(str(lake), connection.storage)
            paths.check_version()
            for spec in specs:
                check_against_lake(spec, connection, paths)
        finally:
            if own:
                connection.close()
    return specs
