"""The attack test: play the adversary with linear programming.

The adversary knows every published cell, that counts are non-negative, and every relation of
the tables (a sum along additive dimensions; ``max(children) <= parent <= Σ children`` along
non-additive ones, such as distinct persons over the months of a year). For every suppressed
sensitive cell it computes the feasible interval ``[lo, hi]`` (two LPs, HiGHS through
``highspy``, warm-started, integrality relaxed). The attack *succeeds* on a cell when:

- the interval is narrower than the protection level: ``hi < v + p`` or ``lo > v - min(v, p)``
  with ``p = max(3, ceil(10 % · v))`` (``v`` the true value); or
- the cell is pinned to a small non-zero count: ``lo > 0`` and ``hi < threshold``.

A sensitive cell that is published is a failure too.

>>> import numpy as np
>>> from sndslab.release._system import LinkedSystem
>>> sys = LinkedSystem.single(np.array([3, 20, 23]), parent=[2], ptr=[0, 2], child=[0, 1])
>>> res = attack_system(sys, suppressed=np.array([True, True, False]), sensitive=np.array([0]),
...                     threshold=11)
>>> res.passed, res.lower.tolist(), res.upper.tolist()
(True, [0.0], [23.0])
>>> attack_system(sys, suppressed=np.array([True, False, True]), sensitive=np.array([0]),
...               threshold=11).passed
True
>>> attack_system(sys, suppressed=np.array([True, False, False]), sensitive=np.array([0]),
...               threshold=11).failures[0]["reason"]
'interval narrower than the protection level'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from sndslab.release._lp import WarmLP
from sndslab.release._system import DEFAULT_MINIMUM, DEFAULT_RATIO, LinkedSystem, components

__all__ = ["AttackResult", "attack_system"]

_TOL = 1e-6


@dataclass
class AttackResult:
    """Outcome of the attack: ``passed`` when no sensitive cell is disclosed.

    ``cells``, ``lower``, ``upper``: the sensitive cells attacked and their feasible intervals
    (``inf`` when unbounded above; an inner interval unless the attack was ``exact``);
    ``failures``: one dict per disclosed cell (index, value, interval, reason), internal,
    never written to a released folder.
    """

    passed: bool
    cells: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    failures: list[dict[str, Any]] = field(default_factory=list)
    lps: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Counts only (for the audit log)."""
        return {
            "passed": self.passed,
            "sensitive_cells_attacked": len(self.cells),
            "disclosed_cells": len(self.failures),
            "linear_programs": self.lps,
            "seconds": round(self.seconds, 3),
        }


