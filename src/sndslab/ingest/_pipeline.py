"""The whole ingest: stage → rules → identity → intermediate → report → ONE commit.

Staging is incremental (``stg/`` parts named by file name and content, the staging cache
``_state/files.json``). The rest is one generation of the ``int`` layer
(:func:`sndslab.lake.write_generation`): the kept rows, flags and orphan satellite rows of
every staged table (internal datasets ``clean__<TABLE>``, ``flags__<TABLE>``,
``orphans__<TABLE>``), the identity tables and every public int table; then the report, in the
report directory of the commit to come. Only then one lake commit publishes the staged
extract, the ``int`` generation and the report together (:func:`sndslab.lake.publish`): a
crash or an interrupt at any earlier point leaves the previous commit readable and unchanged,
and the next run removes the leftovers and says so. The run reads what it is about to publish
through a pending view (:meth:`sndslab.lake.LakePaths.at`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from pydantic import BaseModel, ConfigDict

from sndslab._faults import failpoint
from sndslab.engines import Connection, DuckDBConnection, Engine, get_engine, is_uri
from sndslab.errors import SndslabError
from sndslab.ingest._identity import IdentityResult, resolve_persons
from sndslab.ingest._identity_score import find_truth, score_lake
from sndslab.ingest._intermediate import build_intermediate, join_loss
from sndslab.ingest._report import write_report
from sndslab.ingest._rules import (
    QualityRule,
    RuleCounts,
    apply_rules,
    load_rules,
    rule_units,
    stg_tables,
)
from sndslab.ingest._sources import check_sources, source_counts
from sndslab.lake import (
    GenerationWriter,
    LakeCommit,
    LakePaths,
    LayerManifest,
    commit_numbers,
    config_hash,
    current_commit,
    discard_generation,
    kept_parts,
    publish,
    write_generation,
    writer_lock,
)

#: The staged tables identity resolution reads.
IDENTITY_INPUTS = frozenset({"IR_BEN_R", "ER_PRS_F"})

__all__ = ["IngestResult", "IntResult", "build_int", "ingest"]


class IntResult(BaseModel):
    """What one build of the ``int`` layer produced (:func:`build_int`)."""

    rules: RuleCounts
    identity: IdentityResult
    intermediate: dict[str, int]
    join_loss: dict[str, float]
    timings: dict[str, float] = {}
    generation: int = 0


class IngestResult(BaseModel):
    """Everything one ingest run produced."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    lake: Path | str
    stage: Any
    rules: RuleCounts
    identity: IdentityResult
    intermediate: dict[str, int]
    join_loss: dict[str, float]
    report: dict[str, Any]
    timings: dict[str, float] = {}


def _unordered(con: Connection) -> None:
    """Past staging no output depends on row order (datasets are sets of rows; every reader
    sorts or aggregates): let DuckDB stream and spill without keeping it."""
    if con.engine.name == "duckdb":
        cast(DuckDBConnection, con).raw.execute("SET preserve_insertion_order = false")


def _require_beneficiaries(staged: Any, raw_dir: Path | str, lake: Path | str) -> None:
    """One clear error when no IR_BEN_R was staged: identity, persons and every person-linked
    int table need it; what was staged stays in ``stg/`` and is reused by the next run."""
    accounts = getattr(staged, "accounts", [])
    tables = {f.table for f in staged.files.values()}
    if "IR_BEN_R" in tables:
        return
    kept = sum(1 for a in accounts if a.status == "staged")
    raise SndslabError(
        f"no IR_BEN_R file among the raw files of {raw_dir}: the int layer (identity, persons "
        f"and every person-linked table) needs the beneficiary referential; the {kept} staged "
        f"file(s) stay in {lake}/stg and are reused next time: add IR_BEN_R (e.g. IR_BEN_R.csv) "
        "and run ingest again"
    )


