"""Figures from a hand-made released table: suppressed branches are drawn as one grey secret
branch per parent (parent minus its published children), never as 0, and descendants of a
suppressed branch are not drawn."""

from __future__ import annotations

import pyarrow as pa
import pytest

from sndslab.pathways import (
    SECRET_LABEL,
    PathwaySpecError,
    pathway_tree,
    sankey_figure,
    sunburst_figure,
    transition_columns,
)

ROWS = [  # path, persons (None: suppressed)
    ("ALL", 60),
    ("ssr", 30),
    ("mco", 20),
    ("death", None),
    ("home", None),
    ("ssr > gp", 18),
    ("ssr > home", 12),
    ("mco > gp", None),
    ("mco > home", None),
    ("death > death", None),
]


def _table(period: str = "2019") -> pa.Table:
    n = len(ROWS)
    return pa.table(
        {
            "pathway": ["hip_fracture_65"] * n,
            "period": [period] * n,
            "region": ["ALL"] * n,
            "departement": ["ALL"] * n,
            "path": [p for p, _ in ROWS],
            "persons": pa.array([v for _, v in ROWS], pa.int64()),
            "status": ["published" if v is not None else "suppressed" for _, v in ROWS],
        }
    )


def test_tree_with_secret_branches() -> None:
    nodes = {n.path: n for n in pathway_tree(_table(), "hip_fracture_65")}
    assert nodes["ALL > secret"].persons == 10 and nodes["ALL > secret"].secret
    assert nodes["mco > secret"].persons == 20  # both children of mco suppressed
    assert "ssr > secret" not in nodes  # every child of ssr published
    assert "death > death" not in nodes  # under a suppressed branch
    assert all(n.persons > 0 for n in nodes.values())
    # children never exceed their parent
    for n in nodes.values():
        kids = [k.persons for k in nodes.values() if k.parent == n.path]
        assert sum(kids) <= n.persons


def test_sankey_and_sunburst_labels() -> None:
    fig = sankey_figure(_table(), "hip_fracture_65", lang="fr")
    sankey = fig.data[0]
    assert SECRET_LABEL["fr"] in sankey.node.label
    assert "SSR (soins médicaux et de réadaptation)" in sankey.node.label
    assert sorted(sankey.link.value) == sorted([30, 20, 10, 18, 12, 20])
    assert 0 not in sankey.link.value
    sun = sunburst_figure(_table(), "hip_fracture_65", lang="en").data[0]
    assert sun.branchvalues == "total" and "Rehabilitation (SSR)" in sun.labels


def test_selection_errors_and_derived_columns() -> None:
    with pytest.raises(PathwaySpecError, match="no period"):
        sankey_figure(_table(), "hip_fracture_65", period="2031")
    with pytest.raises(PathwaySpecError, match="no released row"):
        pathway_tree(_table(), "hip_fracture_65", region="84")
    t = transition_columns(_table())
    row = t.filter(pa.compute.equal(t["path"], "ssr > gp")).to_pylist()[0]
    assert (row["step"], row["from_window"], row["from_state"], row["to_window"],
            row["to_state"]) == (2, "d0_30", "ssr", "d31_90", "gp")  # fmt: skip
