"""Ingest report: ``<lake>/_reports/<commit>/ingest.json`` and a readable ``ingest.md``
(:meth:`sndslab.lake.LakePaths.report_dir`), published with the run's lake commit.

Per table and per file: rows in, staged, quarantined per reason; per table: kept, filtered per
rule, orphan satellite rows; the check that they add up (per table, raises
:class:`AccountingMismatchError` if not):

    rows_in (raw) == kept + Σ filtered + Σ quarantined (staging reasons + orphan rows)

plus the identity summary, the join-loss metrics and, when the raw files come with a generator
truth, the identity score (:mod:`sndslab.ingest._identity_score`).

For people reading it later, the report also says which run it describes (``run``: date in
UTC, sndslab version and git revision, engine, input folder and a hash of its content,
seconds per phase), the totals of every table (``totals``), each rule's matches beside the rows
it filtered (``rule_matches``), the rows each transform rule changed (``transformations``) and
what its words mean (``glossary``). Two pure functions build it: :func:`build_report` (the
JSON-ready dict) and :func:`render_markdown` (the Markdown, from that dict only, so both say
the same); :func:`write_report` writes them.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sndslab import __version__
from sndslab.errors import SndslabError
from sndslab.ingest._identity import IdentityResult
from sndslab.ingest._report_markdown import render_markdown
from sndslab.ingest._rules import RuleCounts
from sndslab.lake import LakePaths, git_revision

__all__ = [
    "GLOSSARY",
    "PHASES",
    "AccountingMismatchError",
    "build_report",
    "input_sha256",
    "render_markdown",
    "write_report",
]

#: The phases of an ingest run, in order (``run.phases`` of the report, in seconds).
PHASES = ("staging", "rules", "identity", "intermediate", "report")

#: What the report's words mean (``glossary`` of the JSON, the Glossary of the Markdown).
GLOSSARY: dict[str, dict[str, str]] = {
    "rows": {
        "rows in": "data lines of a raw file (non-blank lines after the header), counted "
        "independently of the CSV parser; for a table, the sum over its staged files.",
        "staged": "rows typed to the registry's canonical types and written to stg/ (nothing "
        "filtered yet).",
        "kept": "staged rows that no quality rule filtered and that are not orphans: the rows "
        "the int/ tables are built from.",
        "filtered": "staged rows removed by a quality rule, each charged to the FIRST rule it "
        "matches in the rules' fixed order (a satellite row follows the decision on its parent "
        "prestation line or stay); they stay in stg/, so switching a rule off needs no "
        "re-ingest.",
        "matched": "rows satisfying a rule's own condition on the table it is evaluated on, "
        "whatever the other rules decided: a row can match several rules, and a rule can "
        "match rows an earlier rule already filtered (matched counts them, filtered does not).",
        "transformed": "kept rows whose values a transform rule changed (e.g. a sentinel end "
        "date set to NULL); they stay kept.",
        "quarantined": "rows set aside with their reason under quarantine/<TABLE>/: rows that "
        "could not be read or typed (type_error, malformed_line, absurd_date, ...) and orphan "
        "satellite rows.",
        "orphans": "rows of a satellite table (e.g. ER_PHA_F, PMSI diagnoses) with no parent "
        "row on the join keys; quarantined with the reason orphan_satellite_row.",
        "refused": "a raw file not staged at all (its name identifies no registry table and "
        "no --map maps it, or its header shares no column with the table); every data line is "
        "counted as a refused row, with the reason.",
        "empty": "a raw file with no data line (empty, or a header only): nothing to stage.",
        "skipped_duplicate": "a raw file with the same content (SHA-256) as another raw file "
        "of the folder or one already ingested: not staged again (its rows are counted once, "
        "under the first file).",
        "join loss": "shares (0 to 1) of int rows left without a partner: prestations or "
        "deaths without a person, kept ER_PHA_F / ER_CAM_F rows not joined to a prestation, "
        "PMSI stays whose NIR_ANO_17 found no person key (no_person_key), several twins "
        "(ambiguous_twin) or a person of another sex or birth year (incoherent).",
    },
    "identity": {
        "persons": "resolved persons: connected components of the person keys linked by a "
        "shared BEN_NIR_ANO or BEN_IDT_ANO.",
        "keys": "distinct (BEN_NIR_PSA, BEN_RNG_GEM) pairs: those of IR_BEN_R plus those "
        "found only in ER_PRS_F (dcir_only).",
        "fictitious_nir": "persons with a fictitious-NIR key (BEN_CDI_NIR 01, 05, 06, 08, 09, "
        "11: care billed anonymously); non-zero only with --keep-fictitious-persons, otherwise "
        "such keys identify no person and their claims are attached to none.",
        "provisional_nir": "persons with a provisional NIR (BEN_CDI_NIR 03 or 04, or an "
        "IR_BEN_R key without BEN_NIR_ANO): linked to no other key.",
        "twin_shared_psa": "persons one of whose BEN_NIR_PSA is shared with another person: "
        "twins of the same sex attached to the same insured person (the pseudonym is built "
        "from that person's NIR, the birth date and the sex; BEN_RNG_GEM tells them apart).",
        "multiple_psa": "persons with several BEN_NIR_PSA (e.g. a child attached to each "
        "parent's NIR, or a beneficiary who later opened rights under their own NIR), linked "
        "by their BEN_NIR_ANO or BEN_IDT_ANO.",
        "inconsistent_birth_or_sex": "persons whose keys disagree on sex or birth year.",
    },
}


class AccountingMismatchError(SndslabError):
    """Rows of a table do not add up (a bug: every row must end in exactly one place)."""


def input_sha256(files: Iterable[tuple[str, str]]) -> str:
    """SHA-256 of the content of a raw folder: over its sorted (file name, file SHA-256)
    pairs, so it changes when a file is added, removed, renamed or modified.

    >>> a = input_sha256([("B.csv", "22"), ("A.csv", "11")])
    >>> a == input_sha256([("A.csv", "11"), ("B.csv", "22")]), len(a)
    (True, 64)
    >>> a == input_sha256([("A.csv", "11"), ("B.csv", "23")])
    False
    """
    digest = hashlib.sha256()
    for name, sha in sorted(files):
        digest.update(f"{name}\t{sha}\n".encode())
    return digest.hexdigest()


def _files(stage_result: Any) -> list[dict[str, Any]]:
    return [
        {
            "file": acc.file,
            "table": acc.table,
            "year": acc.year,
            "status": acc.status,
            "rows_in": acc.rows_in,
            "staged": acc.staged,
            "quarantined": dict(acc.quarantined),
            "refused": acc.refused_rows,
            "message": acc.message,
            "unknown_columns": list(acc.unknown_columns),
            "missing_columns": list(acc.missing_columns),
            "sha256": acc.sha256,
            "bytes": acc.bytes,
        }
        for acc in getattr(stage_result, "accounts", [])
    ]


def _tables(files: list[dict[str, Any]], rule_counts: RuleCounts, checked: bool) -> dict[str, Any]:
    """Row accounting per table (raises :class:`AccountingMismatchError` when it does not add
    up; ``checked``: the staged rows must also equal the rows read back from stg/)."""
    raw_in: dict[str, int] = defaultdict(int)
    staged: dict[str, int] = defaultdict(int)
    quarantined: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in files:
        if f["table"] is None or f["status"] != "staged":
            continue
        raw_in[f["table"]] += f["rows_in"]
        staged[f["table"]] += f["staged"]
        for reason, n in f["quarantined"].items():
            quarantined[f["table"]][reason] += n
    tables: dict[str, Any] = {}
    for table in sorted(set(rule_counts.rows_in) | set(raw_in)):
        q = dict(quarantined.get(table, {}))
        orphans = rule_counts.orphans.get(table, 0)
        if orphans:
            q["orphan_satellite_row"] = q.get("orphan_satellite_row", 0) + orphans
        kept = rule_counts.kept.get(table, 0)
        filtered = dict(rule_counts.filtered.get(table, {}))
        rows_in = raw_in.get(table, rule_counts.rows_in.get(table, 0))
        total = kept + sum(filtered.values()) + sum(q.values())
        if checked and staged.get(table, 0) != rule_counts.rows_in.get(table, 0):
            raise AccountingMismatchError(
                f"{table}: {staged.get(table, 0)} rows staged but {rule_counts.rows_in.get(table)}"
                " rows read back from stg/"
            )
        if total != rows_in:
            raise AccountingMismatchError(
                f"{table}: rows in {rows_in} != kept {kept} + filtered {sum(filtered.values())}"
                f" + quarantined {sum(q.values())}"
            )
        tables[table] = {
            "rows_in": rows_in,
            "kept": kept,
            "filtered": filtered,
            "matched": rule_counts.matched.get(table, {}),
            "transformed": rule_counts.transformed.get(table, {}),
            "quarantined": q,
            "adds_up": True,
        }
    return tables


def _rule_matches(tables: dict[str, Any], rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (rule, table) where the rule matched or filtered rows: ``matched`` is None
    on a table whose rows follow their parent's decision (the rule is not evaluated there)."""
    kinds = {r["name"]: r.get("kind", "") for r in rules}
    order = {name: i for i, name in enumerate(kinds)}
    rows = []
    for table, t in tables.items():
        for rule in set(t["matched"]) | set(t["filtered"]):
            rows.append(
                {
                    "rule": rule,
                    "kind": kinds.get(rule, ""),
                    "table": table,
                    "matched": t["matched"].get(rule),
                    "filtered": t["filtered"].get(rule, 0),
                }
            )
    rows.sort(key=lambda r: (order.get(r["rule"], len(order)), r["rule"], r["table"]))
    return rows


