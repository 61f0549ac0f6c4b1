"""The attrition table through the release gate, and its flowchart.

For the gate, the attrition of a cohort is one hierarchy of person counts (a column ``node``):
the total ``0`` (the persons before the first step: every person of ``events.patients``), and
for step *k* the nodes ``k.excluded`` and ``k.after``, both children of ``(k-1).after`` (of the
total for step 1): ``before = excluded + after`` at every step is an additive relation the
gate's secondary suppression and attack know, so a small exclusion cannot be recomputed from
the counts around it. The flowchart (matplotlib) is drawn from the *released* counts only,
suppressed ones shown as such, and written next to them.

>>> import pyarrow as pa
>>> from sndslab.cohorts._build import ATTRITION_SCHEMA
>>> att = pa.Table.from_pylist([
...     {"cohort": "c", "step": 1, "criterion": "index", "persons_before": 100, "excluded": 40,
...      "persons_after": 60, "rows_after": 60},
...     {"cohort": "c", "step": 2, "criterion": "age", "persons_before": 60, "excluded": 5,
...      "persons_after": 55, "rows_after": 55}], schema=ATTRITION_SCHEMA)
>>> table, spec = attrition_cells(att)
>>> table.column("node").to_pylist(), table.column("persons").to_pylist()
(['0', '1.excluded', '1.after', '2.excluded', '2.after'], [100, 40, 60, 5, 55])
>>> spec.dimensions[0].parents
{'2.excluded': '1.after', '2.after': '1.after'}
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from sndslab._atomic import atomic_write_bytes
from sndslab.errors import SndslabError
from sndslab.release import ReleaseResult, TableSpec, release

__all__ = ["attrition_cells", "flowchart_png", "release_attrition"]

#: Total node of a released attrition (the persons before the first step).
TOTAL_NODE = "0"


def attrition_cells(attrition: pa.Table) -> tuple[pa.Table, TableSpec]:
    """The person-count cells of one cohort's attrition and their release spec."""
    rows = attrition.to_pylist()
    cohorts = {r["cohort"] for r in rows}
    if len(cohorts) != 1:
        raise SndslabError(f"attrition_cells takes one cohort's attrition, got {sorted(cohorts)}")
    name = rows[0]["cohort"]
    nodes, counts = [TOTAL_NODE], [int(rows[0]["persons_before"])]
    parents: dict[str, str] = {}
    steps = []
    for r in rows:
        k = int(r["step"])
        parent = TOTAL_NODE if k == 1 else f"{k - 1}.after"
        for kind, value in (("excluded", r["excluded"]), ("after", r["persons_after"])):
            node = f"{k}.{kind}"
            nodes.append(node)
            counts.append(int(value))
            if parent != TOTAL_NODE:
                parents[node] = parent
        steps.append(f"{k}: {r['criterion']}")
    spec = TableSpec.model_validate(
        {
            "name": f"cohort_attrition_{name}",
            "count": "persons",
            "description": f"Attrition of cohort {name}: " + "; ".join(steps),
            "dimensions": [
                {
                    "name": "node",
                    "levels": [
                        {
                            "column": "node",
                            "total": TOTAL_NODE,
                            "description": "0: persons before step 1; k.excluded: persons "
                            "step k excluded; k.after: persons left after step k",
                        }
                    ],
                    "parents": parents,
                }
            ],
        }
    )
    table = pa.table({"node": nodes, "persons": pa.array(counts, pa.int64())})
    return table, spec


def _label(value: Any) -> str:
    return "suppressed" if value is None else f"{int(value):,}"


def flowchart_png(title: str, steps: Sequence[str], released: pa.Table) -> bytes:
    """A PNG flowchart of released attrition cells (``node``, ``persons``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    value = dict(
        zip(
            released.column("node").to_pylist(), released.column("persons").to_pylist(), strict=True
        )
    )
    n = len(steps)
    fig, ax = plt.subplots(figsize=(9, 1.2 + 1.25 * (n + 1)))
    ax.set_xlim(0, 10)
    ax.set_ylim(-(n + 1) * 1.25, 0.6)
    ax.axis("off")
    ax.set_title(title, fontsize=11, loc="left")
    box = {"boxstyle": "round,pad=0.4", "facecolor": "#eef3fb", "edgecolor": "#34558b"}
    side = {"boxstyle": "round,pad=0.3", "facecolor": "#fbeeee", "edgecolor": "#8b3434"}
    ax.text(3, 0, f"Persons in the lake\nn = {_label(value.get(TOTAL_NODE))}", ha="center",
            va="center", fontsize=9, bbox=box)  # fmt: skip
    for k, text in enumerate(steps, start=1):
        y = -k * 1.25
        ax.annotate("", xy=(3, y + 0.35), xytext=(3, y + 0.9),
                    arrowprops={"arrowstyle": "->", "color": "#34558b"})  # fmt: skip
        wrapped = text if len(text) <= 60 else text[:57] + "..."
        ax.text(3, y, f"{wrapped}\nn = {_label(value.get(f'{k}.after'))}", ha="center",
                va="center", fontsize=8, bbox=box)  # fmt: skip
        ax.text(8.3, y + 0.55, f"excluded: {_label(value.get(f'{k}.excluded'))}", ha="center",
                va="center", fontsize=8, bbox=side)  # fmt: skip
    sink = io.BytesIO()
    fig.savefig(sink, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return sink.getvalue()


def release_attrition(
    attritions: Sequence[pa.Table],
    out_dir: Path | str,
    *,
    lake: Any,
    extra: Sequence[tuple[pa.Table, TableSpec]] = (),
    overwrite: bool = False,
) -> ReleaseResult:
    """Release the attrition of each cohort (one table each, plus ``extra`` tables such as
    Table 1) through the gate into ``out_dir``, then draw each flowchart from the released
    counts (``<table>_flowchart.png``)."""
    pairs = [attrition_cells(a) for a in attritions]
    result = release([*pairs, *extra], out_dir, lake=lake, overwrite=overwrite)
    for (table, spec), done, att in zip(pairs, result.tables, attritions, strict=False):
        steps = [str(s) for s in att.column("criterion").to_pylist()]
        png = flowchart_png(f"Cohort {att.column('cohort')[0].as_py()}", steps, done.released())
        atomic_write_bytes(Path(out_dir) / f"{spec.stem}_flowchart.png", png)
        del table
    return result