def _adversary_rows(system: LinkedSystem) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Equations (additive relations) and inequalities ``row @ v <= 0`` (the others)."""
    full = system.matrix()
    add = np.flatnonzero(system.additive)
    non = np.flatnonzero(~system.additive)
    a_eq = full[add]
    # parent - Σ children <= 0   and   child - parent <= 0 for every child
    sums = -full[non]
    child_rows = np.repeat(non, np.diff(system.ptr)[non])
    kids = (
        np.concatenate([system.child[system.ptr[r] : system.ptr[r + 1]] for r in non])
        if len(non)
        else np.zeros(0, dtype=np.int64)
    )
    k = len(kids)
    pairs = sp.csr_matrix(
        (
            np.concatenate([np.ones(k), -np.ones(k)]),
            (
                np.concatenate([np.arange(k), np.arange(k)]),
                np.concatenate([kids, system.parent[child_rows]]),
            ),
        ),
        shape=(k, system.n_cells),
    )
    a_ub = sp.vstack([-sums, pairs], format="csr")
    return a_eq, a_ub


def attack_system(
    system: LinkedSystem,
    *,
    suppressed: np.ndarray,
    sensitive: np.ndarray,
    threshold: int,
    ratio: float = DEFAULT_RATIO,
    minimum: int = DEFAULT_MINIMUM,
    exact: bool = False,
) -> AttackResult:
    """Feasible intervals of the ``sensitive`` cells given the published ones (see module).

    With ``exact`` both LPs are solved for every cell. Without it, a bound is solved only
    when the feasible points met so far (the true table, earlier optima) do not already show
    the requirement met (reaching ``max(v + p, threshold)`` above and ``min(v - p, 0)``
    below, which certifies every check); the reported interval is then an inner one, and exact
    wherever a requirement is not met, so failures are decided on exact bounds."""
    t0 = time.perf_counter()
    a = system.values.astype(np.float64)
    sens = np.unique(np.asarray(sensitive, dtype=np.int64))
    lower = np.zeros(len(sens))
    upper = np.zeros(len(sens))
    failures: list[dict[str, Any]] = []
    a_eq, a_ub = _adversary_rows(system)
    both = sp.vstack([a_eq, a_ub], format="csr")
    labels, _ = components(system, suppressed, both)
    pub = ~suppressed
    b_eq = -(a_eq[:, pub] @ a[pub])
    b_ub = -(a_ub[:, pub] @ a[pub])
    level = np.maximum(minimum, np.ceil(ratio * a[sens] - 1e-9))
    need_lo = a[sens] - np.minimum(a[sens], level)
    need_hi = a[sens] + level
    lps = 0
    order = np.argsort(labels[sens], kind="stable")
    done: dict[int, tuple[np.ndarray, WarmLP, np.ndarray, np.ndarray]] = {}
    for k in order:
        i = int(sens[k])
        if not suppressed[i]:
            lower[k] = upper[k] = a[i]
            continue
        comp = int(labels[i])
        if comp not in done:  # the true table is a feasible point: the first values seen
            cells, lp = _component_lp(labels, comp, a_eq, a_ub, b_eq, b_ub)
            done = {comp: (cells, lp, a[cells].copy(), a[cells].copy())}
        cells, lp, high, low = done[comp]
        pos = int(np.searchsorted(cells, i))
        for maximise in (True, False):
            seen_ok = (
                high[pos] >= max(need_hi[k], threshold) - _TOL
                if maximise
                else low[pos] <= min(need_lo[k], 0.0) + _TOL
            )
            if exact or not seen_ok:
                value = lp.optimum(pos, maximise=maximise)[1]
                lps += 1
                if len(lp.point):
                    np.maximum(high, lp.point, out=high)
                    np.minimum(low, lp.point, out=low)
                if maximise:
                    high[pos] = max(high[pos], value)
                else:
                    low[pos] = min(low[pos], value)
        lower[k], upper[k] = low[pos], high[pos]
    for k, i in enumerate(sens):
        reason = None
        if not suppressed[i]:
            reason = "sensitive cell published"
        elif upper[k] < need_hi[k] - _TOL or lower[k] > need_lo[k] + _TOL:
            reason = "interval narrower than the protection level"
        elif lower[k] > _TOL and upper[k] < threshold - _TOL:
            reason = "pinned to a small non-zero count"
        if reason:
            failures.append(
                {
                    "cell": int(i),
                    "value": int(a[i]),
                    "lower": float(lower[k]),
                    "upper": float(upper[k]),
                    "reason": reason,
                }
            )
    return AttackResult(
        passed=not failures,
        cells=sens,
        lower=lower,
        upper=upper,
        failures=failures,
        lps=lps,
        seconds=time.perf_counter() - t0,
    )


def _component_lp(
    labels: np.ndarray,
    comp: int,
    a_eq: sp.csr_matrix,
    a_ub: sp.csr_matrix,
    b_eq: np.ndarray,
    b_ub: np.ndarray,
) -> tuple[np.ndarray, WarmLP]:
    cells = np.flatnonzero(labels == comp)
    e = a_eq[:, cells]
    er = np.flatnonzero(e.getnnz(axis=1) > 0)
    u = a_ub[:, cells]
    ur = np.flatnonzero(u.getnnz(axis=1) > 0)
    lp = WarmLP(
        e[er],
        b_eq[er],
        u[ur],
        b_ub[ur],
        lower=np.zeros(len(cells)),
        upper=np.full(len(cells), np.inf),
    )
    return cells, lp
