"""Build a cohort in the engine: index events → named steps (each one SQL table) → observation.

Every step keeps or drops rows (person × index date) by one named rule, in the order of the
spec: the index event, the study period, the prior observation, alive at index, age, sex,
territory, then the inclusion and exclusion criteria. The attrition table counts distinct
persons before and after each step and the persons excluded, counted independently (persons of
the step's input absent from its output): ``before - excluded = after`` is checked at each step
and ``after`` of a step is ``before`` of the next (:class:`CohortAccountingError` otherwise).
Nothing runs as a Python loop over rows: every step is SQL over the lake's relations, on
DuckDB or Spark.

Observation: ``observation_start`` is the study start (the birth date when later);
``observation_end`` is the earliest of the study end, the death date (``events.patients``) and,
with ``loss_after_days``, the last care day (any event of :data:`CARE_CATEGORIES`, the index day
included) followed by a gap of more than ``loss_after_days`` days without care before the
study end or the death.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from sndslab.cohorts._concepts import match_sql
from sndslab.cohorts._spec import (
    CARE_CATEGORIES,
    CohortSpec,
    CohortSpecError,
    Criterion,
    SetOperationSpec,
    Spec,
    load_cohort,
)
from sndslab.engines import Connection, Relation, quote_literal
from sndslab.errors import SndslabError
from sndslab.lake import Lake, open_lake, relation, relation_or_none

__all__ = [
    "ATTRITION_SCHEMA",
    "COHORT_COLUMNS",
    "CohortAccountingError",
    "CohortEmptyError",
    "CohortResult",
    "build_cohort",
    "population_step",
]

#: Columns of a cohort table (``CohortResult.table``), in order.
COHORT_COLUMNS: tuple[str, ...] = (
    "person_id",
    "index_date",
    "observation_start",
    "observation_end",
)

#: The attrition table: one row per step of one cohort.
ATTRITION_SCHEMA = pa.schema(
    [
        ("cohort", pa.string()),
        ("step", pa.int64()),
        ("criterion", pa.string()),
        ("persons_before", pa.int64()),
        ("excluded", pa.int64()),
        ("persons_after", pa.int64()),
        ("rows_after", pa.int64()),
    ]
)

_RUN = itertools.count()


class CohortAccountingError(SndslabError):
    """The counts of an attrition step do not add up (a bug, named with the step)."""


class CohortEmptyError(SndslabError):
    """A cohort has no person (the message names the step that excluded the last ones)."""


@dataclass
class CohortResult:
    """A built cohort: ``relation`` (a table of the lake's connection: ``cohort`` rows with
    :data:`COHORT_COLUMNS`), its attrition, and notes (concept entries matching no code...).

    ``table`` reads the rows (Arrow, ordered by person and index date); ``drop()`` forgets the
    temporary tables (``close()`` also closes a lake the build opened itself).
    """

    name: str
    spec: Spec
    lake: Lake
    relation: str
    attrition: pa.Table
    notes: list[str] = field(default_factory=list)
    members: list[CohortResult] = field(default_factory=list)
    _temporary: list[str] = field(default_factory=list, repr=False)
    _own_lake: bool = field(default=False, repr=False)

    @property
    def table(self) -> pa.Table:
        cols = ", ".join(COHORT_COLUMNS)
        return self.lake.con.sql(
            f"SELECT {cols} FROM {self.relation} ORDER BY person_id, index_date"
        ).to_arrow()

    @property
    def persons(self) -> int:
        return int(self.lake.con.scalar(f"SELECT count(DISTINCT person_id) FROM {self.relation}"))

    @property
    def rows(self) -> int:
        return int(self.lake.con.scalar(f"SELECT count(*) FROM {self.relation}"))

    def all_attrition(self) -> pa.Table:
        """This cohort's attrition after its members' (set operations)."""
        parts = [m.all_attrition() for m in self.members] + [self.attrition]
        return pa.concat_tables(parts)

    def drop(self) -> None:
        for m in self.members:
            m.drop()
        for name in reversed(self._temporary):
            with contextlib.suppress(Exception):  # temporary relations only
                self.lake.con.drop(name)
        self._temporary.clear()

    def close(self) -> None:
        self.drop()
        if self._own_lake:
            self.lake.close()


def _age_sql(birth: str, day: str) -> str:
    """Age in full years on ``day`` of a person born on ``birth`` (portable SQL)."""
    return (
        f"(year({day}) - year({birth}) - CASE WHEN month({day}) * 100 + day({day}) < "
        f"month({birth}) * 100 + day({birth}) THEN 1 ELSE 0 END)"
    )


def _lits(values: Any) -> str:
    return ", ".join(quote_literal(str(v)) for v in values)


class _Builder:
    """One build on a connection: temporary tables ``_coh<run>_<token>_*``."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.con: Connection = lake.con
        self.prefix = f"_coh{next(_RUN)}_{secrets.token_hex(3)}"
        self.created: list[str] = []
        self.events = relation(self.con, lake.paths, "events.events")
        self.patients = relation(self.con, lake.paths, "events.patients")
        self.codes = relation_or_none(self.con, lake.paths, "events.codes")
        self._n = itertools.count()
        self._concepts: dict[tuple[str, str], str] = {}

    def table(self, label: str, query: str) -> str:
        name = f"{self.prefix}_{next(self._n)}_{label}"
        self.con.create_table(name, query)
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        for name in reversed(self.created):
            with contextlib.suppress(Exception):
                self.con.drop(name)
        self.created.clear()

    def count(self, rel: str) -> tuple[int, int]:
        row = self.con.fetchone(f"SELECT count(DISTINCT person_id), count(*) FROM {rel}")
        return (int(row[0] or 0), int(row[1] or 0)) if row else (0, 0)

    # ---- concept sets -------------------------------------------------------------------
    def concept_events(self, spec: CohortSpec, name: str) -> str:
        """``(person_id, d)`` of the events of concept set ``name`` (one row per event)."""
        key = (spec.name, name)
        if key not in self._concepts:
            cs = spec.concept_sets[name]
            if cs.descendants and self.codes is None:
                raise CohortSpecError(
                    f"cohort spec {spec.path or spec.name}: concept_sets.{name}: descendants "
                    "need events.codes, absent from this lake: run `sndslab events` again"
                )
            where = match_sql(cs, "e", self.codes or "")
            self._concepts[key] = self.table(
                f"cs_{name}", f"SELECT e.person_id, e.start AS d FROM {self.events} e WHERE {where}"
            )
        return self._concepts[key]