def _inputs(staged: Any) -> dict[str, Any]:
    """Fingerprints of the staged files the generation was built from, by file and by table
    (the whole published extract, every raw directory of it)."""
    files = staged.files.values()
    by_table: dict[str, list[str]] = {}
    for f in files:
        by_table.setdefault(f.table, []).append(f.sha256)
    return {
        "stg_files": dict(sorted((f.name, f.sha256) for f in files)),
        "stg_tables": {t: sorted(v) for t, v in sorted(by_table.items())},
    }


class _Plan(BaseModel):
    """What an incremental build may reuse from the previous int generation."""

    changed: set[str]  # staged tables whose files changed (all of them on a full build)
    carry_rules: set[str]  # staged tables whose kept rows and flags are carried
    previous_rules: RuleCounts | None = None
    full: bool = True


def _plan(
    previous: LayerManifest | None, config: dict[str, Any], engine: str, inputs: dict[str, Any]
) -> _Plan:
    """Compare the staged inputs with those of the previous generation (same rules, same
    engine): the rule units none of whose tables changed are carried."""
    now: dict[str, list[str]] = inputs.get("stg_tables", {})
    if (
        previous is None
        or previous.config_hash != config_hash(config)
        or previous.engine != engine
        or "stg_tables" not in previous.inputs
        or "rules" not in previous.counts
    ):
        return _Plan(changed=set(now), carry_rules=set())
    before: dict[str, list[str]] = previous.inputs["stg_tables"]
    changed = {t for t in set(now) | set(before) if now.get(t) != before.get(t)}
    carry = set()
    for unit in rule_units(set(now)):
        if not unit & changed:
            carry |= unit
    return _Plan(
        changed=changed,
        carry_rules=carry,
        previous_rules=RuleCounts.model_validate(previous.counts["rules"]),
        full=False,
    )


def _identity(
    con: Connection, w: GenerationWriter, plan: _Plan, keep_fictitious: bool = False
) -> tuple[IdentityResult, bool]:
    """Identity carried when neither IR_BEN_R nor ER_PRS_F changed, else resolved again;
    and whether the person keys differ from the previous generation's."""
    prev = w.previous.counts if w.previous is not None else {}
    reuse = not plan.full and not plan.changed & IDENTITY_INPUTS and "identity" in prev
    if reuse and w.carry("persons") and w.carry("person_keys"):
        w.counts["identity_fingerprint"] = prev.get("identity_fingerprint")
        return IdentityResult.model_validate(prev["identity"]), False
    identity = resolve_persons(con, w, keep_fictitious=keep_fictitious)
    fingerprint = con.fetchone(
        "SELECT count(*), sum(hash(person_id, ben_nir_psa, ben_rng_gem, key_type)) "
        f"FROM {w.relation('person_keys')} k"
    )
    w.counts["identity_fingerprint"] = str(fingerprint)
    return identity, plan.full or str(fingerprint) != prev.get("identity_fingerprint")


