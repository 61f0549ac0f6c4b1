"""Run the extractor specs on a lake: the ``events`` layer (``events.events``,
``events.patients``, ``events.codes``), written as ONE generation
(:func:`sndslab.lake.write_generation`).

- ``events``: one row per clinical event (:class:`EventSchema`), rows sorted by
  (person_id, start, code, source_key) by the engine's writer.
- ``patients``: one row per person of ``int.persons``.
- ``codes``: one row per code present in the events (description, parent codes).

Every source is an ``int`` table resolved through the lake (:func:`sndslab.lake.relation`). An
extractor whose source is not in the extract (no staged table it could come from) is skipped,
with the reason; any other absent table is an error naming it and the extractors that need it,
unless allowed (``allow_missing``, :mod:`sndslab.events._missing`), and then recorded.
Rows with a null person, code or start date, or a sentinel start date (before 1900,
1970-01-01), are not emitted but counted per extractor in :class:`EventsResult` (never
silent); a sentinel end date becomes NULL (counted). An extractor that fails stops the run
with its name, and nothing is committed.

One implementation, two engines: the steps are DuckDB SQL strings run through the
:class:`sndslab.engines.Connection` operations (``create_table``, ``create_view``, ``fetchone``,
``write_dataset``); Spark transpiles them with sqlglot. The tables are checked against their
contracts (``sndslab/lake/tables/events/*.yaml``) when written, and the events by
:func:`sndslab.events._schema.validate_relation` (``VOCAB//`` prefix, sentinel dates) before.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sndslab._faults import failpoint
from sndslab.engines import Connection, Engine, get_engine
from sndslab.errors import SndslabError
from sndslab.events._codes import codes_sql, nomenclatures
from sndslab.events._missing import plan_sources
from sndslab.events._patients import patients_sql
from sndslab.events._schema import EventSchema, validate_relation
from sndslab.events._spec import ExtractorSpec, compile_sql, load_extractors, tables_of
from sndslab.lake import (
    LakePaths,
    read_manifest,
    relation_or_none,
    write_generation,
)

__all__ = ["EventsResult", "ExtractorFailedError", "ExtractorRun", "extract_events"]

#: Sort key of ``events.events``.
EVENTS_ORDER = ("person_id", "start", "code", "source_key")


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
    """What :func:`extract_events` wrote and how every extractor's rows were accounted for.

    ``events_dir``, ``patients_path`` and ``codes_path`` are the dataset directories of the
    committed generation (read them through ``sndslab.open_lake(lake).table("events.events")``).
    """

    lake: str
    generation: int
    events_dir: str
    patients_path: str
    codes_path: str
    runs: list[ExtractorRun] = field(default_factory=list)
    events: int = 0
    patients: int = 0
    codes: int = 0
    #: missing ``int`` tables the user allowed → ``{"why": ..., "extractors": [...]}``
    missing: dict[str, dict[str, Any]] = field(default_factory=dict)

    def skipped(self) -> dict[str, str]:
        """Extractor name → why it did not run."""
        return {r.name: r.skipped for r in self.runs if r.skipped}

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
            "missing_sources": self.missing,
        }


_SENTINELS = ", ".join(f"DATE '{d}'" for d in EventSchema.SENTINEL_DATES)


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


def _run_one(
    con: Connection, paths: LakePaths, spec: ExtractorSpec, i: int, skip: str | None = None
) -> tuple[ExtractorRun, str | None]:
    """Materialise the extractor's rows as ``_evx_<i>``, count them, and define the view
    ``_ev_<i>`` of its emitted events; returns the run and the view (None when skipped:
    ``skip`` says why, :func:`sndslab.events._missing.plan_sources`)."""
    if skip is not None:
        return ExtractorRun(spec.name, spec.category.value, skipped=skip), None
    rels = {t: relation_or_none(con, paths, t) for t in tables_of(spec)}
    missing = [t for t, r in rels.items() if r is None]
    if missing:  # planned: never reached (a table vanished while the run went on)
        raise SndslabError(f"extractor {spec.name}: {', '.join(missing)} disappeared")

    def resolve(name: str) -> str:
        rel = rels[name]
        assert rel is not None
        return rel

    rows, view = f"_evx_{i}", f"_ev_{i}"
    bad_start, bad_end = _bad_date("x.start"), _bad_date('x."end"')
    kept = "x.person_id IS NOT NULL AND x._code_value IS NOT NULL"
    con.create_table(rows, compile_sql(spec, resolve))
    row = con.fetchone(
        f"""SELECT count(*),
            count(*) FILTER (WHERE x.person_id IS NULL),
            count(*) FILTER (WHERE x.person_id IS NOT NULL AND x._code_value IS NULL),
            count(*) FILTER (WHERE {kept} AND x.start IS NULL),
            count(*) FILTER (WHERE {kept} AND {bad_start}),
            count(*) FILTER (WHERE {bad_end})
        FROM {rows} x"""
    )
    total, null_person, null_code, null_start, sentinel_start, sentinel_end = (
        int(v or 0) for v in (row or (0,) * 6)
    )
    select = _typed_select("x", f'CASE WHEN {bad_end} THEN NULL ELSE x."end" END')
    con.create_view(
        view,
        f"""SELECT {select} FROM {rows} x
        WHERE {kept} AND x.start IS NOT NULL AND NOT {bad_start}""",
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


def _resolve(lake: Path | str, extractors: Any, con: Connection) -> list[ExtractorSpec]:
    if extractors is None:
        return load_extractors(lake, con=con)
    items = list(extractors)
    if all(isinstance(x, str) for x in items):
        return load_extractors(lake, names=items, con=con)
    if all(isinstance(x, ExtractorSpec) for x in items):
        return items
    raise SndslabError("extractors must be None, extractor names, or ExtractorSpec objects")


def _extract_all(
    con: Connection,
    paths: LakePaths,
    specs: list[ExtractorSpec],
    created: list[str],
    step: Callable[[int, str], None] = lambda _done, _name: None,
    skip: dict[str, str] | None = None,
) -> list[ExtractorRun]:
    """Run every extractor and materialise the union of their events as ``_events``
    (``step(i, name)`` as extractor ``i`` starts)."""
    runs: list[ExtractorRun] = []
    views: list[str] = []
    for i, spec in enumerate(specs):
        step(i, spec.name)
        failpoint("events.extract")
        try:
            run, view = _run_one(con, paths, spec, i, (skip or {}).get(spec.name))
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ExtractorFailedError(  # one line (Spark errors carry a plan)
                f"extractor {spec.name!r} ({spec.path}) failed: {first}"
            ) from exc
        runs.append(run)
        if view is not None:
            views.append(view)
            created += [view, f"_evx_{i}"]
    # one materialised table: the checks, the sorted dataset and the codes then scan it
    # instead of a union of every extractor's rows (on Spark, one job per scan)
    union = " UNION ALL ".join([_empty_events(), *(f"SELECT * FROM {v}" for v in views)])
    con.create_table("_events", union)
    for name in list(created):
        con.drop(name)
        created.remove(name)
    created.append("_events")
    validate_relation(con, "_events")
    return runs


def extract_events(
    lake: Path | str,
    *,
    extractors: Any = None,
    con: Connection | None = None,
    engine: str | Engine = "duckdb",
    notes: list[str] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    allow_missing: Collection[str] | bool = (),
) -> EventsResult:
    """Run ``extractors`` (default: every built-in spec, validated against ``lake``) and write
    the ``events`` layer of ``lake`` as one generation. See the module docstring.

    ``engine``: ``"duckdb"`` (default), ``"spark"`` or an :class:`sndslab.engines.Engine`;
    ignored when a connection ``con`` is given. The tables are the same on every engine.
    ``progress(done, total, step)`` is called as each step starts (every extractor, then the
    ``patients``, ``events`` and ``codes`` tables) and once at the end (``done == total``).

    ``allow_missing``: the missing ``int`` tables accepted (names, or True for all; see
    :mod:`sndslab.events._missing`); without it a missing table raises
    :class:`sndslab.errors.MissingSourceError` before anything is written.
    """
    root = str(lake)
    own = con is None
    connection = (
        get_engine(engine, lake=root if "://" not in root else None).connect()
        if con is None
        else con
    )
    created: list[str] = []  # temp relations to drop
    try:
        paths = LakePaths(root, connection.storage)
        paths.check_version()
        if relation_or_none(connection, paths, "int.persons") is None:
            raise SndslabError(f"{root} has no int.persons table: run `sndslab ingest` first")
        specs = _resolve(root, extractors, connection)
        plan = plan_sources(paths, specs, allow_missing)
        notes = [] if notes is None else notes  # the caller's list sees every note
        notes.extend(plan.notes())
        steps = len(specs) + 3

        def step(done: int, name: str) -> None:
            if progress is not None:
                progress(done, steps, name)

        runs = _extract_all(connection, paths, specs, created, step, plan.skip)
        total = sum(r.emitted for r in runs)
        inputs = {"int_generation": read_manifest(paths, "int").generation}
        config = {"extractors": [s.model_dump(mode="json") for s in specs]}
        with write_generation(
            paths, "events", connection, config=config, inputs=inputs, notes=notes
        ) as w:
            failpoint("events.write")
            # patients first: the events' relationship test reads events.patients
            step(len(specs), "patients")
            n_pat = w.write(
                "patients", patients_sql(connection, paths, plan.absent), order_by=["person_id"]
            )
            step(len(specs) + 1, "events")
            written = w.write("events", "SELECT * FROM _events", order_by=list(EVENTS_ORDER))
            if written != total:
                raise SndslabError(f"events: {written} rows written, {total} extracted")
            step(len(specs) + 2, "codes")
            codes = codes_sql(nomenclatures(connection, paths), w.relation("events"))
            n_codes = w.write("codes", codes, order_by=["code"])
            result = EventsResult(
                lake=root,
                generation=w.generation,
                events_dir=w.path("events"),
                patients_path=w.path("patients"),
                codes_path=w.path("codes"),
                runs=runs,
                events=total,
                patients=n_pat,
                codes=n_codes,
                missing=plan.missing,
            )
            w.counts.update(result.to_dict())
        step(steps, "")
        return result
    finally:
        for name in reversed(created):  # temp relations only: never hide the real error
            with contextlib.suppress(Exception):
                connection.drop(name)
        if own:
            connection.close()
