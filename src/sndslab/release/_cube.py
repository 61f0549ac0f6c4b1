"""A table of aggregates as a complete cube of cells linked by its additive relations.

Every dimension is a forest of *nodes* (a node is the tuple of its level codes, totals
trailing: ``("84", "ALL")`` is région 84); the cube holds one cell per combination of nodes
(absent combinations are cells of 0 persons: an empty stratum). A *relation* says that a parent
cell is made of its children along one dimension, all other coordinates equal:
``cell(84, sex=1) = Σ cell(d, sex=1) for d in the départements of 84``. Relations are stored as
compressed sparse rows (``parent``, ``ptr``, ``child``), built with array operations.

>>> import pyarrow as pa
>>> from sndslab.release._spec import TableSpec
>>> spec = TableSpec.model_validate({"name": "t", "count": "n", "dimensions": [
...     {"name": "sex", "levels": [{"column": "sex", "total": "ALL"}]}]})
>>> cube = build_cube(pa.table({"sex": ["1", "2", "ALL"], "n": [12, 30, 42]}), spec)
>>> cube.values.tolist(), cube.n_relations
([12, 30, 42], 1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sndslab.release._spec import Dimension, ReleaseError, TableSpec

__all__ = ["MAX_CELLS", "TOTAL_KEY", "Cube", "build_cube"]

#: Largest cube the gate builds (cells of the complete cross product of the nodes).
MAX_CELLS = 2_000_000
#: How a total appears in the cell keys that link releases (whatever the table's own code).
TOTAL_KEY = "*"


@dataclass(frozen=True)
class _Nodes:
    """The nodes of one dimension: their level codes and the index of their parent (-1)."""

    codes: list[tuple[str, ...]]
    parent: np.ndarray


@dataclass(frozen=True)
class Cube:
    """A complete table: cells in row-major order of their node coordinates."""

    spec: TableSpec
    table: pa.Table
    values: np.ndarray
    filled: np.ndarray
    keys: list[str]
    coords: np.ndarray
    nodes: list[_Nodes]
    rel_parent: np.ndarray
    rel_ptr: np.ndarray
    rel_child: np.ndarray
    rel_dim: np.ndarray

    @property
    def n_cells(self) -> int:
        return len(self.values)

    @property
    def n_relations(self) -> int:
        return len(self.rel_parent)

    def additive(self) -> np.ndarray:
        """Per relation: whether the person count of the parent is the sum of its children."""
        flags = np.array([d.additive for d in self.spec.dimensions], dtype=bool)
        return flags[self.rel_dim]

    def label(self, cell: int) -> str:
        """A readable name of a cell (``region=84 departement=ALL sex=1``)."""
        row = self.table.slice(cell, 1).to_pylist()[0]
        return " ".join(f"{c}={row[c]}" for d in self.spec.dimensions for c in d.columns)


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return pc.cast(column, pa.string())


def _dimension_nodes(table: pa.Table, dim: Dimension) -> tuple[_Nodes, np.ndarray]:
    """Nodes of ``dim`` (with their ancestors) and the node index of every row."""
    texts = [_as_text(table.column(c)) for c in dim.columns]
    for col, text in zip(dim.columns, texts, strict=True):
        if text.null_count:
            raise ReleaseError(f"column {col} has missing codes: give the total code instead")
    path = pc.binary_join_element_wise(*texts, "\x1f") if len(texts) > 1 else texts[0]
    encoded = pc.dictionary_encode(path).combine_chunks()
    codes = [tuple(str(v).split("\x1f")) for v in encoded.dictionary.to_pylist()]
    index = {c: i for i, c in enumerate(codes)}
    totals = [lv.total for lv in dim.levels]
    parents: list[int] = []
    i = 0
    while i < len(codes):  # metadata loop over distinct codes (ancestors appended as found)
        parent = _parent_code(codes[i], totals, dim)
        if parent is None:
            parents.append(-1)
        else:
            if parent not in index:
                index[parent] = len(codes)
                codes.append(parent)
            parents.append(index[parent])
        i += 1
    rows = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return _Nodes(codes, np.asarray(parents, dtype=np.int64)), rows


def _parent_code(
    code: tuple[str, ...], totals: list[str | None], dim: Dimension
) -> tuple[str, ...] | None:
    if dim.parents:
        total = totals[0]
        if code[0] == total:
            return None
        if code[0] in dim.parents:
            return (dim.parents[code[0]],)
        return None if total is None else (total,)
    depth = len(code)
    while depth and code[depth - 1] == totals[depth - 1]:
        depth -= 1
    if any(code[k] == totals[k] for k in range(depth)):
        raise ReleaseError(
            f"dimension {dim.name}: code {'/'.join(code)} has a total above a detailed level"
        )
    total_up = totals[depth - 1] if depth else None
    if total_up is None:
        return None
    return (*code[: depth - 1], total_up, *code[depth:])


def build_cube(table: pa.Table, spec: TableSpec) -> Cube:
    """Complete ``table`` to the cross product of its nodes and link its cells.

    Checks that every declared cell appears once and that the counts are whole, non-negative
    and consistent with the hierarchies (a margin equals the sum of its children, or lies
    between their maximum and their sum for a non-additive dimension).
    """
    dims = spec.dimensions
    nodes: list[_Nodes] = []
    row_nodes: list[np.ndarray] = []
    for dim in dims:
        n, r = _dimension_nodes(table, dim)
        nodes.append(n)
        row_nodes.append(r)
    sizes = np.array([len(n.codes) for n in nodes], dtype=np.int64)
    total = int(np.prod(sizes))
    if total > MAX_CELLS:
        raise ReleaseError(
            f"table {spec.name}: {total} cells in the complete cross product (over {MAX_CELLS})"
        )
    strides = np.ones(len(dims), dtype=np.int64)
    for d in range(len(dims) - 2, -1, -1):
        strides[d] = strides[d + 1] * sizes[d + 1]
    row_key = sum((row_nodes[d] * strides[d] for d in range(len(dims))), np.int64(0))
    row_key = np.asarray(row_key, dtype=np.int64)
    if len(np.unique(row_key)) != len(row_key):
        raise ReleaseError(f"table {spec.name}: several rows for the same cell")
    coords = np.stack(np.unravel_index(np.arange(total), tuple(sizes)), axis=1).astype(np.int64)
    present = np.zeros(total, dtype=bool)
    present[row_key] = True

    raw = table.column(spec.count).to_numpy(zero_copy_only=False).astype(np.float64)
    if np.isnan(raw).any() or (raw < 0).any() or (raw != np.round(raw)).any():
        raise ReleaseError(
            f"table {spec.name}: {spec.count} must hold whole, non-negative person counts"
        )
    values = np.zeros(total, dtype=np.int64)
    values[row_key] = raw.astype(np.int64)

    out = _complete_table(table, spec, nodes, coords, row_key, present)
    rel = _relations(nodes, coords, strides)
    cube = Cube(
        spec=spec,
        table=out,
        values=values,
        filled=~present,
        keys=_keys(spec, nodes, coords),
        coords=coords,
        nodes=nodes,
        rel_parent=rel[0],
        rel_ptr=rel[1],
        rel_child=rel[2],
        rel_dim=rel[3],
    )
    _check_consistent(cube)
    return cube


def _complete_table(
    table: pa.Table,
    spec: TableSpec,
    nodes: list[_Nodes],
    coords: np.ndarray,
    row_key: np.ndarray,
    present: np.ndarray,
) -> pa.Table:
    total = len(coords)
    arrays: dict[str, pa.Array] = {}
    for d, dim in enumerate(spec.dimensions):
        for k, col in enumerate(dim.columns):
            level = np.array([c[k] for c in nodes[d].codes], dtype=object)
            text = pa.array(level[coords[:, d]], type=pa.string())
            arrays[col] = text.cast(_plain(table.schema.field(col).type))
    order = np.full(total, -1, dtype=np.int64)
    order[row_key] = np.arange(len(row_key))
    take = pa.array(np.where(present, order, 0))
    arrays[spec.count] = pa.array(np.zeros(total, dtype=np.int64)).cast(
        table.schema.field(spec.count).type
    )
    counts = table.column(spec.count).take(take).combine_chunks()
    arrays[spec.count] = pc.if_else(pa.array(present), counts, arrays[spec.count])
    for m in spec.measures:
        col = table.column(m.column).take(take).combine_chunks()
        fill = pa.scalar(None, col.type) if m.kind == "mean" else pa.scalar(0, col.type)
        arrays[m.column] = pc.if_else(pa.array(present), col, fill)
    return pa.table(arrays)


def _plain(typ: pa.DataType) -> pa.DataType:
    return typ.value_type if pa.types.is_dictionary(typ) else typ


def _relations(
    nodes: list[_Nodes], coords: np.ndarray, strides: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cells = np.arange(len(coords), dtype=np.int64)
    parents, ptrs, children, dims = [], [np.zeros(1, dtype=np.int64)], [], []
    offset = 0
    for d, n in enumerate(nodes):
        up = n.parent[coords[:, d]]
        has = up >= 0
        child = cells[has]
        parent = child + (up[has] - coords[has, d]) * strides[d]
        order = np.argsort(parent, kind="stable")
        child, parent = child[order], parent[order]
        uniq, counts = np.unique(parent, return_counts=True)
        parents.append(uniq)
        ptrs.append(offset + np.cumsum(counts))
        children.append(child)
        dims.append(np.full(len(uniq), d, dtype=np.int64))
        offset += len(child)
    return (
        np.concatenate(parents).astype(np.int64),
        np.concatenate(ptrs).astype(np.int64),
        np.concatenate(children).astype(np.int64),
        np.concatenate(dims).astype(np.int64),
    )


def _keys(spec: TableSpec, nodes: list[_Nodes], coords: np.ndarray) -> list[str]:
    """Keys that name a cell whatever table it comes from (dimensions at their total are left
    out, so the margin ``geo=84/*`` of a geo × sex table is the cell of a geo-only table)."""
    parts = []
    for d in sorted(range(len(spec.dimensions)), key=lambda k: spec.dimensions[k].name):
        dim = spec.dimensions[d]
        totals = [lv.total for lv in dim.levels]
        labels = []
        for code in nodes[d].codes:
            if all(c == t for c, t in zip(code, totals, strict=True)):
                labels.append("")
            else:
                shown = [TOTAL_KEY if c == t else c for c, t in zip(code, totals, strict=True)]
                labels.append(f"{dim.name}={'/'.join(shown)}|")
        parts.append(pa.array(np.array(labels, dtype=object)[coords[:, d]], type=pa.string()))
    joined = pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]
    return [str(k) for k in joined.to_pylist()]


def _check_consistent(cube: Cube) -> None:
    if not cube.n_relations:
        return
    v = cube.values[cube.rel_child]
    starts = cube.rel_ptr[:-1]
    sums = np.add.reduceat(v, starts)
    maxs = np.maximum.reduceat(v, starts)
    parent = cube.values[cube.rel_parent]
    add = cube.additive()
    bad = np.where(add, parent != sums, (parent > sums) | (parent < maxs))
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        dim = cube.spec.dimensions[int(cube.rel_dim[r])]
        rule = "the sum" if add[r] else "between the largest and the sum"
        raise ReleaseError(
            f"table {cube.spec.name}: cell {cube.label(int(cube.rel_parent[r]))} counts "
            f"{int(parent[r])} but its children along {dim.name} sum to {int(sums[r])} (expected "
            f"{rule}; is a margin missing, or is {dim.name} not additive?)"
        )
