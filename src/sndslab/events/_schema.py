"""The event table schema (``events.events``): one row per clinical event.

Names, vocabularies, categories and date qualities are constants on :class:`EventSchema`, so no
code string is scattered across the package (ARCHITECTURE.md conventions; modern-and-style.md A1:
MEDS ``DataSchema`` style, one schema class per persisted table, ``validate`` raises).

>>> EventSchema.code_of(Vocab.ATC, "N05BA01")
'ATC//N05BA01'
>>> EventSchema.arrow().field("start").type
DataType(date32[day])
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

import pyarrow as pa

from sndslab.engines import Connection
from sndslab.errors import SndslabError

__all__ = [
    "Category",
    "DateQuality",
    "EventSchema",
    "EventSchemaError",
    "Vocab",
    "validate",
    "validate_relation",
]

#: Separator between the vocabulary and the value of a code (``VOCAB//value``).
CODE_SEP = "//"


class EventSchemaError(SndslabError):
    """An event table does not match :class:`EventSchema` (the message names the column)."""


class Vocab(StrEnum):
    """Code vocabularies (the ``VOCAB`` of ``VOCAB//value``).

    Typed constants of the non-parent-only entries of ``vocabularies.yaml`` (same names, same
    order: ``tests/events/test_vocabularies.py``), where their metadata lives.
    """

    ATC = "ATC"
    CIP13 = "CIP13"
    UCD = "UCD"
    ICD10 = "ICD10"
    CCAM = "CCAM"
    NGAP = "NGAP"
    NABM = "NABM"
    GHM = "GHM"
    CSARR = "CSARR"
    SPECIALTY = "SPECIALTY"
    ALD = "ALD"
    ACE = "ACE"  # ACE (hospital outpatient) package/fee codes, e.g. ACE//ATU
    STAY = "STAY"  # stay kinds without a grouping code: STAY//SSR, STAY//HAD, STAY//RIP


class Category(StrEnum):
    """Enumerated event categories."""

    DISPENSING = "dispensing"
    HOSPITAL_DISPENSING = "hospital_dispensing"
    ACT = "act"
    BIOLOGY = "biology"
    VISIT = "visit"
    DIAGNOSIS = "diagnosis"
    STAY = "stay"
    EMERGENCY = "emergency"
    ALD = "ald"
    DEATH_CAUSE = "death_cause"
    REHABILITATION = "rehabilitation"  # CSARR (SSR) acts


class DateQuality(StrEnum):
    """How ``start`` was obtained: read, derived by a documented rule, or imputed."""

    EXACT = "exact"
    ESTIMATED = "estimated"
    IMPUTED = "imputed"


class EventSchema:
    """Column names, types and nullability of the event table; on-disk layout constants."""

    # column names
    person_id = "person_id"
    start = "start"
    end = "end"
    code = "code"
    category = "category"
    quantity = "quantity"
    amount_paid = "amount_paid"
    amount_reimbursed = "amount_reimbursed"
    modifier = "modifier"
    source_table = "source_table"
    source_key = "source_key"
    stay_id = "stay_id"
    prescriber_id = "prescriber_id"
    executor_id = "executor_id"
    establishment_id = "establishment_id"
    date_quality = "date_quality"

    #: (name, arrow type, nullable), in table order.
    COLUMNS: tuple[tuple[str, pa.DataType, bool], ...] = (
        ("person_id", pa.string(), False),
        ("start", pa.date32(), False),
        ("end", pa.date32(), True),
        ("code", pa.string(), False),
        ("category", pa.string(), False),
        ("quantity", pa.float64(), True),
        ("amount_paid", pa.float64(), True),
        ("amount_reimbursed", pa.float64(), True),
        ("modifier", pa.string(), True),
        ("source_table", pa.string(), False),
        ("source_key", pa.string(), True),
        ("stay_id", pa.string(), True),
        ("prescriber_id", pa.string(), True),
        ("executor_id", pa.string(), True),
        ("establishment_id", pa.string(), True),
        ("date_quality", pa.string(), False),
    )
    #: DuckDB SQL types of the columns (used when compiling extractors).
    SQL_TYPES: ClassVar[dict[str, str]] = {
        "string": "VARCHAR",
        "date32[day]": "DATE",
        "double": "DOUBLE",
    }
    #: Dates before this are sentinels (1600-01-01, 1970-01-01 defaults), never events.
    MIN_DATE = "1900-01-01"
    SENTINEL_DATES = ("1600-01-01", "1970-01-01")

    # lake tables (read and written through sndslab.lake: ``events.events``...)
    events_table = "events.events"
    patients_table = "events.patients"
    codes_table = "events.codes"

    @classmethod
    def names(cls) -> list[str]:
        return [c[0] for c in cls.COLUMNS]

    @classmethod
    def arrow(cls) -> pa.Schema:
        return pa.schema([pa.field(n, t, nullable=nl) for n, t, nl in cls.COLUMNS])

    @classmethod
    def sql_type(cls, name: str) -> str:
        t = dict((n, str(t)) for n, t, _ in cls.COLUMNS)[name]
        return cls.SQL_TYPES[t]

    @staticmethod
    def code_of(vocab: Vocab | str, value: str) -> str:
        v = vocab.value if isinstance(vocab, Vocab) else vocab
        return f"{v}{CODE_SEP}{value}"

    @classmethod
    def validate(cls, table: pa.Table | pa.Schema) -> None:
        """Raise :class:`EventSchemaError` naming the first offending column."""
        validate(table)


def _check_values(table: pa.Table) -> None:
    import pyarrow.compute as pc

    cats = {c.value for c in Category}
    quals = {q.value for q in DateQuality}
    vocabs = {v.value for v in Vocab}
    for name, allowed in (("category", cats), ("date_quality", quals)):
        bad = set(pc.unique(table[name]).to_pylist()) - allowed
        if bad:
            raise EventSchemaError(f"column {name!r}: values {sorted(map(str, bad))} not allowed")
    prefixes = pc.unique(
        pc.list_element(pc.split_pattern(table["code"], CODE_SEP, max_splits=1), 0)
    ).to_pylist()
    if not all(isinstance(p, str) for p in prefixes):
        raise EventSchemaError("column 'code': null code")
    no_sep = pc.sum(pc.invert(pc.match_substring(table["code"], CODE_SEP))).as_py()
    if no_sep:
        raise EventSchemaError(f"column 'code': {no_sep} code(s) without '{CODE_SEP}'")
    bad_v = set(prefixes) - vocabs
    if bad_v:
        raise EventSchemaError(f"column 'code': unknown vocabularies {sorted(bad_v)}")
    for name in ("start", "end"):
        low = pc.min(table[name]).as_py()
        if low is not None and str(low) < EventSchema.MIN_DATE:
            raise EventSchemaError(f"column {name!r}: sentinel or impossible date {low}")


def validate(table: Any) -> None:
    """Check an Arrow table (or schema) against :class:`EventSchema`.

    Names, order, types and non-null columns are checked; for a table, the values of
    ``category``/``date_quality``, the ``VOCAB//`` prefix of ``code`` and sentinel dates too.
    """
    schema = table if isinstance(table, pa.Schema) else table.schema
    got = {f.name: f for f in schema}
    for name, typ, nullable in EventSchema.COLUMNS:
        if name not in got:
            raise EventSchemaError(f"column {name!r} is missing")
        if got[name].type != typ:
            raise EventSchemaError(f"column {name!r} has type {got[name].type}, expected {typ}")
        if not nullable and isinstance(table, pa.Table) and table[name].null_count:
            raise EventSchemaError(f"column {name!r} has {table[name].null_count} null value(s)")
    extra = [n for n in got if n not in dict((c[0], 1) for c in EventSchema.COLUMNS)]
    if extra:
        raise EventSchemaError(f"unexpected column(s) {extra}")
    if schema.names != EventSchema.names():
        raise EventSchemaError(f"columns out of order: {schema.names}")
    if isinstance(table, pa.Table) and table.num_rows:
        _check_values(table)


def validate_relation(con: Connection, relation: str) -> None:
    """:func:`validate` for a relation of ``con`` (either engine), checked in SQL (no data
    leaves the engine): schema, non-null columns, categories and date qualities, the
    ``VOCAB//`` prefix of codes and sentinel dates."""
    validate(con.sql(f"SELECT * FROM {relation} LIMIT 0").to_arrow().schema)
    not_null = [name for name, _, nullable in EventSchema.COLUMNS if not nullable]
    counts = (
        con.fetchone(
            "SELECT "
            + ", ".join(f'count(*) FILTER (WHERE "{n}" IS NULL)' for n in not_null)
            + f" FROM {relation}"
        )
        or ()
    )
    for name, n in zip(not_null, counts, strict=True):
        if n:
            raise EventSchemaError(f"column {name!r} has {n} null value(s)")
    checks = {
        "category": [c.value for c in Category],
        "date_quality": [q.value for q in DateQuality],
    }
    for name, allowed in checks.items():
        lits = ", ".join(f"'{a}'" for a in allowed)
        bad = con.fetchall(
            f"SELECT DISTINCT {name} FROM {relation} WHERE {name} NOT IN ({lits}) LIMIT 5"
        )
        if bad:
            raise EventSchemaError(f"column {name!r}: values {[b[0] for b in bad]} not allowed")
    vocabs = ", ".join(f"'{v.value}'" for v in Vocab)
    bad = con.fetchall(
        f"SELECT DISTINCT code FROM {relation} WHERE strpos(code, '{CODE_SEP}') = 0 "
        f"OR split_part(code, '{CODE_SEP}', 1) NOT IN ({vocabs}) LIMIT 5"
    )
    if bad:
        raise EventSchemaError(f"column 'code': bad codes {[b[0] for b in bad]}")
    sentinels = ", ".join(f"DATE '{d}'" for d in EventSchema.SENTINEL_DATES)
    for name in ("start", "end"):
        n = con.scalar(
            f"""SELECT count(*) FROM {relation} WHERE "{name}" < DATE '{EventSchema.MIN_DATE}'
            OR "{name}" IN ({sentinels})"""
        )
        if n:
            raise EventSchemaError(f"column {name!r}: {n} sentinel or impossible date(s)")
