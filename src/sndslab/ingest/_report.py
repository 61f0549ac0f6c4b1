"""Ingest report: ``<lake>/_reports/ingest.json`` and a readable ``ingest.md``
(:attr:`sndslab.lake.LakePaths.reports_dir`).

Per table and per file: rows in, staged, quarantined per reason; per table: kept, filtered per
rule, orphan satellite rows; the check that they add up (per table, raises
:class:`AccountingMismatchError` if not):

    rows_in (raw) == kept + Σ filtered + Σ quarantined (staging reasons + orphan rows)

plus the identity summary, the join-loss metrics and, when the raw files come with a generator
truth, the identity score (:mod:`sndslab.ingest._identity_score`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sndslab.errors import SndslabError
from sndslab.ingest._identity import IdentityResult
from sndslab.ingest._rules import RuleCounts
from sndslab.lake import LakePaths

__all__ = ["AccountingMismatchError", "build_report", "write_report"]


class AccountingMismatchError(SndslabError):
    """Rows of a table do not add up (a bug: every row must end in exactly one place)."""


def build_report(
    stage_result: Any,
    rule_counts: RuleCounts,
    identity: IdentityResult | None,
    intermediate: dict[str, int],
    join_loss: dict[str, float] | None = None,
    identity_score: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict (raises if a table's rows do not add up)."""
    files: list[dict[str, Any]] = []
    raw_in: dict[str, int] = defaultdict(int)
    staged: dict[str, int] = defaultdict(int)
    quarantined: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for acc in getattr(stage_result, "accounts", []):
        files.append(
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
            }
        )
        if acc.table is None or acc.status not in ("staged",):
            continue
        raw_in[acc.table] += acc.rows_in
        staged[acc.table] += acc.staged
        for reason, n in acc.quarantined.items():
            quarantined[acc.table][reason] += n
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
        if stage_result is not None and staged.get(table, 0) != rule_counts.rows_in.get(table, 0):
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
    refused = [f for f in files if f["status"] == "refused"]
    return {
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
    }


def _markdown(report: dict[str, Any]) -> str:
    lines = ["# Ingest report", "", "## Row accounting per table", ""]
    lines += [
        "| table | rows in | kept | filtered (per rule) | quarantined (per reason) | adds up |",
        "|---|---:|---:|---|---|:-:|",
    ]

    def fmt(d: dict[str, int]) -> str:
        return ", ".join(f"{k}: {v}" for k, v in d.items() if v) or "–"

    for table, t in report["tables"].items():
        lines.append(
            f"| {table} | {t['rows_in']} | {t['kept']} | {fmt(t['filtered'])} | "
            f"{fmt(t['quarantined'])} | {'yes' if t['adds_up'] else 'NO'} |"
        )
    lines += [
        "",
        "## Files",
        "",
        "| file | table | year | status | rows in | staged | quarantined | refused |"
        " unknown columns (dropped) | missing columns (NULL) |",
    ]
    lines += ["|---|---|---|---|---:|---:|---|---:|---|---|"]
    for f in report["files"]:
        lines.append(
            f"| {f['file']} | {f['table'] or ''} | {f['year'] or ''} | {f['status']} |"
            f" {f['rows_in']:,} | {f['staged']:,} | {fmt(f['quarantined'])} |"
            f" {f.get('refused', 0):,} | {', '.join(f.get('unknown_columns', [])) or '–'} |"
            f" {', '.join(f.get('missing_columns', [])) or '–'} |"
        )
    refused = report.get("refused") or {}
    if refused.get("files"):
        lines += ["", "## Refused files", ""]
        lines += [f"- {name}: {why}" for name, why in refused["reasons"].items()]
    lines += [
        "",
        "## Rules",
        "",
        "| rule | kind | tables | enabled | source |",
        "|---|---|---|---|---|",
    ]
    for r in report["rules"]:
        lines.append(
            f"| {r['name']} | {r['kind']} | {', '.join(r['tables'])} | {r['enabled']} |"
            f" {r['source']} |"
        )
    ident = report.get("identity")
    if ident:
        lines += ["", "## Identity", ""]
        lines += [f"- persons: {ident['persons']}", f"- keys: {ident['keys']}"]
        lines += [f"- {k}: {v}" for k, v in ident["flags"].items()]
        as_persons = "pseudo-persons" if ident.get("fictitious_as_persons") else "no person"
        lines += [
            f"- fictitious-NIR keys ({as_persons}): {ident.get('fictitious_keys', 0)}, "
            f"their kept ER_PRS_F lines: {ident.get('fictitious_claim_lines', 0)}"
        ]
    lines += _score_markdown(report.get("identity_score"))
    lines += ["", "## Intermediate tables (rows)", ""]
    lines += [f"- {k}: {v}" for k, v in report["intermediate"].items()]
    lines += ["", "## Join loss", ""]
    lines += [f"- {k}: {v:.4%}" for k, v in report["join_loss"].items()]
    return "\n".join(lines) + "\n"


def _score_markdown(score: dict[str, Any] | None) -> list[str]:
    """The identity-score section (empty without a truth)."""
    if not score:
        return []
    lines = ["", "## Identity score (against the generator truth)", ""]
    lines += [
        f"- truth: {score['truth_dir']}",
        f"- keys scored: {score['keys_scored']} (fictitious-NIR keys left out: "
        f"{score['keys_fictitious']})",
        f"- true persons: {score['true_persons']}, resolved persons: {score['resolved_persons']}",
        f"- pairwise precision: {score['pairwise_precision']:.4%}, pairwise recall: "
        f"{score['pairwise_recall']:.4%}",
        f"- split persons: {score['split_persons']}, merged persons: {score['merged_persons']}",
    ]
    lines += [
        f"- keys with difficulty {name}: {n} ({bad} of a split person)"
        for name, (n, bad) in score["by_difficulty"].items()
    ]
    pmsi = score["pmsi"]
    lines += [
        f"- PMSI records: {pmsi['records']}, linked {pmsi['linked']}, to the right person "
        f"{pmsi['correct']}: precision {pmsi['precision']:.4%}, recall {pmsi['recall']:.4%}",
    ]
    lines += [
        f"  - {status}: {n} records, {ok} right" for status, (n, ok) in pmsi["by_status"].items()
    ]
    return lines


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
) -> dict[str, Any]:
    """Write ``ingest.json`` and ``ingest.md`` into ``out_dir`` (the report directory of the
    commit about to be published, :meth:`sndslab.lake.LakePaths.report_dir`; each file written
    atomically through the lake's storage) with the ``extra`` sections; returns the report
    dict."""
    report = build_report(
        stage_result, rule_counts, identity, intermediate, join_loss, identity_score
    )
    report.update(extra or {})
    storage = paths.storage
    text = json.dumps(report, indent=2, default=str) + "\n"
    storage.mkdirs(out_dir)
    storage.write_text(storage.join(out_dir, "ingest.json"), text)
    storage.write_text(storage.join(out_dir, "ingest.md"), _markdown(report))
    return report