def build_int(
    con: Connection,
    paths: LakePaths,
    rules: list[QualityRule] | None = None,
    *,
    inputs: dict[str, Any] | None = None,
    keep_fictitious_persons: bool = False,
    publish_commit: bool = True,
    keep: int | None = None,
    phase: Callable[[str], None] | None = None,
    allow_missing: Collection[str] | bool = (),
) -> IntResult:
    """Build one generation of the ``int`` layer from the staged tables of the lake (as
    ``paths`` sees them: a pending view during an ingest): rules, identity, intermediate
    tables (see the module docstring); published in a lake commit unless ``publish_commit`` is
    False (then the caller publishes ``IntResult.generation``). Fictitious-NIR keys are claims
    attached to no person unless ``keep_fictitious_persons``
    (:func:`sndslab.ingest.resolve_persons`). ``phase(name)`` is called as each step starts
    (``rules``, ``identity``, ``intermediate``).

    A staged table whose ``int`` table or rule needs another one that is not staged is a
    :class:`sndslab.errors.MissingSourceError` unless ``allow_missing`` names it (or is True);
    see :mod:`sndslab.ingest._sources`. The gaps are in ``counts["sources"]``."""
    rules = load_rules() if rules is None else rules
    enter = phase or (lambda _name: None)
    staged = stg_tables(paths)
    allowed = check_sources(staged, rules, allow_missing)
    notes = [
        f"missing source {t} allowed: {', '.join(who)} built without it"
        for t, who in allowed.items()
    ]
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now

    config: dict[str, Any] = {"rules": [r.model_dump(mode="json") for r in rules]}
    if keep_fictitious_persons:  # part of the configuration: changing it rebuilds everything
        config["identity"] = {"keep_fictitious_persons": True}
    inputs = dict(inputs or {})
    with write_generation(
        paths,
        "int",
        con,
        config=config,
        inputs=inputs,
        notes=notes,
        publish_commit=publish_commit,
        keep=keep,
    ) as w:
        plan = _plan(w.previous, config, con.engine.name, inputs)
        enter("rules")
        failpoint("ingest.rules")
        counts = apply_rules(
            con, paths, w, rules, carry=plan.carry_rules, previous=plan.previous_rules
        )
        lap("rules")
        enter("identity")
        failpoint("ingest.identity")
        identity, persons_changed = _identity(con, w, plan, keep_fictitious_persons)
        lap("identity")
        failpoint("ingest.intermediate")

        def reusable(group: str, staged: set[str], links_persons: bool) -> bool:
            if plan.full or staged & plan.changed:
                return False
            return not (links_persons and persons_changed)

        enter("intermediate")
        rows = build_intermediate(con, paths, w, reusable=reusable)
        loss = join_loss(con, w)
        lap("intermediate")
        failpoint("ingest.int_built")
        w.counts.update(
            {
                "rules": counts.model_dump(mode="json"),
                "identity": identity.model_dump(mode="json"),
                "intermediate": rows,
                "sources": source_counts(staged, allowed, rows),
                "incremental": {
                    "full": plan.full,
                    "changed_stg_tables": sorted(plan.changed),
                    "carried_stg_tables": sorted(plan.carry_rules),
                    "persons_changed": persons_changed,
                },
            }
        )
        w.timings.update(timings)
    return IntResult(
        rules=counts,
        identity=identity,
        intermediate=rows,
        join_loss=loss,
        timings=timings,
        generation=w.generation,
    )


