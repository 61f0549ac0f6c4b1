"""Run the extractor specs on a lake: ``lake/events/{events/, patients.parquet, codes.parquet}``.

- ``events/part-NNNN.parquet``: one row per clinical event (:class:`EventSchema`); a person lives
  in exactly one part, rows sorted by (person_id, start, code).
- ``patients.parquet``: one row per person of ``int/persons``.
- ``codes.parquet``: one row per code present in the events (description, parent codes).

Rows with a null person, code or start date, or a sentinel start date (before 1900, 1970-01-01),
are not emitted but counted per extractor in :class:`EventsResult` (never silent); a sentinel
end date becomes NULL (counted). An extractor that fails stops the run with its name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sndslab._atomic import atomic_output_dir
from sndslab.errors import SndslabError
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


def _create_events(con: Any) -> None:
    cols = ", ".join(
        f'"{n}" {EventSchema.sql_type(n)}{"" if nl else " NOT NULL"}'
        for n, _, nl in EventSchema.COLUMNS
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE events ({cols})")


def _run_one(con: Any, spec: ExtractorSpec, lake: Path) -> ExtractorRun:
    tables = (spec.source, *(j.table for j in spec.joins))
    missing = [t for t in tables if not table_exists(lake, t)]
    if missing:
        return ExtractorRun(spec.name, spec.category.value, skipped=f"absent: {missing}")
    lo, sentinels = (
        EventSchema.MIN_DATE,
        ", ".join(f"DATE '{d}'" for d in EventSchema.SENTINEL_DATES),
    )
    bad_start = f"(start < DATE '{lo}' OR start IN ({sentinels}))"
    bad_end = f'("end" < DATE \'{lo}\' OR "end" IN ({sentinels}))'
    con.execute(f"CREATE OR REPLACE TEMP TABLE _x AS {compile_sql(spec, lake)}")
    row = con.execute(
        f"""SELECT count(*),
            count(*) FILTER (WHERE person_id IS NULL),
            count(*) FILTER (WHERE person_id IS NOT NULL AND _code_value IS NULL),
            count(*) FILTER (WHERE person_id IS NOT NULL AND _code_value IS NOT NULL
                             AND start IS NULL),
            count(*) FILTER (WHERE person_id IS NOT NULL AND _code_value IS NOT NULL
                             AND {bad_start}),
            count(*) FILTER (WHERE {bad_end})
        FROM _x"""
    ).fetchone()
    total, null_person, null_code, null_start, sentinel_start, sentinel_end = map(int, row)
    names = [n for n, _, _ in EventSchema.COLUMNS]
    select = ", ".join(
        f'CASE WHEN {bad_end} THEN NULL ELSE "end" END' if n == "end" else f'"{n}"' for n in names
    )
    con.execute(
        f"""INSERT INTO events SELECT {select} FROM _x
        WHERE person_id IS NOT NULL AND _code_value IS NOT NULL AND start IS NOT NULL
          AND NOT {bad_start}"""
    )
    emitted = total - null_person - null_code - null_start - sentinel_start
    return ExtractorRun(
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


def _resolve(lake: Path, extractors: Any) -> list[ExtractorSpec]:
    if extractors is None:
        return load_extractors(lake)
    items = list(extractors)
    if all(isinstance(x, str) for x in items):
        return load_extractors(lake, names=items)
    if all(isinstance(x, ExtractorSpec) for x in items):
        return items
    raise SndslabError("extractors must be None, extractor names, or ExtractorSpec objects")


def extract_events(
    lake: Path,
    *,
    extractors: Any = None,
    overwrite: bool = True,
    con: Any = None,
) -> EventsResult:
    """Run ``extractors`` (default: every built-in spec, validated against ``lake``) and write
    ``lake/events/`` atomically. See the module docstring for the files and the accounting.
    """
    import duckdb

    lake = Path(lake)
    if not (lake / "int" / "persons.parquet").exists():
        raise SndslabError(f"{lake} has no int/persons.parquet: run `sndslab ingest` first")
    specs = _resolve(lake, extractors)
    own = con is None
    con = duckdb.connect() if own else con
    try:
        _create_events(con)
        runs: list[ExtractorRun] = []
        for spec in specs:
            try:
                runs.append(_run_one(con, spec, lake))
            except Exception as exc:
                raise ExtractorFailedError(
                    f"extractor {spec.name!r} ({spec.path}) failed: {exc}"
                ) from exc
        validate_relation(con, "events")
        final = lake / "events"
        with atomic_output_dir(final, overwrite=overwrite) as tmp:
            (tmp / "events").mkdir()
            total = int(con.execute("SELECT count(*) FROM events").fetchone()[0])
            parts = max(1, -(-total // ROWS_PER_PART))
            for i in range(parts):
                out = tmp / "events" / f"part-{i:04d}.parquet"
                con.execute(
                    f"""COPY (SELECT * FROM events WHERE hash(person_id) % {parts} = {i}
                        ORDER BY person_id, start, code, source_key)
                    TO {_q(out)} (FORMAT PARQUET)"""
                )
            con.execute(
                f"COPY ({patients_sql(lake)}) TO {_q(tmp / 'patients.parquet')} (FORMAT PARQUET)"
            )
            codes_out = _q(tmp / "codes.parquet")
            con.execute(f"COPY ({codes_sql(lake, 'events')}) TO {codes_out} (FORMAT PARQUET)")
            n_pat = int(
                con.execute(
                    f"SELECT count(*) FROM read_parquet({_q(tmp / 'patients.parquet')})"
                ).fetchone()[0]
            )
            n_codes = int(
                con.execute(
                    f"SELECT count(*) FROM read_parquet({_q(tmp / 'codes.parquet')})"
                ).fetchone()[0]
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
        if own:
            con.close()
