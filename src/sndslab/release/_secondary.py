"""Secondary (complementary) suppression: the cell-suppression problem of Fischetti &
Salazar-González (2001), solved by cut generation with HiGHS (SciPy's MILP, highspy's
warm-started LPs).

One binary ``x_j`` per cell (1 = suppressed); the sensitive cells are fixed to 1, the cells
already public (in an earlier release) to 0. The master problem minimises the information lost,
``Σ w_j x_j``, subject to *capacity cuts*. For a pattern ``x*`` the attacker's problem of each
sensitive cell ``i`` is the LP

    max ± y_i   s.t.  A y = 0,   -a_j x*_j <= y_j <= U_j x*_j

(``y`` a deviation of the table that keeps every relation; ``a`` the true values; ``U`` a bound
on upward deviations, the largest cell, which only strengthens the modelled attacker). When its
optimum is below the protection level, LP duality gives the violated inequality
``Σ_j (a_j d_j⁺ + U_j d_j⁻) x_j >= level`` (``d`` the reduced costs), valid for every pattern;
it is added and the master solved again, until every sensitive cell is protected. Cuts for
single relations (a sensitive cell alone in a relation is recoverable) seed the master, and
each round also adds the no-good cut "hide at least one cell this pattern publishes" (valid:
hiding fewer cells never protects more), so the loop always progresses even when a dual cut is
weak.

The modelled attacker knows every relation as an equation, also along non-additive dimensions
(distinct persons over months), which makes it stronger than the real one: the pattern is
conservative there.

>>> import numpy as np
>>> from sndslab.release._system import LinkedSystem
>>> # a 2 x 2 table with margins; cell 0 (value 3) is sensitive
>>> v = np.array([3, 20, 23, 15, 25, 40, 18, 45, 63])  # rows (r0, r1, total) x cols (c0, c1, total)
>>> sys = LinkedSystem.single(v, parent=[2, 5, 8, 6, 7, 8], ptr=[0, 2, 4, 6, 8, 10, 12],
...     child=[0, 1, 3, 4, 6, 7, 0, 3, 1, 4, 2, 5])
>>> x, stats = secondary(sys, np.array([0]), threshold=11)
>>> np.flatnonzero(x).tolist()
[0, 1, 3, 4]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from sndslab.release._lp import WarmLP
from sndslab.release._spec import ReleaseRefusedError
from sndslab.release._system import (
    DEFAULT_MINIMUM,
    DEFAULT_RATIO,
    LinkedSystem,
    components,
    protection_levels,
)

__all__ = ["Cost", "SecondaryStats", "secondary"]

Cost = Literal["value", "cells"]
_TOL = 1e-6


@dataclass
class SecondaryStats:
    """What the solver did: iterations, cuts, LPs solved, time, whether the master reached
    optimality every time (False when its time limit stopped it on a feasible pattern)."""

    iterations: int = 0
    cuts: int = 0
    lps: int = 0
    seconds: float = 0.0
    optimal: bool = True
    objective: float = 0.0
    notes: list[str] = field(default_factory=list)


class _Cuts:
    """Rows ``Σ coef_j x_j >= rhs`` of the master problem."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.data: list[np.ndarray] = []
        self.rhs: list[float] = []

    def add(self, cols: np.ndarray, coef: np.ndarray, rhs: float) -> None:
        coef = np.minimum(coef, rhs)  # strengthening for binaries
        keep = coef > 1e-6 * rhs
        cols, coef = cols[keep], np.round(coef[keep], 9)
        self.rows.append(np.full(len(cols), len(self.rhs)))
        self.cols.append(cols)
        self.data.append(coef)
        self.rhs.append(rhs)

    def constraint(self) -> LinearConstraint:
        m = sp.csr_matrix(
            (np.concatenate(self.data), (np.concatenate(self.rows), np.concatenate(self.cols))),
            shape=(len(self.rhs), self.n),
        )
        return LinearConstraint(m, lb=np.asarray(self.rhs), ub=np.inf)