def ingest(
    raw_dir: Path | str,
    lake: Path | str,
    *,
    engine: str | Engine = "duckdb",
    rules: list[QualityRule] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    mapping: Mapping[str, str] | None = None,
    keep_fictitious_persons: bool = False,
    truth: Path | str | bool | None = None,
    append_extract: bool = False,
    replace_extract: bool = False,
    keep: int | None = None,
    phase: Callable[[str], None] | None = None,
    allow_missing: Collection[str] | bool = (),
) -> IngestResult:
    """Stage ``raw_dir`` into ``lake`` then apply ``rules`` (default: the built-in rules),
    resolve identity, build the ``int`` generation and write the report.

    ``mapping`` files raw files whose name names no registry table into one explicitly
    (``{"file name or stem": "TABLE"}``, the command line's ``--map``; see
    :func:`sndslab.ingest.discover`).

    ``truth``: a generator truth directory to score identity against (report section
    ``identity_score``, :mod:`sndslab.ingest._identity_score`); by default ``raw_dir/../truth``
    when it holds ``identities.parquet`` (the ``sndslab synth`` layout); False: never.

    ``engine`` is a name (``duckdb``, ``spark``) or a configured engine
    (:func:`sndslab.engines.get_engine`, e.g. with a ``memory_limit``: every step then runs
    within it, spilling under ``lake/.tmp``). ``IngestResult.timings`` gives each step's
    seconds. Fictitious-NIR keys (BEN_CDI_NIR 01/05/06/08/09/11) are claims attached to no
    person, counted in the report, unless ``keep_fictitious_persons`` makes them pseudo-persons.

    The run publishes ONE lake commit at its end (staged extract, ``int`` generation and
    report; see the module docstring), keeping ``keep`` commits for ``sndslab lake rollback``
    (default: as the lake's latest commit says). ``append_extract`` / ``replace_extract``: see
    :func:`sndslab.ingest.stage`.

    ``phase(name)`` is called as each phase starts: ``staging`` (then ``progress`` per file),
    ``rules``, ``identity``, ``intermediate``, ``report`` (the report's ``run`` section gives
    each phase's seconds; its ``report`` phase is the identity scoring and the report's
    building, measured before the files are written).

    ``allow_missing``: the missing source tables accepted (see :func:`build_int`).
    """
    from sndslab.ingest import stage  # the staging step (its own module, other owner)
    from sndslab.ingest._state import IngestState

    root = str(lake)
    eng = get_engine(engine, lake=None if is_uri(root) else root)
    timings: dict[str, float] = {}
    enter = phase or (lambda _name: None)
    started_at = datetime.now(UTC)
    started = time.perf_counter()
    con = eng.connect()
    paths = LakePaths(root, con.storage)
    try:
        with writer_lock(paths):
            paths.ensure_marker()
            # every step runs on the chosen engine (on "spark": the same SQL, transpiled)
            enter("staging")
            staged = stage(
                raw_dir,
                lake,
                engine=eng,
                progress=progress,
                mapping=mapping,
                publish_commit=False,
                append_extract=append_extract,
                replace_extract=replace_extract,
            )
            timings["stage"] = round(time.perf_counter() - started, 3)
            failpoint("ingest.staged")
            _require_beneficiaries(staged, raw_dir, lake)
            if paths.is_local:  # the engine's spill directory lives there (staging removes it)
                paths.storage.mkdirs(paths.tmp_dir)
            _unordered(con)
            base = current_commit(paths)
            pending = LakeCommit(
                number=0,
                created="",
                command="ingest",
                layers=dict(base.layers) if base is not None else {},
                stg=staged.files,
                raw_dirs=staged.raw_dirs,
            )
            built = build_int(
                con,
                paths.at(pending),
                rules,
                inputs=_inputs(staged),
                keep_fictitious_persons=keep_fictitious_persons,
                publish_commit=False,
                phase=phase,
                allow_missing=allow_missing,
            )
            pending.layers["int"] = built.generation
            numbers = commit_numbers(paths)
            number = (numbers[-1] + 1) if numbers else 1
            try:
                timings.update(built.timings)
                enter("report")
                failpoint("ingest.report")
                clock = time.perf_counter()
                truth_dir = find_truth(raw_dir, truth) if paths.is_local else None
                score = score_lake(root, truth_dir, pending) if truth_dir is not None else None
                timings["report"] = round(time.perf_counter() - clock, 3)
                report = write_report(
                    paths,
                    staged,
                    built.rules,
                    built.identity,
                    built.intermediate,
                    built.join_loss,
                    identity_score=score,
                    out_dir=paths.report_dir(number),
                    extra={"extract": {"raw_dirs": staged.raw_dirs, "changes": staged.changes}},
                    raw_dir=Path(raw_dir).resolve(),
                    engine=eng.name,
                    started=started_at,
                    timings=timings,
                )
                failpoint("ingest.reported")
                commit = publish(
                    paths,
                    command="ingest",
                    base=pending,
                    report=f"_reports/{number:08d}",
                    keep=keep,
                    notes=list(staged.notes),
                )
                if commit.number != number:  # the writer lock makes this impossible
                    raise AssertionError(f"commit {commit.number} published, {number} expected")
            except BaseException:  # not published: the run leaves nothing behind
                discard_generation(paths, "int", built.generation)  # unless a commit names it
                with contextlib.suppress(Exception):
                    if number not in commit_numbers(paths):
                        paths.storage.delete(paths.report_dir(number))
                raise
            IngestState.load(paths).keep_only(kept_parts(paths))
    finally:
        con.close()
        paths.storage.delete(paths.tmp_dir)
    timings["total"] = round(sum(timings.values()), 3)
    return IngestResult(
        lake=root if is_uri(root) else Path(root),
        stage=staged,
        rules=built.rules,
        identity=built.identity,
        intermediate=built.intermediate,
        join_loss=built.join_loss,
        report=report,
        timings=timings,
    )
