"""The ingest report as Markdown, rendered from the report dict only
(:func:`sndslab.ingest._report.build_report`), so the JSON and the Markdown say the same.

Numbers carry thousands separators (the JSON stays numeric); every table of counts ends with a
totals row; the last section is the glossary of the report's words.

>>> md = render_markdown({"tables": {}, "files": [], "rules": [], "intermediate": {"a": 1200},
...                       "join_loss": {}})
>>> md.startswith("# Ingest report"), "| **total** | **1,200** |" in md
(True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["render_markdown"]

_DASH = "–"


def _n(value: Any) -> str:
    """An integer with thousands separators; None as a dash.

    >>> _n(1234567), _n(None), _n(0)
    ('1,234,567', '–', '0')
    """
    if value is None:
        return _DASH
    return f"{value:,}"


def _cell(text: Any) -> str:
    """Text for a table cell (pipes escaped, one line)."""
    return " ".join(str(text).split()).replace("|", "\\|") if text not in (None, "") else ""


def _counts(d: Mapping[str, int] | None) -> str:
    """``{"a": 1200, "b": 0}`` → ``"a: 1,200"`` (zeros left out), or a dash."""
    return ", ".join(f"{k}: {v:,}" for k, v in (d or {}).items() if v) or _DASH


def _seconds(value: float | None) -> str:
    return _DASH if value is None else f"{value:,.2f}"


def _run(run: Mapping[str, Any] | None) -> list[str]:
    if not run:
        return []
    date = run.get("date")
    shown = date.replace("T", " ").replace("+00:00", " UTC") if date else "unknown"
    version = f"sndslab {run.get('sndslab_version')}"
    if run.get("git_revision"):
        version += f" (git {run['git_revision'][:12]})"
    inp = run.get("input") or {}
    lines = ["", "## Run", ""]
    lines += [
        f"- date: {shown}",
        f"- version: {version}",
        f"- engine: {run.get('engine') or 'unknown'}",
        f"- input: {run.get('raw_dir') or 'unknown'} ({_n(inp.get('files'))} files, "
        f"{_n(inp.get('bytes'))} bytes)",
        f"- input SHA-256 (sorted file names and SHA-256): {inp.get('sha256') or _DASH}",
        f"- lake: {run.get('lake') or 'unknown'}",
        f"- duration: {_seconds(run.get('duration_seconds'))} s",
    ]
    phases: Mapping[str, float] = run.get("phases") or {}
    if phases:
        total = run.get("duration_seconds") or sum(phases.values())
        lines += ["", "### Duration per phase", ""]
        lines += ["| phase | seconds | share |", "|---|---:|---:|"]
        for name, s in phases.items():
            share = f"{s / total:.1%}" if total else _DASH
            lines.append(f"| {name} | {_seconds(s)} | {share} |")
        lines.append(f"| **total** | **{_seconds(total)}** | **100.0%** |")
    return lines


def _tables(report: Mapping[str, Any]) -> list[str]:
    lines = ["", "## Row accounting per table", ""]
    lines += [
        "| table | rows in | kept | filtered | quarantined | filtered (per rule) |"
        " quarantined (per reason) | adds up |",
        "|---|---:|---:|---:|---:|---|---|:-:|",
    ]
    for table, t in report["tables"].items():
        lines.append(
            f"| {table} | {_n(t['rows_in'])} | {_n(t['kept'])} |"
            f" {_n(sum(t['filtered'].values()))} | {_n(sum(t['quarantined'].values()))} |"
            f" {_counts(t['filtered'])} | {_counts(t['quarantined'])} |"
            f" {'yes' if t['adds_up'] else 'NO'} |"
        )
    tot = (report.get("totals") or {}).get("tables")
    if tot is not None:
        adds = tot["rows_in"] == tot["kept"] + tot["filtered"] + tot["quarantined"]
        lines.append(
            f"| **total** ({_n(tot['tables'])} tables) | **{_n(tot['rows_in'])}** |"
            f" **{_n(tot['kept'])}** | **{_n(tot['filtered'])}** |"
            f" **{_n(tot['quarantined'])}** | {_counts(tot['filtered_per_rule'])} |"
            f" {_counts(tot['quarantined_per_reason'])} | {'yes' if adds else 'NO'} |"
        )
    return lines


def _files(report: Mapping[str, Any]) -> list[str]:
    lines = ["", "## Files", ""]
    lines += [
        "| file | table | year | status | rows in | staged | quarantined | refused |"
        " unknown columns (dropped) | missing columns (NULL) |",
        "|---|---|---|---|---:|---:|---|---:|---|---|",
    ]
    for f in report["files"]:
        lines.append(
            f"| {_cell(f['file'])} | {f['table'] or ''} | {f['year'] or ''} | {f['status']} |"
            f" {_n(f['rows_in'])} | {_n(f['staged'])} | {_counts(f['quarantined'])} |"
            f" {_n(f.get('refused', 0))} | {', '.join(f.get('unknown_columns', [])) or _DASH} |"
            f" {', '.join(f.get('missing_columns', [])) or _DASH} |"
        )
    tot = (report.get("totals") or {}).get("files")
    if tot is not None:
        lines.append(
            f"| **total** ({_n(tot['files'])} files) | | | {_counts(tot['by_status'])} |"
            f" **{_n(tot['rows_in'])}** | **{_n(tot['staged'])}** |"
            f" **{_n(tot['quarantined'])}** | **{_n(tot['refused'])}** | | |"
        )
    refused = report.get("refused") or {}
    if refused.get("files"):
        lines += ["", "## Refused files", ""]
        lines += [f"- {name}: {why}" for name, why in refused["reasons"].items()]
    return lines


def _matches(report: Mapping[str, Any]) -> list[str]:
    rows = report.get("rule_matches")
    if rows is None:
        return []
    lines = ["", "## Rules: rows matched and rows filtered", ""]
    lines += [
        "A rule can match rows that an earlier rule already filtered: *matched* counts every "
        "row satisfying the rule's condition, *filtered* the rows charged to it (first match). "
        f"A {_DASH} under matched: the table's rows follow the decision on their parent line "
        "or stay (the rule is not evaluated on them).",
        "",
        "| rule | kind | table | matched | filtered |",
        "|---|---|---|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['rule']} | {r['kind']} | {r['table']} | {_n(r['matched'])} |"
            f" {_n(r['filtered'])} |"
        )
    tot = (report.get("totals") or {}).get("rule_matches")
    if tot is not None:
        lines.append(f"| **total** | | | **{_n(tot['matched'])}** | **{_n(tot['filtered'])}** |")
    return lines


def _transformations(report: Mapping[str, Any]) -> list[str]:
    rows = report.get("transformations")
    if rows is None:
        return []
    lines = ["", "## Transformations (rows changed, still kept)", ""]
    lines += ["| rule | table | rows changed |", "|---|---|---:|"]
    lines += [f"| {r['rule']} | {r['table']} | {_n(r['rows'])} |" for r in rows]
    total = sum(r["rows"] for r in rows)
    lines.append(f"| **total** | | **{_n(total)}** |")
    return lines


def _rules(report: Mapping[str, Any]) -> list[str]:
    rules = report["rules"]
    lines = ["", "## Rules", ""]
    lines += ["| rule | kind | tables | enabled | source |", "|---|---|---|---|---|"]
    for r in rules:
        lines.append(
            f"| {r['name']} | {r['kind']} | {', '.join(r['tables'])} | {r['enabled']} |"
            f" {_cell(r['source'])} |"
        )
    enabled = sum(1 for r in rules if r["enabled"])
    lines.append(f"| **total**: {_n(len(rules))} rules | | | {_n(enabled)} enabled | |")
    return lines


def _identity(report: Mapping[str, Any]) -> list[str]:
    ident = report.get("identity")
    if not ident:
        return []
    lines = ["", "## Identity", ""]
    lines += ["| person keys | keys |", "|---|---:|"]
    lines += [
        f"| of IR_BEN_R | {_n(ident.get('keys_ir_ben_r'))} |",
        f"| only in ER_PRS_F (dcir_only) | {_n(ident.get('keys_dcir_only'))} |",
        f"| **total** | **{_n(ident['keys'])}** |",
    ]
    as_persons = "pseudo-persons" if ident.get("fictitious_as_persons") else "no person"
    lines += [
        "",
        f"- persons: {_n(ident['persons'])} (resolved in {_n(ident.get('rounds'))} rounds)",
        f"- fictitious-NIR keys ({as_persons}): {_n(ident.get('fictitious_keys', 0))}, "
        f"their kept ER_PRS_F lines: {_n(ident.get('fictitious_claim_lines', 0))}",
        "",
        "| flag | persons | share of persons |",
        "|---|---:|---:|",
    ]
    persons = ident["persons"]
    for flag, n in ident["flags"].items():
        share = f"{n / persons:.2%}" if persons else _DASH
        lines.append(f"| {flag} | {_n(n)} | {share} |")
    lines.append(f"| **all persons** (a person can have several flags) | **{_n(persons)}** | |")
    return lines


def _score(score: Mapping[str, Any] | None) -> list[str]:
    """The identity-score section (empty without a truth)."""
    if not score:
        return []
    lines = ["", "## Identity score (against the generator truth)", ""]
    lines += [
        f"- truth: {score['truth_dir']}",
        f"- keys scored: {_n(score['keys_scored'])} (fictitious-NIR keys left out: "
        f"{_n(score['keys_fictitious'])})",
        f"- true persons: {_n(score['true_persons'])}, resolved persons: "
        f"{_n(score['resolved_persons'])}",
        f"- pairwise precision: {score['pairwise_precision']:.4%}, pairwise recall: "
        f"{score['pairwise_recall']:.4%}",
        f"- split persons: {_n(score['split_persons'])}, merged persons: "
        f"{_n(score['merged_persons'])}",
    ]
    lines += [
        f"- keys with difficulty {name}: {_n(n)} ({_n(bad)} of a split person)"
        for name, (n, bad) in score["by_difficulty"].items()
    ]
    pmsi = score["pmsi"]
    lines += [
        f"- PMSI records: {_n(pmsi['records'])}, linked {_n(pmsi['linked'])}, to the right "
        f"person {_n(pmsi['correct'])}: precision {pmsi['precision']:.4%}, recall "
        f"{pmsi['recall']:.4%}",
    ]
    lines += [
        f"  - {status}: {_n(n)} records, {_n(ok)} right"
        for status, (n, ok) in pmsi["by_status"].items()
    ]
    return lines


def _intermediate(report: Mapping[str, Any]) -> list[str]:
    rows: Mapping[str, int] = report["intermediate"]
    lines = ["", "## Intermediate tables", ""]
    lines += ["| table | rows |", "|---|---:|"]
    lines += [f"| int.{name} | {_n(n)} |" for name, n in rows.items()]
    lines.append(f"| **total** | **{_n(sum(rows.values()))}** |")
    return lines


def _glossary(report: Mapping[str, Any]) -> list[str]:
    glossary = report.get("glossary")
    if not glossary:
        return []
    lines = ["", "## Glossary", "", "### Where rows go", ""]
    lines += [f"- **{term}**: {text}" for term, text in glossary["rows"].items()]
    lines += ["", "### Identity", ""]
    lines += [f"- **{term}**: {text}" for term, text in glossary["identity"].items()]
    return lines


def render_markdown(report: Mapping[str, Any]) -> str:
    """The Markdown of an ingest report dict (no I/O); see the module docstring."""
    lines = ["# Ingest report"]
    lines += _run(report.get("run"))
    lines += _tables(report)
    lines += _files(report)
    lines += _matches(report)
    lines += _transformations(report)
    lines += _rules(report)
    lines += _identity(report)
    lines += _score(report.get("identity_score"))
    lines += _intermediate(report)
    lines += ["", "## Join loss", ""]
    lines += [f"- {k}: {v:.4%}" for k, v in report["join_loss"].items()]
    lines += _glossary(report)
    return "\n".join(lines) + "\n"