def secondary(
    system: LinkedSystem,
    sensitive: np.ndarray,
    *,
    threshold: int,
    public: np.ndarray | None = None,
    suppressed_before: np.ndarray | None = None,
    ratio: float = DEFAULT_RATIO,
    minimum: int = DEFAULT_MINIMUM,
    cost: Cost = "value",
    time_limit: float = 10.0,
    max_iterations: int = 500,
) -> tuple[np.ndarray, SecondaryStats]:
    """The suppression pattern (bool per cell) protecting every ``sensitive`` cell.

    ``public``: cells already released (cannot be suppressed); ``suppressed_before``: cells an
    earlier release suppressed (free to suppress again at no cost). Raises
    ``ReleaseRefusedError`` when no pattern protects the sensitive cells (e.g. a sensitive
    cell that is already public, or a table of a single unit).
    """
    t0 = time.perf_counter()
    n = system.n_cells
    a = system.values.astype(np.float64)
    public = np.zeros(n, dtype=bool) if public is None else public
    before = np.zeros(n, dtype=bool) if suppressed_before is None else suppressed_before
    sens = np.zeros(n, dtype=bool)
    sens[sensitive] = True
    stats = SecondaryStats()
    if (sens & public).any():
        raise ReleaseRefusedError(
            f"{int((sens & public).sum())} sensitive cell(s) were already released in an earlier "
            "release: this table cannot be protected"
        )
    upl, lpl = protection_levels(system.values, threshold=threshold, ratio=ratio, minimum=minimum)
    bound_up = np.full(n, max(float(a.max(initial=0.0)), float(upl.max(initial=0))) + 1.0)
    matrix = system.matrix()
    cuts = _Cuts(n)
    _seed_cuts(system, sens, upl, lpl, a, bound_up, cuts)
    w = np.ones(n) if cost == "cells" else a + 1.0
    w = np.where(before, 0.0, w)
    lb = sens.astype(np.float64)
    ub = np.where(public, 0.0, 1.0)
    cache: dict[bytes, bool] = {}
    x = sens.copy()
    while True:
        stats.iterations += 1
        if stats.iterations > max_iterations:
            raise ReleaseRefusedError(
                f"secondary suppression did not converge in {max_iterations} iterations"
            )
        if cuts.rhs:
            x = _master(w, lb, ub, cuts, time_limit, stats)
        found = _separate(system, matrix, x, sens, upl, lpl, a, bound_up, cuts, cache, stats)
        if not found:
            break
        # Monotonicity: hiding fewer cells never helps, so any protecting pattern hides some
        # cell that x does not: a valid cut that x violates (the loop always progresses).
        free = np.flatnonzero(~x & ~public)
        if not len(free):
            raise ReleaseRefusedError(
                "no suppression pattern protects the small cells (the table is unprotectable)"
            )
        cuts.add(free, np.ones(len(free)), 1.0)
    stats.seconds = time.perf_counter() - t0
    stats.cuts = len(cuts.rhs)
    stats.objective = float(w[x].sum())
    return x, stats


def _seed_cuts(
    system: LinkedSystem,
    sens: np.ndarray,
    upl: np.ndarray,
    lpl: np.ndarray,
    a: np.ndarray,
    big: np.ndarray,
    cuts: _Cuts,
) -> None:
    """Capacity cuts of single relations: to move a sensitive child up by ``upl``, its parent
    must go up or a sibling down (and conversely); a sensitive parent moves with its
    children."""
    for r in range(system.n_relations):
        p = int(system.parent[r])
        kids = system.child[system.ptr[r] : system.ptr[r + 1]]
        members = np.concatenate([[p], kids])
        flagged = members[sens[members]]
        for i in flagged:
            if i == p:
                if upl[i] > 0:
                    cuts.add(kids, big[kids], float(upl[i]))
                if lpl[i] > 0:
                    cuts.add(kids, a[kids], float(lpl[i]))
                continue
            sib = kids[kids != i]
            cols = np.concatenate([[p], sib])
            if upl[i] > 0:
                cuts.add(cols, np.concatenate([[big[p]], a[sib]]), float(upl[i]))
            if lpl[i] > 0:
                cuts.add(cols, np.concatenate([[a[p]], big[sib]]), float(lpl[i]))


