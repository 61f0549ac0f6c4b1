"""A linked system of cells: the values, the additive relations between them, the protection
levels; shared by the secondary suppression (``_secondary``) and the attack (``_attack``).

Several tables (a new release and the ones before it) form one system: their cells are
identified by key, so a margin published by one table is the same unknown as the margin
suppressed by another.

>>> import numpy as np
>>> sys = LinkedSystem.single(np.array([3, 20, 23]), parent=[2], ptr=[0, 2], child=[0, 1])
>>> sys.matrix().toarray().tolist()
[[-1.0, -1.0, 1.0]]
>>> protection_levels(np.array([0, 3, 7, 40]), threshold=11)
(array([3, 3, 3, 4]), array([0, 3, 7, 4]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = [
    "DEFAULT_MINIMUM",
    "DEFAULT_RATIO",
    "LinkedSystem",
    "components",
    "protection_levels",
]

#: Protection level: the adversary's interval must reach ``max(3, 10 %)`` of the cell's value
#: on each side (``MAN(10)`` is rtauargus's default protection interval; 3 persons is the
#: smallest width that leaves a small cell ambiguous).
DEFAULT_RATIO = 0.10
DEFAULT_MINIMUM = 3


@dataclass(frozen=True)
class LinkedSystem:
    """Cells (``values``) and relations (row ``r``: ``values[parent[r]]`` is made of
    ``values[child[ptr[r]:ptr[r+1]]]``, a sum when ``additive[r]``, otherwise a union of
    persons: between the largest child and the sum)."""

    values: np.ndarray
    parent: np.ndarray
    ptr: np.ndarray
    child: np.ndarray
    additive: np.ndarray

    @classmethod
    def single(
        cls,
        values: np.ndarray,
        *,
        parent: list[int] | np.ndarray,
        ptr: list[int] | np.ndarray,
        child: list[int] | np.ndarray,
        additive: np.ndarray | None = None,
    ) -> LinkedSystem:
        p = np.asarray(parent, dtype=np.int64)
        return cls(
            values=np.asarray(values, dtype=np.int64),
            parent=p,
            ptr=np.asarray(ptr, dtype=np.int64),
            child=np.asarray(child, dtype=np.int64),
            additive=np.ones(len(p), dtype=bool) if additive is None else additive,
        )

    @property
    def n_cells(self) -> int:
        return len(self.values)

    @property
    def n_relations(self) -> int:
        return len(self.parent)

    def row_of_child(self) -> np.ndarray:
        """The relation of every entry of ``child``."""
        return np.repeat(np.arange(self.n_relations), np.diff(self.ptr))

    def matrix(self) -> sp.csr_matrix:
        """Relations as equations ``parent - Σ children = 0`` (one row per relation)."""
        rows = np.concatenate([np.arange(self.n_relations), self.row_of_child()])
        cols = np.concatenate([self.parent, self.child])
        data = np.concatenate([np.ones(self.n_relations), -np.ones(len(self.child))])
        return sp.csr_matrix((data, (rows, cols)), shape=(self.n_relations, self.n_cells))


def protection_levels(
    values: np.ndarray,
    *,
    threshold: int,
    ratio: float = DEFAULT_RATIO,
    minimum: int = DEFAULT_MINIMUM,
) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower protection levels of sensitive cells of ``values``.

    The upper one is ``max(minimum, ceil(ratio · value))``. The lower one is the whole value
    for a cell below ``threshold`` (the adversary must not be able to exclude 0, so a small
    cell is never pinned to ``[1, threshold - 1]``), and the same ``max(minimum, 10 %)``
    capped at the value otherwise (a cell made sensitive by a raised threshold).
    """
    v = np.asarray(values, dtype=np.int64)
    level = np.maximum(minimum, np.ceil(ratio * v - 1e-9).astype(np.int64))
    lower = np.where(v < threshold, v, np.minimum(v, level))
    return level.astype(np.int64), lower.astype(np.int64)


def components(
    system: LinkedSystem, suppressed: np.ndarray, matrix: sp.csr_matrix | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Connected components of the suppressed cells: two suppressed cells are linked when a
    relation holds both. Returns (component label per cell, -1 if published) and the rows
    touching any suppressed cell."""
    a = system.matrix() if matrix is None else matrix
    sub = a[:, suppressed]
    rows = np.flatnonzero(sub.getnnz(axis=1) > 0)
    sub = abs(sub[rows]).astype(bool).astype(np.int8)
    k = int(suppressed.sum())
    graph = sp.bmat([[None, sub.T], [sub, None]], format="csr") if len(rows) else None
    labels = np.full(system.n_cells, -1, dtype=np.int64)
    if graph is None:
        labels[suppressed] = np.arange(k)
        return labels, rows
    _, lab = connected_components(graph, directed=False)
    labels[np.flatnonzero(suppressed)] = lab[:k]
    return labels, rows
