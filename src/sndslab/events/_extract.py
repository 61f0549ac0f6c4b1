"""Run the extractor specs on a lake: ``lake/events/{events/, patients.parquet, codes.parquet}``.

- ``events/part-NNNN.parquet``: one row per clinical event (:class:`EventSchema`); a person lives
  in exactly one part (parts hold contiguous ranges of ``person_id``), rows sorted by
  (person_id, start, code, source_key).
- ``patients.parquet``: one row per person of ``int/persons``.
- ``codes.parquet``: one row per code present in the events (description, parent codes).

Rows with a null person, code or start date, or a sentinel start date (before 1900, 1970-01-01),
are not emitted but counted per extractor in :class:`EventsResult` (never silent); a sentinel
end date becomes NULL (counted). An extractor that fails stops the run with its name.

One implementation, two engines: the steps are DuckDB SQL strings run through
``con.execute(sql)``; with ``engine="spark"`` the connection is
:class:`sndslab.ingest._spark_sql.SparkSqlConnection`, which transpiles them with sqlglot.
Only plain ``CREATE OR REPLACE TEMP TABLE|VIEW … AS``, ``COPY (…) TO`` and queries are used.
Spec validation (:func:`load_extractors` with a lake) binds the expressions on DuckDB.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sndslab._atomic import atomic_output_dir
from sndslab.engines import Engine, get_engine
from sndslab.errors import InvalidArgumentError, SndslabError
from sndslab.events._codes import codes_sql
from sndslab.events._patients import patients_sql
from sndslab.events._schema import EventSchema, validate_relation
from sndslab.events._spec import ExtractorSpec, compile_sql, load_extractors, table_exists

__all__ = ["EventsResult", "ExtractorFailedError", "ExtractorRun", "extract_events"]

#: Target number of events per part file.
ROWS_PER_PART = 5_000_000


class ExtractorFailedError(SndslabError):
    """An extractor raised while running; the message names it and its spec file."""


@dataclass(frozen=True)
class ExtractorRun:
    """Row accounting of one extractor: ``rows`` = emitted + every dropped count."""

    name: str
    category: str
    rows: int = 0
    emitted: int = 0
    null_person: int = 0
    null_code: int = 0
    null_start: int = 0
    sentinel_start: int = 0
    sentinel_end_nulled: int = 0
    skipped: str | None = None


@dataclass
class EventsResult:
    """What :func:`extract_events` wrote and how every extractor's rows were accounted for."""

    lake: Path
    events_dir: Path
    patients_path: Path
    codes_path: Path
    runs: list[ExtractorRun] = field(default_factory=list)
    events: int = 0
    patients: int = 0
    codes: int = 0

    def by_category(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.runs:
            out[r.category] = out.get(r.category, 0) + r.emitted
        return dict(sorted(out.items()))

    def run(self, name: str) -> ExtractorRun:
        return next(r for r in self.runs if r.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "patients": self.patients,
            "codes": self.codes,
            "by_category": self.by_category(),
            "extractors": [asdict(r) for r in self.runs],
        }


def _q(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


_SENTINELS = ", ".join(f"DATE '{d}'" for d in EventSchema.SENTINEL_DATES)
_ORDER = "person_id, start, code, source_key"


def _bad_date(col: str) -> str:
    """SQL: ``col`` is a sentinel or impossible date (before 1900, 1600-01-01, 1970-01-01)."""
    return f"({col} < DATE '{EventSchema.MIN_DATE}' OR {col} IN ({_SENTINELS}))"


def _typed_select(alias: str, end: str) -> str:
    """The event columns of ``alias`` cast to their schema types, ``"end"`` replaced by ``end``
    (explicit types: the same on both engines, and no untyped NULL column for Spark)."""
    cols = []
    for n in EventSchema.names():
        expr = end if n == "end" else f'{alias}."{n}"'
        cols.append(f'CAST({expr} AS {EventSchema.sql_type(n)}) AS "{n}"')
    return ", ".join(cols)


def _empty_events() -> str:
    """A typed, empty event relation (the first member of the ``events`` union)."""
    cols = ", ".join(
        f'CAST(NULL AS {EventSchema.sql_type(n)}) AS "{n}"' for n in EventSchema.names()
    )
    return f"SELECT {cols} FROM (SELECT 1 AS _one) e WHERE 1 = 0"


def _run_one(con: Any, spec: ExtractorSpec, lake: Path, i: int) -> tuple[ExtractorRun, str | None]:
    """Materialise the extractor's rows as ``_evx_<i>``, count them, and define the view
    ``_ev_<i>`` of its emitted events; returns the run and the view (None when skipped)."""
    tables = (spec.source, *(j.table for j in spec.joins))
    missing = [t for t in tables if not table_exists(lake, t)]
    if missing:
        return ExtractorRun(spec.name, spec.category.value, skipped=f"absent: {missing}"), None
    rows, view = f"_evx_{i}", f"_ev_{i}"
    bad_start, bad_end = _bad_date("x.start"), _bad_date('x."end"')
    kept = "x.person_id IS NOT NULL AND x._code_value IS NOT NULL"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {rows} AS {compile_sql(spec, lake)}")
    row = con.execute(
        f"""SELECT count(*),
            count(*) FILTER (WHERE x.person_id IS NULL),
            count(*) FILTER (WHERE x.person_id IS NOT NULL AND x._code_value IS NULL),
            count(*) FILTER (WHERE {kept} AND x.start IS NULL),
            count(*) FILTER (WHERE {kept} AND {bad_start}),
            count(*) FILTER (WHERE {bad_end})
        FROM {rows} x"""
    ).fetchone()
    total, null_person, null_code, null_start, sentinel_start, sentinel_end = (
        int(v or 0) for v in row
    )
    select = _typed_select("x", f'CASE WHEN {bad_end} THEN NULL ELSE x."end" END')
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW {view} AS SELECT {select} FROM {rows} x
        WHERE {kept} AND x.start IS NOT NULL AND NOT {bad_start}"""
    )
    emitted = total - null_person - null_code - null_start - sentinel_start
    run = ExtractorRun(
        spec.name,
        spec.category.value,
        rows=total,
        emitted=emitted,
        null_person=null_person,
        null_code=null_code,
        null_start=null_start,
        sentinel_start=sentinel_start,
        sentinel_end_nulled=sentinel_end,
    )
    return run, view


def _resolve(lake: Path, extractors: Any) -> list[ExtractorSpec]:
    if extractors is None:
        return load_extractors(lake)
    items = list(extractors)
    if all(isinstance(x, str) for x in items):
        return load_extractors(lake, names=items)
    if all(isinstance(x, ExtractorSpec) for x in items):
        return items
    raise SndslabError("extractors must be None, extractor names, or ExtractorSpec objects")


def _connect(engine: str | Engine) -> Any:
    """A DuckDB connection, or the DuckDB-like SQL facade over a Spark session."""
    eng = get_engine(engine) if isinstance(engine, str) else engine
    return eng.connect()  # type: ignore[attr-defined]


def _count(con: Any, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _write_parts(con: Any, out_dir: Path, total: int, rows_per_part: int) -> int:
    """Write ``events`` as ``part-NNNN.parquet`` files: each holds a contiguous range of
    persons (``ntile`` over the sorted distinct ``person_id``: the same split on every engine),
    rows sorted. Returns the number of rows written."""
    parts = max(1, -(-total // rows_per_part))
    if parts == 1:
        sql = f"SELECT * FROM events ORDER BY {_ORDER}"
        return _count(con, f"COPY ({sql}) TO {_q(out_dir / 'part-0000.parquet')} (FORMAT PARQUET)")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _ev_parts AS
        SELECT person_id, ntile({parts}) OVER (ORDER BY person_id) AS part
        FROM (SELECT DISTINCT person_id FROM events) p"""
    )
    written = 0
    for i in range(parts):
        sql = f"""SELECT * FROM events WHERE person_id IN
            (SELECT person_id FROM _ev_parts WHERE part = {i + 1}) ORDER BY {_ORDER}"""
        out = _q(out_dir / f"part-{i:04d}.parquet")
        written += _count(con, f"COPY ({sql}) TO {out} (FORMAT PARQUET)")
    return written


def extract_events(
    lake: Path,
    *,
    extractors: Any = None,
    overwrite: bool = True,
    con: Any = None,
    engine: str | Engine = "duckdb",
    rows_per_part: int = ROWS_PER_PART,
) -> EventsResult:
    """Run ``extractors`` (default: every built-in spec, validated against ``lake``) and write
    ``lake/events/`` atomically. See the module docstring for the files and the accounting.

    ``engine``: ``"duckdb"`` (default), ``"spark"`` or an :class:`sndslab.engines.Engine`;
    ignored when a connection ``con`` (DuckDB, or the Spark SQL facade) is given. The output
    files are the same on every engine. ``rows_per_part`` is the target size of a part file.
    """
    lake = Path(lake)
    if not (lake / "int" / "persons.parquet").exists():
        raise SndslabError(f"{lake} has no int/persons.parquet: run `sndslab ingest` first")
    if rows_per_part < 1:
        raise InvalidArgumentError(f"rows_per_part must be >= 1, got {rows_per_part}")
    specs = _resolve(lake, extractors)
    own = con is None
    con = _connect(engine) if own else con
    created: list[tuple[str, str]] = []  # (kind, name) of the temp relations to drop
    try:
        runs: list[ExtractorRun] = []
        views: list[str] = []
        for i, spec in enumerate(specs):
            try:
                run, view = _run_one(con, spec, lake, i)
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise ExtractorFailedError(  # one line (Spark errors carry a plan)
                    f"extractor {spec.name!r} ({spec.path}) failed: {first}"
                ) from exc
            runs.append(run)
            if view is not None:
                views.append(view)
                created += [("VIEW", view), ("TABLE", f"_evx_{i}")]
        # one materialised table: the checks, the sorted parts and the codes then scan it
        # instead of a union of every extractor's rows (on Spark, one job per scan)
        union = " UNION ALL ".join([_empty_events(), *(f"SELECT * FROM {v}" for v in views)])
        con.execute(f"CREATE OR REPLACE TEMP TABLE events AS {union}")
        created += [("TABLE", "events"), ("TABLE", "_ev_parts")]
        for kind, name in created[:-2]:
            con.execute(f"DROP {kind} IF EXISTS {name}")
        validate_relation(con, "events")
        total = sum(r.emitted for r in runs)
        final = lake / "events"
        with atomic_output_dir(final, overwrite=overwrite) as tmp:
            (tmp / "events").mkdir()
            written = _write_parts(con, tmp / "events", total, rows_per_part)
            if written != total:
                raise SndslabError(f"events: {written} rows written, {total} extracted")
            n_pat = _count(
                con,
                f"COPY ({patients_sql(lake)}) TO {_q(tmp / 'patients.parquet')} (FORMAT PARQUET)",
            )
            codes_out = _q(tmp / "codes.parquet")
            n_codes = _count(
                con, f"COPY ({codes_sql(lake, 'events')}) TO {codes_out} (FORMAT PARQUET)"
            )
            result = EventsResult(
                lake=lake,
                events_dir=final / "events",
                patients_path=final / "patients.parquet",
                codes_path=final / "codes.parquet",
                runs=runs,
                events=total,
                patients=n_pat,
                codes=n_codes,
            )
            (tmp / "manifest.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        return result
    finally:
        for kind, name in reversed(created):  # temp relations only: never hide the real error
            with contextlib.suppress(Exception):
                con.execute(f"DROP {kind} IF EXISTS {name}")
        if own:
            con.close()