def _master(
    w: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    cuts: _Cuts,
    time_limit: float,
    stats: SecondaryStats,
) -> np.ndarray:
    res = milp(
        w,
        constraints=cuts.constraint(),
        integrality=np.ones(len(w)),
        bounds=Bounds(lb, ub),
        options={"time_limit": time_limit, "mip_rel_gap": 1e-2},
    )
    if res.x is None:
        if res.status == 2:
            raise ReleaseRefusedError(
                "no suppression pattern protects the small cells (the table is unprotectable: "
                "e.g. a single unit, or small cells already published elsewhere)"
            )
        raise ReleaseRefusedError(f"secondary suppression failed: {res.message}")
    if res.status != 0:
        stats.optimal = False
    return np.asarray(res.x > 0.5)


def _separate(
    system: LinkedSystem,
    matrix: sp.csr_matrix,
    x: np.ndarray,
    sens: np.ndarray,
    upl: np.ndarray,
    lpl: np.ndarray,
    a: np.ndarray,
    big: np.ndarray,
    cuts: _Cuts,
    cache: dict[bytes, bool],
    stats: SecondaryStats,
) -> bool:
    """Solve the attacker's LPs of every sensitive cell on pattern ``x``; add the violated
    capacity cuts; return whether any was found."""
    labels, rows = components(system, x, matrix)
    sub = matrix[rows]
    found = False
    for comp in np.unique(labels[sens]):
        cells = np.flatnonzero(labels == comp)
        key = cells.tobytes()
        if cache.get(key):
            continue
        crow = np.flatnonzero(sub[:, cells].getnnz(axis=1) > 0)
        a_eq = sub[crow][:, cells]
        lp = WarmLP(a_eq, np.zeros(len(crow)), None, None, lower=-a[cells], upper=big[cells])
        ok = True
        high = np.zeros(len(cells))  # the largest and smallest deviation seen per cell: a
        low = np.zeros(len(cells))  # requirement already met by a feasible point needs no LP
        for pos in np.flatnonzero(sens[cells]):
            i = int(cells[pos])
            for sign, level in ((1.0, upl[i]), (-1.0, lpl[i])):
                seen = high[pos] if sign > 0 else -low[pos]
                if level <= 0 or seen >= level - _TOL:
                    continue
                _status, reach, pi = lp.optimum(int(pos), maximise=sign > 0)
                if len(lp.point):
                    high = np.maximum(high, lp.point)
                    low = np.minimum(low, lp.point)
                reach = reach if sign > 0 else -reach
                if reach >= level - _TOL:
                    continue
                ok = False
                found = True
                _add_dual_cut(sub[crow], pi, i, sign, a, big, float(level), cuts, reach, x)
        stats.lps += lp.solves
        cache[key] = ok
    return found


def _add_dual_cut(
    rows: sp.csr_matrix,
    pi: np.ndarray,
    i: int,
    sign: float,
    a: np.ndarray,
    big: np.ndarray,
    level: float,
    cuts: _Cuts,
    reach: float,
    x: np.ndarray,
) -> None:
    """The capacity cut ``Σ (a_j d_j⁺ + U_j d_j⁻) x_j >= level`` from the LP's row duals."""
    cols = np.unique(rows.indices)
    best: tuple[float, np.ndarray] | None = None
    for guess in (pi, -pi):  # the sign convention of the marginals, checked on the optimum
        d = -(rows[:, cols].T @ guess)
        d[cols == i] -= sign
        coef = a[cols] * np.maximum(d, 0.0) + big[cols] * np.maximum(-d, 0.0)
        gap = abs(float(coef[x[cols]].sum()) - reach)
        if best is None or gap < best[0]:
            best = (gap, coef)
    assert best is not None
    # A cut from inexact duals may be weaker or cut off a good pattern: it costs optimality,
    # never safety (every pattern is accepted only once its attacker LPs pass).
    cuts.add(cols, best[1], level)
