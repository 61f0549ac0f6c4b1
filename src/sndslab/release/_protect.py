"""``protect`` (primary + secondary suppression of one table, given what was released before)
and ``attack`` (the adversary's LP on a set of protected tables and the release history).

>>> import pyarrow as pa
>>> spec = TableSpec.model_validate({"name": "demo", "count": "n", "dimensions": [
...     {"name": "sex", "levels": [{"column": "sex", "total": "ALL"}]},
...     {"name": "age", "levels": [{"column": "age", "total": "ALL"}]}]})
>>> t = pa.table({"sex": ["1", "1", "1", "2", "2", "2", "ALL", "ALL", "ALL"],
...               "age": ["y", "o", "ALL"] * 3,
...               "n": [4, 30, 34, 20, 25, 45, 24, 55, 79]})
>>> p = protect(t, spec)
>>> int(p.primary.sum()), int(p.secondary.sum())
(1, 3)
>>> attack([p]).passed
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sndslab.release._attack import AttackResult, attack_system
from sndslab.release._cube import Cube, build_cube
from sndslab.release._link import Part, link
from sndslab.release._secondary import Cost, SecondaryStats, secondary
from sndslab.release._spec import (
    DEFAULT_THRESHOLD,
    ReleaseError,
    ReleaseRefusedError,
    TableSpec,
    check_columns,
    check_threshold,
)
from sndslab.release._system import DEFAULT_MINIMUM, DEFAULT_RATIO

__all__ = ["STATUS_COLUMN", "History", "ProtectedTable", "Zeros", "attack", "protect", "to_arrow"]

#: Column added to a released table: ``published`` or ``suppressed`` (never which kind).
STATUS_COLUMN = "status"
Zeros = Literal["publish", "suppress"]


class History(Protocol):
    """What was released before (``ReleaseLog`` in a lake): parts of a given name."""

    def parts(self, name: str) -> list[Part]: ...


def to_arrow(table: Any) -> pa.Table:
    """An Arrow table from Arrow, pandas, a DuckDB relation or an sndslab relation."""
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatchReader):
        return table.read_all()
    for method in ("to_arrow_table", "fetch_arrow_table", "to_arrow", "arrow"):
        fn = getattr(table, method, None)
        if callable(fn):
            out = fn()
            return out.read_all() if isinstance(out, pa.RecordBatchReader) else out
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # pandas
        return pa.Table.from_pandas(table, preserve_index=False)
    raise ReleaseError(f"cannot read a table from a {type(table).__name__}")


@dataclass
class ProtectedTable:
    """A table after the gate: its complete cube, the primary and secondary suppressions.

    ``released()`` is what may leave the lake; ``cube.table`` holds the true values (internal).
    """

    cube: Cube
    threshold: int
    zeros: Zeros
    primary: np.ndarray
    secondary: np.ndarray
    stats: SecondaryStats
    ratio: float = DEFAULT_RATIO
    minimum: int = DEFAULT_MINIMUM
    history: list[str] = field(default_factory=list)

    @property
    def spec(self) -> TableSpec:
        return self.cube.spec

    @property
    def suppressed(self) -> np.ndarray:
        return self.primary | self.secondary

    def part(self) -> Part:
        c = self.cube
        return Part(
            c.spec.name,
            c.keys,
            c.values,
            self.suppressed,
            self.primary,
            c.rel_parent,
            c.rel_ptr,
            c.rel_child,
            c.additive(),
            label=f"this release's {c.spec.name}",
        )

    def released(self) -> pa.Table:
        """The table with the count and every measure blanked in suppressed cells, and a
        ``status`` column (``published`` / ``suppressed``, never primary vs secondary)."""
        t = self.cube.table
        hide = pa.array(self.suppressed)
        cols = {}
        for name in t.column_names:
            col = t.column(name)
            if name == self.spec.count or name in {m.column for m in self.spec.measures}:
                col = pc.if_else(hide, pa.scalar(None, col.type), col)
            cols[name] = col
        cols[STATUS_COLUMN] = pc.if_else(hide, "suppressed", "published")
        return pa.table(cols)

    def summary(self) -> dict[str, Any]:
        """Counts only (the audit log's view of the table)."""
        return {
            "name": self.spec.name,
            "file": self.spec.stem,
            "cells": self.cube.n_cells,
            "cells_added_as_empty_strata": int(self.cube.filled.sum()),
            "relations": self.cube.n_relations,
            "primary": int(self.primary.sum()),
            "secondary": int(self.secondary.sum()),
            "published": int((~self.suppressed).sum()),
            "solver": {
                "iterations": self.stats.iterations,
                "cuts": self.stats.cuts,
                "attacker_lps": self.stats.lps,
                "seconds": round(self.stats.seconds, 3),
                "optimal": self.stats.optimal,
                "objective": self.stats.objective,
            },
        }


def _primary(cube: Cube, threshold: int, zeros: Zeros) -> np.ndarray:
    v = cube.values
    small = v < threshold
    return small if zeros == "suppress" else small & (v > 0)


def _check_units(cube: Cube, threshold: int) -> None:
    """Each practitioner or establishment must aggregate at least ``threshold`` persons."""
    for d, dim in enumerate(cube.spec.dimensions):
        if dim.unit is None:
            continue
        roots = [cube.nodes[k].parent[cube.coords[:, k]] < 0 for k in range(len(cube.nodes))]
        own = cube.nodes[d].parent[cube.coords[:, d]] >= 0
        others = np.logical_and.reduce([r for k, r in enumerate(roots) if k != d] or [own])
        units = own & others
        small = units & (cube.values < threshold)
        if small.any() or not units.any():
            raise ReleaseRefusedError(
                f"dimension {dim.name}: {int(small.sum())} {dim.unit}(s) of {int(units.sum())} "
                f"count fewer than {threshold} persons; {dim.unit}-level outputs need every "
                "unit at or above the threshold"
            )


def protect(
    table: Any,
    spec: TableSpec,
    threshold: int = DEFAULT_THRESHOLD,
    *,
    zeros: Zeros = "publish",
    history: History | Sequence[ProtectedTable] = (),
    allow_unit_level: bool = False,
    ratio: float = DEFAULT_RATIO,
    minimum: int = DEFAULT_MINIMUM,
    cost: Cost = "value",
    time_limit: float = 10.0,
) -> ProtectedTable:
    """Primary and secondary suppression of ``table`` (see docs/release.md).

    ``history``: what was released before (a ``ReleaseLog`` or protected tables): their public
    cells stay public, their sensitive cells stay protected in the union of all tables of the
    same ``spec.name``.
    """
    check_threshold(threshold)
    if zeros not in ("publish", "suppress"):
        raise ReleaseError(f"zeros must be 'publish' or 'suppress', not {zeros!r}")
    if not (0 <= ratio < 1) or minimum < 1:
        raise ReleaseError("protection: ratio must be in [0, 1) and minimum at least 1")
    arrow = to_arrow(table)
    check_columns(arrow, spec, allow_unit_level=allow_unit_level)
    cube = build_cube(arrow, spec)
    if allow_unit_level:
        _check_units(cube, threshold)
    primary = _primary(cube, threshold, zeros)
    before = _history_parts(history, spec.name)
    new = Part(
        spec.name,
        cube.keys,
        cube.values,
        primary,
        primary,
        cube.rel_parent,
        cube.rel_ptr,
        cube.rel_child,
        cube.additive(),
        label="this table",
    )
    system, where = link([*before, new])
    public = np.zeros(system.n_cells, dtype=bool)
    hidden = np.zeros(system.n_cells, dtype=bool)
    sens = np.zeros(system.n_cells, dtype=bool)
    for part, pos in zip(before, where[:-1], strict=True):
        public[pos[~part.suppressed]] = True
        hidden[pos[part.suppressed]] = True
        sens[pos[part.sensitive]] = True
    sens[where[-1][primary]] = True
    x, stats = secondary(
        system,
        np.flatnonzero(sens),
        threshold=threshold,
        public=public,
        suppressed_before=hidden & ~public,
        ratio=ratio,
        minimum=minimum,
        cost=cost,
        time_limit=time_limit,
    )
    mine = x[where[-1]]
    return ProtectedTable(
        cube=cube,
        threshold=threshold,
        zeros=zeros,
        primary=primary,
        secondary=mine & ~primary,
        stats=stats,
        ratio=ratio,
        minimum=minimum,
        history=sorted({p.label for p in before}),
    )


def _history_parts(history: History | Sequence[ProtectedTable], name: str) -> list[Part]:
    if isinstance(history, Sequence):
        return [p.part() for p in history if p.spec.name == name]
    return history.parts(name)


def attack(
    tables: Sequence[ProtectedTable],
    *,
    history: History | Sequence[ProtectedTable] = (),
    threshold: int | None = None,
    exact: bool = False,
) -> AttackResult:
    """The LP attack on ``tables`` together with ``history`` (see ``_attack``): one result
    over every name; ``failures`` carry the table name and cell key."""
    results = []
    names = sorted({t.spec.name for t in tables})
    for name in names:
        parts = _history_parts(history, name) + [t.part() for t in tables if t.spec.name == name]
        mine = [t for t in tables if t.spec.name == name]
        thr = threshold or max(t.threshold for t in mine)
        system, where = link(parts)
        published = np.zeros(system.n_cells, dtype=bool)
        sens = np.zeros(system.n_cells, dtype=bool)
        for part, pos in zip(parts, where, strict=True):
            published[pos[~part.suppressed]] = True
            sens[pos[part.sensitive]] = True
        keys = np.empty(system.n_cells, dtype=object)
        for part, pos in zip(parts, where, strict=True):
            keys[pos] = part.keys
        res = attack_system(
            system,
            suppressed=~published,
            sensitive=np.flatnonzero(sens),
            threshold=thr,
            ratio=mine[0].ratio,
            minimum=mine[0].minimum,
            exact=exact,
        )
        for f in res.failures:
            f["table"] = name
            f["key"] = keys[f["cell"]] or "(grand total)"
        results.append(res)
    if not results:
        return AttackResult(True, np.zeros(0, np.int64), np.zeros(0), np.zeros(0))
    return AttackResult(
        passed=all(r.passed for r in results),
        cells=np.concatenate([r.cells for r in results]),
        lower=np.concatenate([r.lower for r in results]),
        upper=np.concatenate([r.upper for r in results]),
        failures=[f for r in results for f in r.failures],
        lps=sum(r.lps for r in results),
        seconds=sum(r.seconds for r in results),
    )