@dataclass
class _Step:
    name: str
    run: Callable[[str], str]  # input relation -> output relation


class _Attrition:
    """The steps' counts, checked as they are produced."""

    def __init__(self, builder: _Builder, cohort: str) -> None:
        self.b = builder
        self.cohort = cohort
        self.rows: list[dict[str, Any]] = []

    def record(self, name: str, before_rel: str | None, before: int, after_rel: str) -> int:
        after, rows = self.b.count(after_rel)
        if before_rel is None:  # the first step: persons of events.patients without an index
            excluded = int(
                self.b.con.scalar(
                    f"SELECT count(*) FROM {self.b.patients} p WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {after_rel} a WHERE a.person_id = p.person_id)"
                )
            )
        else:
            excluded = int(
                self.b.con.scalar(
                    f"SELECT count(DISTINCT b.person_id) FROM {before_rel} b WHERE NOT EXISTS "
                    f"(SELECT 1 FROM {after_rel} a WHERE a.person_id = b.person_id)"
                )
            )
        if self.rows and self.rows[-1]["persons_after"] != before:
            raise CohortAccountingError(
                f"cohort {self.cohort!r}, step {name!r}: {before} persons before, "
                f"{self.rows[-1]['persons_after']} after the previous step"
            )
        if before - excluded != after:
            raise CohortAccountingError(
                f"cohort {self.cohort!r}, step {name!r}: {before} persons before - {excluded} "
                f"excluded != {after} after"
            )
        self.rows.append(
            {
                "cohort": self.cohort,
                "step": len(self.rows) + 1,
                "criterion": name,
                "persons_before": before,
                "excluded": excluded,
                "persons_after": after,
                "rows_after": rows,
            }
        )
        return after

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=ATTRITION_SCHEMA)

    def emptied_at(self) -> str | None:
        for r in self.rows:
            if r["persons_after"] == 0:
                return str(r["criterion"])
        return None


def _index_sql(b: _Builder, spec: CohortSpec) -> str:
    idx = spec.index
    pat = (
        "p.person_id, {d} AS index_date, p.birth_date, p.sex, p.residence_region, "
        "p.residence_dpt, p.death_date"
    )
    if idx.date is not None:
        fixed = pat.format(d=f"DATE '{idx.date}'")
        return f"SELECT {fixed} FROM {b.patients} p"
    assert idx.concept_set is not None
    ev = b.concept_events(spec, idx.concept_set)
    if idx.occurrence == "first":
        firsts = f"SELECT person_id, min(d) AS d FROM {ev} GROUP BY person_id"
    else:
        firsts = f"SELECT DISTINCT person_id, d FROM {ev}"
    return f"SELECT {pat.format(d='i.d')} FROM ({firsts}) i JOIN {b.patients} p USING (person_id)"