def _transformations(tables: dict[str, Any], rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {r["name"]: i for i, r in enumerate(rules)}
    rows = [
        {"rule": rule, "table": table, "rows": n}
        for table, t in tables.items()
        for rule, n in t["transformed"].items()
    ]
    rows.sort(key=lambda r: (order.get(r["rule"], len(order)), r["rule"], r["table"]))
    return rows


def _sum(dicts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for d in dicts:
        total.update(d)
    return dict(sorted(total.items()))


def _totals(report: dict[str, Any]) -> dict[str, Any]:
    tables, files = report["tables"].values(), report["files"]
    return {
        "tables": {
            "tables": len(tables),
            "rows_in": sum(t["rows_in"] for t in tables),
            "kept": sum(t["kept"] for t in tables),
            "filtered": sum(sum(t["filtered"].values()) for t in tables),
            "quarantined": sum(sum(t["quarantined"].values()) for t in tables),
            "filtered_per_rule": _sum(t["filtered"] for t in tables),
            "quarantined_per_reason": _sum(t["quarantined"] for t in tables),
        },
        "files": {
            "files": len(files),
            "by_status": dict(sorted(Counter(f["status"] for f in files).items())),
            "rows_in": sum(f["rows_in"] for f in files),
            "staged": sum(f["staged"] for f in files),
            "quarantined": sum(sum(f["quarantined"].values()) for f in files),
            "refused": sum(f["refused"] for f in files),
            "bytes": sum(f["bytes"] for f in files),
        },
        "rule_matches": {
            "matched": sum(r["matched"] or 0 for r in report["rule_matches"]),
            "filtered": sum(r["filtered"] for r in report["rule_matches"]),
        },
        "transformations": {"rows": sum(r["rows"] for r in report["transformations"])},
        "intermediate": {
            "tables": len(report["intermediate"]),
            "rows": sum(report["intermediate"].values()),
        },
    }


def _run(
    files: list[dict[str, Any]],
    *,
    raw_dir: Path | str | None,
    lake: Path | str | None,
    engine: str | None,
    started: datetime | None,
    timings: Mapping[str, float] | None,
    version: str,
    revision: str | None,
) -> dict[str, Any]:
    """The ``run`` section: which run, on what, how long (phases in :data:`PHASES` order)."""
    given = dict(timings or {})
    if "stage" in given and "staging" not in given:  # the pipeline's name of the phase
        given["staging"] = given.pop("stage")
    phases = {p: float(given[p]) for p in PHASES if p in given}
    return {
        "date": started.astimezone(UTC).isoformat(timespec="seconds") if started else None,
        "sndslab_version": version,
        "git_revision": revision,
        "engine": engine,
        "raw_dir": str(raw_dir) if raw_dir is not None else None,
        "lake": str(lake) if lake is not None else None,
        "input": {
            "files": len(files),
            "bytes": sum(f["bytes"] for f in files),
            "sha256": input_sha256((f["file"], f["sha256"]) for f in files) if files else None,
        },
        "phases": phases,
        "duration_seconds": round(sum(phases.values()), 3) if phases else None,
    }


def build_report(
    stage_result: Any,
    rule_counts: RuleCounts,
    identity: IdentityResult | None,
    intermediate: dict[str, int],
    join_loss: dict[str, float] | None = None,
    identity_score: dict[str, Any] | None = None,
    *,
    raw_dir: Path | str | None = None,
    lake: Path | str | None = None,
    engine: str | None = None,
    started: datetime | None = None,
    timings: Mapping[str, float] | None = None,
    version: str = __version__,
    revision: str | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict (raises if a table's rows do not add up). Pure: no I/O.

    ``raw_dir``, ``lake``, ``engine``, ``started`` (the run's start, any time zone; reported
    in UTC), ``timings`` (seconds per phase, :data:`PHASES`; the pipeline's ``stage`` is
    ``staging``), ``version`` and ``revision`` (git) fill the ``run`` section.

    >>> from sndslab.ingest import RuleCounts
    >>> rc = RuleCounts(rows_in={"X": 3}, kept={"X": 2}, filtered={"X": {"r": 1}},
    ...                 matched={"X": {"r": 2}})
    >>> rep = build_report(None, rc, None, {}, engine="duckdb", timings={"stage": 1.5,
    ...                    "rules": 0.5})
    >>> rep["totals"]["tables"]["rows_in"], rep["rule_matches"][0]["matched"]
    (3, 2)
    >>> rep["run"]["phases"], rep["run"]["duration_seconds"]
    ({'staging': 1.5, 'rules': 0.5}, 2.0)
    """
    files = _files(stage_result)
    tables = _tables(files, rule_counts, checked=stage_result is not None)
    refused = [f for f in files if f["status"] == "refused"]
    report: dict[str, Any] = {
        "tables": tables,
        "files": files,
        "refused": {
            "files": len(refused),
            "rows": sum(f["refused"] for f in refused),
            "reasons": {f["file"]: f["message"] for f in refused},
        },
        "rules": rule_counts.rules,
        "identity": identity.model_dump() if identity is not None else None,
        "intermediate": intermediate,
        "join_loss": join_loss or {},
        "identity_score": identity_score,
        "run": _run(
            files,
            raw_dir=raw_dir,
            lake=lake,
            engine=engine,
            started=started,
            timings=timings,
            version=version,
            revision=revision,
        ),
        "rule_matches": _rule_matches(tables, rule_counts.rules),
        "transformations": _transformations(tables, rule_counts.rules),
    }
    report["totals"] = _totals(report)
    report["glossary"] = GLOSSARY
    return report


def write_report(
    paths: LakePaths,
    stage_result: Any,
    rule_counts: RuleCounts,
    identity: IdentityResult | None,
    intermediate: dict[str, int],
    join_loss: dict[str, float] | None = None,
    identity_score: dict[str, Any] | None = None,
    *,
    out_dir: str,
    extra: dict[str, Any] | None = None,
    raw_dir: Path | str | None = None,
    engine: str | None = None,
    started: datetime | None = None,
    timings: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Write ``ingest.json`` and ``ingest.md`` into ``out_dir`` (the report directory of the
    commit about to be published, :meth:`sndslab.lake.LakePaths.report_dir`; each file written
    atomically through the lake's storage) with the ``extra`` sections; returns the report
    dict (:func:`build_report`; the run date is now when ``started`` is not given, the git
    revision that of the running sources)."""
    report = build_report(
        stage_result,
        rule_counts,
        identity,
        intermediate,
        join_loss,
        identity_score,
        raw_dir=raw_dir,
        lake=paths.root,
        engine=engine,
        started=started or datetime.now(UTC),
        timings=timings,
        revision=git_revision(),
    )
    report.update(extra or {})
    storage = paths.storage
    text = json.dumps(report, indent=2, default=str) + "\n"
    storage.mkdirs(out_dir)
    storage.write_text(storage.join(out_dir, "ingest.json"), text)
    storage.write_text(storage.join(out_dir, "ingest.md"), render_markdown(report))
    return report
