"""One LP, many objectives: the attacker's problems of a component share their constraints and
differ only in the cell optimised, so they are solved on one HiGHS model (``highspy``) whose
simplex is warm-started from the previous optimum.

>>> import numpy as np, scipy.sparse as sp
>>> lp = WarmLP(sp.csr_matrix(np.array([[1.0, 1.0]])), np.array([10.0]), None, None,
...             lower=np.zeros(2), upper=np.full(2, np.inf))
>>> lp.optimum(0, maximise=True)[1], lp.optimum(0, maximise=False)[1]
(10.0, 0.0)
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import highspy
import numpy as np
import scipy.sparse as sp

__all__ = ["WarmLP"]

_INF = highspy.kHighsInf
_BANNER_SHOWN = [False]


def _quiet_highs() -> highspy.Highs:
    """A HiGHS instance; the first one of the process is made with the standard output file
    descriptor pointed at /dev/null, since HiGHS prints its copyright banner there when it is
    constructed, before any option can silence it (a command's stdout is for its results)."""
    if _BANNER_SHOWN[0]:
        return highspy.Highs()
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with Path(os.devnull).open("w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        _BANNER_SHOWN[0] = True
    return h


class WarmLP:
    """``min/max y_k`` subject to ``A_eq y = b_eq``, ``A_ub y <= b_ub``, ``lower <= y <= upper``."""

    def __init__(
        self,
        a_eq: sp.csr_matrix | None,
        b_eq: np.ndarray | None,
        a_ub: sp.csr_matrix | None,
        b_ub: np.ndarray | None,
        *,
        lower: np.ndarray,
        upper: np.ndarray,
    ) -> None:
        n = len(lower)
        blocks, row_lo, row_hi = [], [], []
        if a_eq is not None and a_eq.shape[0]:
            blocks.append(a_eq)
            row_lo.append(np.asarray(b_eq, dtype=np.float64))
            row_hi.append(np.asarray(b_eq, dtype=np.float64))
        if a_ub is not None and a_ub.shape[0]:
            blocks.append(a_ub)
            row_lo.append(np.full(a_ub.shape[0], -_INF))
            row_hi.append(np.asarray(b_ub, dtype=np.float64))
        a = sp.vstack(blocks, format="csc") if blocks else sp.csc_matrix((0, n))
        self.n_eq = 0 if a_eq is None else a_eq.shape[0]
        lp = highspy.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = a.shape[0]
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.asarray(lower, dtype=np.float64)
        lp.col_upper_ = np.where(np.isinf(upper), _INF, upper).astype(np.float64)
        lp.row_lower_ = np.concatenate(row_lo) if row_lo else np.zeros(0)
        lp.row_upper_ = np.concatenate(row_hi) if row_hi else np.zeros(0)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(np.float64)
        self._h = _quiet_highs()
        self._h.setOptionValue("output_flag", False)
        self._h.setOptionValue("presolve", "off")
        self._h.setOptionValue("simplex_strategy", 4)  # primal: warm after a cost change
        self._h.setOptionValue("threads", 1)
        self._h.passModel(lp)
        self._last: int | None = None
        self.solves = 0
        self.point = np.zeros(n)

    def optimum(self, k: int, *, maximise: bool) -> tuple[str, float, np.ndarray]:
        """(status, optimum of y_k, row duals of the minimisation of ∓y_k); the optimal
        point is left in ``self.point`` (every cell's value there: a feasible table).

        Status is ``optimal`` or ``unbounded``; anything else raises ``RuntimeError``.
        """
        h = self._h
        if self._last is not None and self._last != k:
            h.changeColCost(self._last, 0.0)
        h.changeColCost(k, -1.0 if maximise else 1.0)
        self._last = k
        h.run()
        self.solves += 1
        status = h.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            value = h.getInfo().objective_function_value
            solution = h.getSolution()
            duals = np.asarray(solution.row_dual, dtype=np.float64)
            self.point = np.asarray(solution.col_value, dtype=np.float64)
            return "optimal", -value if maximise else value, duals
        if status in (
            highspy.HighsModelStatus.kUnbounded,
            highspy.HighsModelStatus.kUnboundedOrInfeasible,
        ):
            self.point = np.zeros(0)
            return "unbounded", np.inf if maximise else -np.inf, np.zeros(0)
        raise RuntimeError(f"LP not solved: {h.modelStatusToString(status)}")