def _criterion_sql(b: _Builder, spec: CohortSpec, c: Criterion, rows: str) -> str:
    ev = b.concept_events(spec, c.concept_set)
    lo, hi = c.window
    counted = "count(e.d)" if c.count == "events" else "count(DISTINCT e.d)"
    counts = f"""SELECT r.person_id, r.index_date, {counted} AS n FROM {rows} r
        LEFT JOIN {ev} e ON e.person_id = r.person_id
         AND date_diff('day', r.index_date, e.d) BETWEEN {lo} AND {hi}
        GROUP BY r.person_id, r.index_date"""
    if c.kind == "exclusion":
        keep = f"k.n < {c.min_count}"
    else:
        keep = f"k.n >= {c.min_count}"
        if c.max_count is not None:
            keep += f" AND k.n <= {c.max_count}"
    return f"""SELECT r.* FROM {rows} r JOIN ({counts}) k
        ON k.person_id = r.person_id AND k.index_date = r.index_date WHERE {keep}"""


def _steps(b: _Builder, spec: CohortSpec) -> list[_Step]:
    obs, dem = spec.observation, spec.demographics

    def where(label: str, predicate: str) -> Callable[[str], str]:
        return lambda rel: b.table(label, f"SELECT * FROM {rel} WHERE {predicate}")

    steps = [
        _Step(
            f"index in the study period [{obs.study_start}, {obs.study_end}]",
            where(
                "period",
                f"index_date >= DATE '{obs.study_start}' AND index_date <= DATE '{obs.study_end}'",
            ),
        )
    ]
    if spec.prior_days > 0:
        steps.append(
            _Step(
                f"at least {spec.prior_days} days of data before index (from {obs.first_data_day})",
                where(
                    "prior",
                    f"date_diff('day', DATE '{obs.first_data_day}', index_date) >= "
                    f"{spec.prior_days}",
                ),
            )
        )
    steps.append(
        _Step(
            "alive at index (born before it, not dead)",
            where(
                "alive",
                "(birth_date IS NULL OR birth_date <= index_date) AND "
                "(death_date IS NULL OR death_date >= index_date)",
            ),
        )
    )
    if dem.min_age is not None or dem.max_age is not None:
        age = _age_sql("birth_date", "index_date")
        conds = ["birth_date IS NOT NULL"]
        if dem.min_age is not None:
            conds.append(f"{age} >= {dem.min_age}")
        if dem.max_age is not None:
            conds.append(f"{age} <= {dem.max_age}")
        label = (
            f"aged {dem.min_age}+ at index"
            if dem.max_age is None
            else f"aged {dem.min_age or 0}-{dem.max_age} at index"
        )
        steps.append(_Step(label, where("age", " AND ".join(conds))))
    if dem.sex:
        steps.append(
            _Step(
                f"sex {' or '.join(str(s) for s in dem.sex)} (1 male, 2 female)",
                where("sex", f"sex IN ({', '.join(str(s) for s in dem.sex)})"),
            )
        )
    if dem.regions:
        steps.append(
            _Step(
                f"résidence in région {', '.join(dem.regions)}",
                where("region", f"residence_region IN ({_lits(dem.regions)})"),
            )
        )
    if dem.departements:
        steps.append(
            _Step(
                f"résidence in département {', '.join(dem.departements)}",
                where("dpt", f"residence_dpt IN ({_lits(dem.departements)})"),
            )
        )
    for i, c in enumerate(spec.criteria()):
        steps.append(_Step(f"{c.kind}: {c.name} ({c.describe()})", _criterion_step(b, spec, c, i)))
    return steps


def _criterion_step(b: _Builder, spec: CohortSpec, c: Criterion, i: int) -> Callable[[str], str]:
    def run(rel: str) -> str:
        return b.table(f"crit{i}", _criterion_sql(b, spec, c, rel))

    return run


