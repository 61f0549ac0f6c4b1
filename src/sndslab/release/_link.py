"""Tables as parts of one linked system: the cells of several tables counting the same thing
(same spec ``name``) are identified by key, so a new release is protected and attacked together
with everything released before it.

>>> import numpy as np
>>> p1 = Part("t", ["a|", "b|", ""], np.array([3, 20, 23]), np.array([True, True, False]),
...           np.array([True, False, False]), np.array([2]), np.array([0, 2]), np.array([0, 1]),
...           np.array([True]))
>>> p2 = Part("t", ["b|", ""], np.array([20, 23]), np.array([False, False]),
...           np.array([False, False]), np.zeros(0, int), np.zeros(1, int), np.zeros(0, int),
...           np.zeros(0, bool))
>>> system, where = link([p1, p2])
>>> system.values.tolist(), [w.tolist() for w in where]
([3, 20, 23], [[0, 1, 2], [1, 2]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sndslab.release._spec import ReleaseError
from sndslab.release._system import LinkedSystem

__all__ = ["Part", "link"]


@dataclass(frozen=True)
class Part:
    """One table of cells: keys, true values, which are suppressed and sensitive, and its
    relations over its own cell indices."""

    name: str
    keys: list[str]
    values: np.ndarray
    suppressed: np.ndarray
    sensitive: np.ndarray
    parent: np.ndarray
    ptr: np.ndarray
    child: np.ndarray
    additive: np.ndarray
    label: str = ""


def link(parts: list[Part]) -> tuple[LinkedSystem, list[np.ndarray]]:
    """One system over the distinct cells of ``parts`` (of one name), and for each part the
    global index of its cells. Refuses a cell given two different values."""
    index: dict[str, int] = {}
    where: list[np.ndarray] = []
    for part in parts:
        pos = np.empty(len(part.keys), dtype=np.int64)
        for k, key in enumerate(part.keys):  # cell keys: metadata of aggregates
            pos[k] = index.setdefault(key, len(index))
        where.append(pos)
    values = np.full(len(index), -1, dtype=np.int64)
    for part, pos in zip(parts, where, strict=True):
        known = values[pos]
        clash = (known >= 0) & (known != part.values)
        if clash.any():
            k = int(np.flatnonzero(clash)[0])
            raise ReleaseError(
                f"table {part.name}: cell {part.keys[k] or '(grand total)'} counts "
                f"{int(part.values[k])} here but {int(known[k])} in {part.label or 'another table'}"
                " (tables of one name must count the same persons; rename the spec otherwise)"
            )
        values[pos] = part.values
    parent, ptr, child, additive = [], [np.zeros(1, dtype=np.int64)], [], []
    offset = 0
    for part, pos in zip(parts, where, strict=True):
        parent.append(pos[part.parent])
        child.append(pos[part.child])
        ptr.append(offset + part.ptr[1:])
        additive.append(part.additive)
        offset += len(part.child)
    system = LinkedSystem(
        values=values,
        parent=np.concatenate(parent).astype(np.int64),
        ptr=np.concatenate(ptr).astype(np.int64),
        child=np.concatenate(child).astype(np.int64),
        additive=np.concatenate(additive).astype(bool),
    )
    return system, where
