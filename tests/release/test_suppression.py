"""Primary and secondary suppression on hand-made 2-D and 3-D tables with known minimal
patterns, and the attack's intervals against an independent LP."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import pytest
from scipy.optimize import linprog

from sndslab.release import TableSpec, attack, protect, protection_levels

LEAVES = "abcd"


def _spec(dims: int, name: str = "t") -> TableSpec:
    return TableSpec.model_validate(
        {
            "name": name,
            "count": "n",
            "dimensions": [
                {"name": f"d{k}", "levels": [{"column": f"d{k}", "total": "T"}]}
                for k in range(dims)
            ],
        }
    )


def cube_table(inner: np.ndarray) -> pa.Table:
    """A table with every margin of the interior array ``inner`` (codes a, b, … and T)."""
    full = inner.astype(np.int64)
    for axis in range(inner.ndim):
        full = np.concatenate([full, full.sum(axis=axis, keepdims=True)], axis=axis)
    codes = [[*LEAVES[:s], "T"] for s in inner.shape]
    cols: dict[str, list[str]] = {f"d{k}": [] for k in range(inner.ndim)}
    for idx in itertools.product(*(range(len(c)) for c in codes)):
        for k, i in enumerate(idx):
            cols[f"d{k}"].append(codes[k][i])
    return pa.table({**cols, "n": full.reshape(-1)})


def test_primary_marks_every_small_nonzero_cell() -> None:
    inner = np.array([[0, 5, 30], [12, 40, 25]])
    p = protect(cube_table(inner), _spec(2))
    n = np.asarray(p.cube.values)
    assert (p.primary == ((n > 0) & (n < 11))).all()
    assert int(p.primary.sum()) == 1  # the 5; the 0 is published by default
    z = protect(cube_table(inner), _spec(2), zeros="suppress")
    assert int(z.primary.sum()) == 2
    assert attack([z]).passed


def test_raised_threshold_suppresses_more() -> None:
    inner = np.array([[15, 30, 30], [30, 40, 25]])
    assert not protect(cube_table(inner), _spec(2)).suppressed.any()
    p = protect(cube_table(inner), _spec(2), threshold=20)
    assert int(p.primary.sum()) == 1 and attack([p]).passed


def test_derived_measures_are_suppressed_with_the_count() -> None:
    spec = TableSpec.model_validate(
        {**_spec(1).model_dump(), "measures": [{"column": "rate", "kind": "rate"}]}
    )
    t = pa.table({"d0": ["a", "b", "c", "T"], "n": [3, 30, 40, 73], "rate": [0.1, 0.2, 0.3, 0.25]})
    out = protect(t, spec).released()
    hidden = [s == "suppressed" for s in out.column("status").to_pylist()]
    assert sum(hidden) == 2
    for col in ("n", "rate"):
        assert [v is None for v in out.column(col).to_pylist()] == hidden


def _best_rectangle(full: np.ndarray, i: int, j: int) -> float:
    """Cheapest rectangle through (i, j) in a 2-D table with margins (cost = value + 1)."""
    rows, cols = full.shape
    best = np.inf
    for k in range(rows):
        for m in range(cols):
            if k != i and m != j:
                best = min(best, full[i, m] + full[k, j] + full[k, m] + 3)
    return float(best + full[i, j] + 1)


@pytest.mark.parametrize("where", [(0, 0), (1, 2), (2, 1)])
def test_2d_single_small_cell_gets_the_cheapest_rectangle(where: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    inner = rng.integers(30, 41, size=(3, 3))
    inner[where] = 4
    p = protect(cube_table(inner), _spec(2))
    full = p.cube.values.reshape(4, 4)
    assert int(p.suppressed.sum()) == 4
    assert p.stats.objective == pytest.approx(_best_rectangle(full, *where))
    assert attack([p], exact=True).passed


def test_2d_two_small_cells_in_one_row_share_their_partners() -> None:
    inner = np.array([[4, 6, 50, 60], [30, 35, 40, 45], [31, 33, 47, 52]])
    p = protect(cube_table(inner), _spec(2), cost="cells")
    assert int(p.primary.sum()) == 2
    assert int(p.suppressed.sum()) == 4  # the two, and the two cells below them
    assert attack([p], exact=True).passed


def test_3d_single_small_cell_needs_a_box_of_eight() -> None:
    rng = np.random.default_rng(3)
    inner = rng.integers(25, 60, size=(2, 3, 2))
    inner[0, 1, 0] = 2
    p = protect(cube_table(inner), _spec(3), cost="cells")
    assert int(p.suppressed.sum()) == 8
    res = attack([p], exact=True)
    assert res.passed
    assert res.lower[0] == 0 and res.upper[0] >= 11


def test_hierarchical_geography_protects_across_levels(
    realistic: pa.Table, geo_spec: TableSpec
) -> None:
    p = protect(realistic, geo_spec)
    res = attack([p])
    assert res.passed, res.failures[:3]
    assert int(p.primary.sum()) > 20 and int(p.secondary.sum()) > 0
    # every published cell is 0 or at least the threshold
    v = p.cube.values[~p.suppressed]
    assert ((v == 0) | (v >= 11)).all()


def test_attack_intervals_match_an_independent_lp() -> None:
    inner = np.array([[4, 30, 25], [20, 3, 33], [40, 28, 2]])
    p = protect(cube_table(inner), _spec(2))
    res = attack([p], exact=True)
    c = p.cube
    supp = np.flatnonzero(p.suppressed)
    pub = ~p.suppressed
    a_eq = np.zeros((c.n_relations, len(supp)))
    b_eq = np.zeros(c.n_relations)
    for r in range(c.n_relations):  # dense, written independently of the gate's matrices
        members = [(int(c.rel_parent[r]), 1.0)] + [
            (int(k), -1.0) for k in c.rel_child[c.rel_ptr[r] : c.rel_ptr[r + 1]]
        ]
        for cell, coef in members:
            if pub[cell]:
                b_eq[r] -= coef * c.values[cell]
            else:
                a_eq[r, int(np.searchsorted(supp, cell))] = coef
    for k, cell in enumerate(res.cells):
        col = int(np.searchsorted(supp, cell))
        e = np.zeros(len(supp))
        e[col] = 1.0
        lo = linprog(e, A_eq=a_eq, b_eq=b_eq, bounds=(0, None)).fun
        hi = -linprog(-e, A_eq=a_eq, b_eq=b_eq, bounds=(0, None)).fun
        assert res.lower[k] == pytest.approx(lo, abs=1e-6)
        assert res.upper[k] == pytest.approx(hi, abs=1e-6)


def test_attack_finds_a_cell_left_alone_in_a_margin() -> None:
    inner = np.array([[4, 30], [20, 25]])
    p = protect(cube_table(inner), _spec(2))
    p.secondary[:] = False  # undo the secondary suppression: the 4 is a margin minus a cell
    res = attack([p])
    assert not res.passed
    assert res.failures[0]["value"] == 4
    assert res.failures[0]["lower"] == pytest.approx(4)


def test_protection_levels_never_pin_a_small_count() -> None:
    v = np.arange(0, 60)
    upper, lower = protection_levels(v, threshold=11)
    assert (upper >= 3).all() and (lower <= v).all()
    small = v < 11
    assert (lower[small] == v[small]).all()  # a small cell's interval must reach 0


def test_non_additive_months_within_year() -> None:
    spec = TableSpec.model_validate(
        {
            "name": "monthly",
            "count": "n",
            "dimensions": [
                {
                    "name": "time",
                    "additive": False,
                    "levels": [{"column": "year"}, {"column": "month", "total": "ALL"}],
                },
                {"name": "sex", "levels": [{"column": "sex", "total": "0"}]},
            ],
        }
    )
    # distinct persons: the year counts fewer than the sum of its months
    t = pa.table(
        {
            "year": [2022] * 9,
            "month": ["01", "01", "01", "02", "02", "02", "ALL", "ALL", "ALL"],
            "sex": ["1", "2", "0"] * 3,
            "n": [5, 30, 35, 20, 22, 42, 22, 45, 67],
        }
    )
    p = protect(t, spec)
    assert int(p.primary.sum()) == 1
    assert attack([p], exact=True).passed


def test_nested_age_bands_in_one_column() -> None:
    spec = TableSpec.model_validate(
        {
            "name": "ages",
            "count": "n",
            "dimensions": [
                {
                    "name": "age",
                    "parents": {"0-4": "0-17", "5-17": "0-17"},
                    "levels": [{"column": "age", "total": "ALL"}],
                },
                {"name": "sex", "levels": [{"column": "sex", "total": "0"}]},
            ],
        }
    )
    ages = ["0-4", "5-17", "0-17", "18+", "ALL"]
    inner = np.array([[3, 12], [40, 38], [60, 70]])  # 0-4, 5-17, 18+ by sex 1, 2
    rows = {
        "0-4": inner[0],
        "5-17": inner[1],
        "0-17": inner[0] + inner[1],
        "18+": inner[2],
        "ALL": inner.sum(axis=0),
    }
    t = pa.table(
        {
            "age": [a for a in ages for _ in range(3)],
            "sex": ["1", "2", "0"] * len(ages),
            "n": [int(v) for a in ages for v in (*rows[a], rows[a].sum())],
        }
    )
    p = protect(t, spec)
    assert int(p.primary.sum()) == 1
    # the 3 is protected within 0-17 (its parent band), not only within all ages
    assert attack([p], exact=True).passed
    hidden = {(r["age"], r["sex"]) for r, s in zip(t.to_pylist(), p.suppressed, strict=True) if s}
    assert ("0-4", "1") in hidden and len(hidden) >= 4