def _observation_sql(b: _Builder, spec: CohortSpec, rows: str) -> str:
    """The cohort rows with ``observation_start`` and ``observation_end``."""
    obs = spec.observation
    start, end = f"DATE '{obs.study_start}'", f"DATE '{obs.study_end}'"
    stop = (
        f"CASE WHEN r.death_date IS NOT NULL AND r.death_date < {end} THEN r.death_date "
        f"ELSE {end} END"
    )
    ostart = f"CASE WHEN r.birth_date > {start} THEN r.birth_date ELSE {start} END"
    if obs.loss_after_days is None:
        return f"""SELECT r.person_id, r.index_date, {ostart} AS observation_start,
            {stop} AS observation_end FROM {rows} r"""
    cats = _lits(c.value for c in CARE_CATEGORIES)
    care = f"""SELECT DISTINCT e.person_id, e.start AS d FROM {b.events} e
        WHERE e.category IN ({cats}) AND e.start >= {start} AND e.start <= {end}
          AND e.person_id IN (SELECT person_id FROM {rows})"""
    gap = obs.loss_after_days
    return f"""WITH s AS (SELECT r.person_id, r.index_date, {ostart} AS observation_start,
                {stop} AS stop FROM {rows} r),
        contacts AS (
            SELECT s.person_id, s.index_date, c.d FROM s JOIN ({care}) c
              ON c.person_id = s.person_id AND c.d > s.index_date AND c.d <= s.stop
            UNION ALL SELECT person_id, index_date, index_date AS d FROM s),
        gaps AS (SELECT person_id, index_date, d, lead(d) OVER (
                    PARTITION BY person_id, index_date ORDER BY d) AS next_d FROM contacts),
        lost AS (SELECT g.person_id, g.index_date, min(g.d) AS lost_at FROM gaps g
            JOIN s ON s.person_id = g.person_id AND s.index_date = g.index_date
            WHERE date_diff('day', g.d, coalesce(g.next_d, s.stop)) > {gap}
            GROUP BY g.person_id, g.index_date)
        SELECT s.person_id, s.index_date, s.observation_start,
            CASE WHEN l.lost_at IS NOT NULL AND l.lost_at < s.stop THEN l.lost_at
                 ELSE s.stop END AS observation_end
        FROM s LEFT JOIN lost l ON l.person_id = s.person_id AND l.index_date = s.index_date"""


def _unmatched_notes(b: _Builder, spec: CohortSpec) -> list[str]:
    """Concept sets used by the spec whose events are empty: an error (a concept that selects
    nothing cannot define a cohort); the caller decides."""
    notes = []
    for (cohort, name), rel in b._concepts.items():
        if cohort == spec.name and int(b.con.scalar(f"SELECT count(*) FROM {rel}")) == 0:
            notes.append(name)
    return notes


def _build_cohort(b: _Builder, spec: CohortSpec) -> tuple[str, pa.Table, list[str]]:
    att = _Attrition(b, spec.name)
    total = int(b.con.scalar(f"SELECT count(*) FROM {b.patients}"))
    rows = b.table("index", _index_sql(b, spec))
    label = (
        f"index date {spec.index.date} (every person of events.patients)"
        if spec.index.date is not None
        else f"index event: {spec.index.occurrence} {spec.index.concept_set}"
    )
    before = att.record(label, None, total, rows)
    for step in _steps(b, spec):
        out = step.run(rows)
        before = att.record(step.name, rows, before, out)
        rows = out
    final = b.table("cohort", _observation_sql(b, spec, rows))
    notes = [
        f"concept set {name!r} selects no event of this lake" for name in _unmatched_notes(b, spec)
    ]
    return final, att.table(), notes


def _set_sql(spec: SetOperationSpec, members: list[CohortResult]) -> list[tuple[str, str]]:
    """(step name, SQL of the rows kept) of a set operation, in order."""
    firsts = [
        f"""(SELECT person_id, min(index_date) AS index_date,
            min(observation_start) AS observation_start, max(observation_end) AS observation_end
            FROM {m.relation} GROUP BY person_id)"""
        for m in members
    ]
    names = [m.name for m in members]
    if spec.operation == "union":
        union = " UNION ALL ".join(f"SELECT * FROM {f}" for f in firsts)
        return [
            (
                f"in at least one of {', '.join(names)}",
                f"""SELECT person_id, min(index_date) AS index_date,
                    min(observation_start) AS observation_start,
                    max(observation_end) AS observation_end FROM ({union}) u GROUP BY person_id""",
            )
        ]
    steps: list[tuple[str, str]] = [(f"in {names[0]}", f"SELECT * FROM {firsts[0]} f")]
    for name, other in zip(names[1:], firsts[1:], strict=True):
        if spec.operation == "intersection":
            steps.append(
                (
                    f"also in {name}",
                    f"""SELECT r.person_id,
                        CASE WHEN o.index_date > r.index_date THEN o.index_date
                             ELSE r.index_date END AS index_date,
                        CASE WHEN o.observation_start > r.observation_start
                             THEN o.observation_start ELSE r.observation_start END
                             AS observation_start,
                        CASE WHEN o.observation_end < r.observation_end THEN o.observation_end
                             ELSE r.observation_end END AS observation_end
                    FROM {{rows}} r JOIN {other} o ON o.person_id = r.person_id""",
                )
            )
        else:
            steps.append(
                (
                    f"not in {name}",
                    f"""SELECT r.* FROM {{rows}} r WHERE NOT EXISTS
                        (SELECT 1 FROM {other} o WHERE o.person_id = r.person_id)""",
                )
            )
    if spec.operation == "intersection":
        steps.append(
            (
                "index inside every member's observation",
                "SELECT * FROM {rows} r WHERE index_date <= observation_end",
            )
        )
    return steps


