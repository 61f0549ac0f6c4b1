"""Hypothesis: on random small populations, coarsening never lowers k (nor raises the number
of unique persons or of persons at risk), the coarsest node has the largest k, and the node the
search chooses reaches the target with none of its direct predecessors reaching it."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sndslab.engines import get_engine
from sndslab.release import HIERARCHIES, risk_report
from sndslab.release._risk import level_column, nodes_metrics, prepare

#: three quasi-identifiers at a time (a 5-attribute lattice has 450 nodes: too slow here)
TRIPLES = list(itertools.combinations(HIERARCHIES, 3))
DPTS = {"75": "11", "92": "11", "13": "93", "06": "93", "69": "84"}

person = st.tuples(
    st.integers(1925, 2020),
    st.sampled_from(["1", "2"]),
    st.sampled_from(sorted(DPTS)),
    st.lists(st.integers(0, 729), max_size=3),
    st.lists(st.sampled_from(["A", "B", "C", "D", "E"]), max_size=3, unique=True),
)


def _table(rows: list[tuple[int, str, str, list[int], list[str]]]) -> pa.Table:
    start = date(2019, 1, 1)
    return pa.table(
        {
            "birth_year": [r[0] for r in rows],
            "sex": [r[1] for r in rows],
            "dpt": [r[2] for r in rows],
            "region": [DPTS[r[2]] for r in rows],
            "stays": [[start + timedelta(days=d) for d in r[3]] for r in rows],
            "codes": [r[4] for r in rows],
        }
    )


def _cols(attrs: tuple[str, ...], node: tuple[int, ...]) -> list[str]:
    return [c for a, lv in zip(attrs, node, strict=True) if (c := level_column(a, lv))]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(person, min_size=1, max_size=40), st.integers(2, 6), st.sampled_from(TRIPLES))
def test_coarsening_never_lowers_k(
    rows: list,  # type: ignore[type-arg]
    k: int,
    attrs: tuple[str, ...],
) -> None:
    heights = [len(HIERARCHIES[a]) - 1 for a in attrs]
    nodes = list(itertools.product(*(range(h + 1) for h in heights)))
    con = get_engine("duckdb").connect()
    try:
        prepare(con, _table(rows), k)
        found = nodes_metrics(con, "_risk_levels", [_cols(attrs, n) for n in nodes], k)
        metrics = dict(zip(nodes, found, strict=True))
    finally:
        con.close()
    top = tuple(heights)
    assert metrics[top].k == len(rows) == metrics[top].persons
    for node, m in metrics.items():
        assert m.persons == len(rows)
        assert metrics[top].k >= m.k
        for i, lv in enumerate(node):
            if lv < heights[i]:
                up = metrics[(*node[:i], lv + 1, *node[i + 1 :])]
                assert up.k >= m.k
                assert up.unique <= m.unique
                assert up.at_risk <= m.at_risk
                assert up.classes <= m.classes


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(person, min_size=1, max_size=40), st.integers(2, 6))
def test_chosen_node_is_minimal(rows: list, k: int) -> None:  # type: ignore[type-arg]
    attrs = ("birth_year", "sex", "residence")
    c = risk_report(_table(rows), k=k, combinations={"c": attrs}).combinations[0]
    if len(rows) < k:
        assert c.chosen is None
        return
    assert c.chosen is not None and c.chosen.metrics.k >= k
    names = {a: [n for n, _ in HIERARCHIES[a]] for a in attrs}
    node = tuple(names[a].index(c.chosen.levels[a]) for a in attrs)
    con = get_engine("duckdb").connect()
    try:
        prepare(con, _table(rows), k)
        preds = [(*node[:i], lv - 1, *node[i + 1 :]) for i, lv in enumerate(node) if lv > 0]
        cols = [_cols(attrs, p) for p in preds]
        for m in nodes_metrics(con, "_risk_levels", cols, k) if cols else []:
            assert m.k < k
    finally:
        con.close()
    assert c.path[0].metrics == c.finest and c.path[-1].levels == c.chosen.levels
