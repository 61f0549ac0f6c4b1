"""Markdown rendering of a :class:`~sndslab.release._risk.RiskReport` (aggregate counts only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sndslab.release._risk import RiskMetrics, RiskReport

__all__ = ["report_markdown"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _row(label: str, m: RiskMetrics) -> str:
    risks = m.risks()["prosecutor"]
    return (
        f"| {label} | {m.k:,} | {m.classes:,} | {m.unique:,} ({_pct(m.unique_share)}) | "
        f"{m.at_risk:,} ({_pct(m.at_risk_share)}) | {risks['max_risk']:.3f} | "
        f"{risks['average_risk']:.3f} |"
    )


_HEAD = (
    "| generalisation | k | classes | unique persons | persons in classes < target | "
    "max risk | average risk |\n|---|---:|---:|---:|---:|---:|---:|"
)


def report_markdown(report: RiskReport) -> str:
    """The report as Markdown: the notice, the source, then one section per combination."""
    from sndslab.release._risk import K_BUCKETS, SECURE_SPACE_NOTICE

    lines = [
        "# Re-identification risk report",
        "",
        f"> **{SECURE_SPACE_NOTICE}**",
        "",
        f"- source: `{report.source}` ({report.kind})",
        f"- persons: {report.persons:,}",
        f"- target k: {report.target_k} (rare codes: held by fewer than {report.target_k} persons)",
        f"- suppression allowed: {_pct(report.max_suppressed)} of persons",
        "- not in the source: "
        + (", ".join(a for a, ok in report.available.items() if not ok) or "none"),
        "",
        "Risks: prosecutor model (El Emam & Dankar 2008), risk of a person = 1 / size of its "
        "class in the source; "
        + (
            "the export covers the whole population, so the journalist risk is the same."
            if report.population is None
            else f"journalist model: 1 / size of its class in the population `{report.population}`."
        ),
        "",
    ]
    for c in report.combinations:
        lines += [f"## {c.name}", "", "Quasi-identifiers: " + ", ".join(c.attributes)]
        if c.missing:
            lines.append(f"(not in the source, left out: {', '.join(c.missing)})")
        lines += ["", _HEAD, _row("finest", c.finest)]
        for i, step in enumerate(c.path[1:], 1):
            label = "; ".join(f"{a}: {lv}" for a, lv in step.levels.items())
            lines.append(_row(f"step {i}: {label}", step.metrics))
        lines.append("")
        if report.population is not None:
            picked = None if c.chosen is None else c.chosen.metrics
            for label, m in (("finest", c.finest), ("chosen", picked)):
                j = None if m is None else m.journalist
                if j is not None:
                    lines.append(
                        f"Journalist risk ({label}): population k = {int(j['population_k']):,}, "
                        f"max risk {j['max_risk']:.3f}, average risk {j['average_risk']:.3f}, "
                        f"records at risk {_pct(j['records_at_risk_share'])}; persons of the "
                        f"source absent from the population: {int(j['unmatched']):,}."
                    )
            lines.append("")
        dist = ", ".join(f"{name}: {c.finest.k_distribution[name]:,}" for name, _, _ in K_BUCKETS)
        lines.append(f"Persons by class size at the finest level: {dist}.")
        lines.append("")
        if c.chosen is None:
            lines.append(
                f"No generalisation reaches k = {report.target_k}: the source has fewer "
                "persons than the target, or the suppression limit is too low."
            )
        else:
            chosen = "; ".join(f"{a}: {lv}" for a, lv in c.chosen.levels.items())
            lines.append(
                f"Least-loss generalisation reaching the target: **{chosen}** (k = "
                f"{c.chosen.metrics.k:,}, information loss {c.chosen.loss:.2f}; "
                f"{len(c.minimal)} minimal node(s); {c.evaluated} of {c.lattice_nodes} lattice "
                "nodes evaluated)."
            )
        lines.append("")
    return "\n".join(lines)