def _build_set(
    b: _Builder, spec: SetOperationSpec, members: list[CohortResult]
) -> tuple[str, pa.Table]:
    att = _Attrition(b, spec.name)
    steps = _set_sql(spec, members)
    name, first = steps[0]
    rows = b.table("set0", first)
    if spec.operation == "union":
        n = int(b.con.scalar(f"SELECT count(*) FROM {rows}"))
        att.record(name, rows, n, rows)
    else:
        n = members[0].persons
        att.record(name, members[0].relation, n, rows)
    before = att.rows[-1]["persons_after"]
    for i, (label, sql) in enumerate(steps[1:], start=1):
        out = b.table(f"set{i}", sql.format(rows=rows))
        before = att.record(label, rows, before, out)
        rows = out
    return rows, att.table()


def _result(
    b: _Builder, spec: Spec, lake: Lake, allow_empty: bool, seen: tuple[str, ...] = ()
) -> CohortResult:
    if isinstance(spec, SetOperationSpec):
        members = [_result(_Builder(lake), m, lake, True, (*seen, spec.name)) for m in spec.members]
        rel, attrition = _build_set(b, spec, members)
        notes = [n for m in members for n in m.notes]
    else:
        members = []
        rel, attrition, notes = _build_cohort(b, spec)
    result = CohortResult(
        name=spec.name,
        spec=spec,
        lake=lake,
        relation=rel,
        attrition=attrition,
        notes=notes,
        members=members,
        _temporary=list(b.created),
    )
    if not allow_empty and attrition.num_rows and attrition["persons_after"][-1].as_py() == 0:
        step = next(r["criterion"] for r in attrition.to_pylist() if r["persons_after"] == 0)
        result.drop()
        hint = f" ({'; '.join(notes)})" if notes else ""
        raise CohortEmptyError(
            f"cohort {spec.name!r} ({spec.path or 'spec'}) is empty: the last persons were "
            f"excluded at step {step!r}{hint}"
        )
    return result


def build_cohort(
    lake: Lake | str | Path, spec: Spec | str | Path, *, allow_empty: bool = False
) -> CohortResult:
    """Build ``spec`` (a spec, a path or a built-in name) on ``lake`` (a :class:`Lake` on
    either engine, or a path opened on DuckDB). Nothing is written to the lake (see
    :func:`sndslab.cohorts.write_cohorts`); the rows stay in the engine (``result.relation``).

    An empty cohort is a :class:`CohortEmptyError` naming the step that excluded the last
    persons, unless ``allow_empty``.
    """
    if not isinstance(spec, CohortSpec | SetOperationSpec):
        spec = load_cohort(spec)
    own = not isinstance(lake, Lake)
    opened = open_lake(lake) if not isinstance(lake, Lake) else lake
    try:
        if relation_or_none(opened.con, opened.paths, "events.events") is None:
            raise SndslabError(
                f"{opened.root} has no events layer: run `sndslab events {opened.root}` first"
            )
        b = _Builder(opened)
        try:
            result = _result(b, spec, opened, allow_empty)
        except BaseException:
            b.drop_all()
            raise
        result._own_lake = own
        return result
    except BaseException:
        if own:
            opened.close()
        raise


def population_step(
    spec: Spec | str | Path, *, allow_empty: bool = False
) -> Callable[..., Relation]:
    """A population step for other analyses (a study's ``population``): a callable
    ``(lake, *anything) -> Relation`` that builds ``spec`` on the lake and returns one row per
    person (first index; the widest observation of its rows) with the columns
    :data:`COHORT_COLUMNS`. Its temporary tables live as long as the lake's connection.

    >>> step = population_step("population_65_plus")
    >>> callable(step)
    True
    """

    def step(lake: Lake, *_: Any) -> Relation:
        result = build_cohort(lake, spec, allow_empty=allow_empty)
        return lake.con.sql(
            f"""SELECT person_id, min(index_date) AS index_date,
                min(observation_start) AS observation_start,
                max(observation_end) AS observation_end
            FROM {result.relation} GROUP BY person_id"""
        )

    return step
