"""``sndslab export opendamir``: the Open DAMIR product of a lake, through the release gate.

1. The claims of ``int.dcir_prestations`` are mapped onto the public axes
   (:mod:`sndslab.opendamir._cells`) and aggregated in DuckDB, in one ``GROUPING SETS`` query:
   per flow month, the leaf cells (every detailed axis), the regional and the national margins,
   each with its distinct persons and the sums of the measures.
2. Each flow month is one gate table (``opendamir_A{YYYYMM}``) with ONE hierarchical
   dimension, région → cell (a cell: the combination of the other detailed axes within the
   région), and the count of distinct persons: the gate's primary suppression (cells of 1 to
   ``threshold − 1`` persons) and its secondary suppression against the margins (France =
   Σ régions, région = Σ its cells, as if those margins were known) run on a tree of relations,
   so the cost grows with the cells of a month, never with a cross product of the axes; the
   attack must recover nothing (``sndslab.release.release``). The gate's own files (persons
   per cell and margins, status, audit, README) are in ``DIR/release/``.
3. The public files ``A{YYYYMM}.csv.gz`` hold the leaf cells the gate published, in the
   public layout (the 55 columns in their order, ``;``, header): no person count (the real
   product has none), no margin, and no line for a suppressed cell (as the real product has
   no line for an empty combination). What suppression removed is accounted in
   ``DIR/opendamir_audit.json`` (cells, claims, persons, and every measure, per month).
4. The re-identification check (:func:`sndslab.opendamir.risk_check`) runs on what the files
   expose and is written to ``DIR/risk.json``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from sndslab._atomic import atomic_output_dir
from sndslab.engines import Connection, quote_path
from sndslab.errors import InvalidArgumentError, SndslabError
from sndslab.lake import Lake, open_lake, relation
from sndslab.opendamir._cells import (
    CONSTANTS,
    DETAILED,
    EXCLUSION_RULES,
    MEASURE_SOURCES,
    lines_sql,
)
from sndslab.opendamir._schema import PUBLIC_COLUMNS, QUANTITY_COLUMNS
from sndslab.release import DEFAULT_THRESHOLD, ReleaseLog, ReleaseRefusedError, TableSpec, release

__all__ = ["FIXED_AXES", "PARTITIONS", "OpenDamirExport", "export_opendamir"]

#: Axes always detailed: the flow month (one file each) and the région (the gate's hierarchy).
FIXED_AXES: tuple[str, ...] = ("FLX_ANN_MOI", "BEN_RES_REG")
_ALL = "ALL"
_REQUESTER = "sndslab export opendamir"


@dataclass
class OpenDamirExport:
    """What one export wrote: the folder, the files, the audit and the risk check."""

    out: Path
    files: list[str]
    audit: dict[str, Any]
    risk: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """The re-identification check passed (see :func:`sndslab.opendamir.risk_check`)."""
        return bool(self.risk.get("passed"))


def _axes(axes: Sequence[str] | None) -> tuple[str, ...]:
    chosen = tuple(DETAILED) if axes is None else tuple(dict.fromkeys([*FIXED_AXES, *axes]))
    bad = [a for a in chosen if a not in DETAILED]
    if bad:
        raise InvalidArgumentError(
            f"axes {', '.join(bad)} cannot be detailed by the export; choose among "
            f"{', '.join(DETAILED)}"
        )
    return chosen


def _requested(axes: tuple[str, ...], partition: str) -> str:
    return f"{_REQUESTER} axes={','.join(axes)} partition={partition}"


def _check_earlier_axes(lk: Lake, axes: tuple[str, ...], partition: str) -> None:
    """Refuse an export whose axes differ from an earlier Open DAMIR release of the lake: the
    gate links releases by table name and cell code, and cells of two axis sets are different
    codes for overlapping persons (one release could be differenced against the other)."""
    log = ReleaseLog(lk)
    wanted = _requested(axes, partition)
    for rid in log.releases():
        by = str(log.audit(rid).get("requested", {}).get("by", ""))
        if by.startswith(_REQUESTER) and by != wanted:
            raise ReleaseRefusedError(
                f"release {rid} of this lake published the Open DAMIR product with other axes "
                f"or partition ({by.removeprefix(_REQUESTER).strip()}): a second cut of the "
                "same persons could be differenced against it; export with the same ones"
            )


def _cell_key(axes: tuple[str, ...]) -> str:
    """SQL of the cell code within a région: the other detailed axes, ``|``-joined."""
    inner = [a for a in axes if a not in FIXED_AXES]
    if not inner:
        return "'*'"
    return " || '|' || ".join(f"coalesce(CAST({a} AS VARCHAR), '')" for a in inner)


def _aggregate(
    con: Connection, claims: str, axes: tuple[str, ...], months: list[int] | None
) -> None:
    """Temp tables ``_od_lines`` (claims on the public axes) and ``_od_cells`` (leaf cells
    and margins per flow month: ``month``, ``region``, ``cell``, axes, ``n_persons``,
    ``n_claims``, measures)."""
    where = "" if months is None else f" AND FLX_ANN_MOI IN ({', '.join(map(str, months))})"
    con.create_table("_od_lines", f"SELECT *, {_cell_key(axes)} AS _key FROM ({lines_sql(claims)})")
    inner = [a for a in axes if a not in FIXED_AXES]
    sums = ", ".join(f"sum(m_{s}) AS {m}" for m, s in MEASURE_SOURCES.items())
    axis_cols = ", ".join(f"any_value({a}) AS {a}" for a in inner)
    con.create_table(
        "_od_cells",
        f"""SELECT FLX_ANN_MOI AS month,
              CASE WHEN grouping(BEN_RES_REG) = 1 THEN '{_ALL}' ELSE CAST(BEN_RES_REG AS VARCHAR) END AS region,
              CASE WHEN grouping(_key) = 1 THEN '{_ALL}' ELSE _key END AS cell,
              {axis_cols + "," if axis_cols else ""}
              count(DISTINCT person_id) AS n_persons, count(*) AS n_claims, {sums}
            FROM (SELECT * FROM _od_lines WHERE _excluded IS NULL{where})
            GROUP BY GROUPING SETS ((FLX_ANN_MOI, BEN_RES_REG, _key), (FLX_ANN_MOI, BEN_RES_REG),
                                    (FLX_ANN_MOI))""",  # noqa: E501
    )


#: How the product is cut into gate tables: one per flow month (France > région > cell) or
#: one per flow month and région (région > cell; no national margin).
PARTITIONS: tuple[str, ...] = ("month", "month_region")


def _spec(month: int, region: str | None = None) -> TableSpec:
    levels = [{"column": "cell", "total": _ALL}]
    if region is None:
        levels.insert(0, {"column": "region", "total": _ALL})
    name = f"opendamir_A{month}" + ("" if region is None else f"_R{region}")
    return TableSpec.model_validate(
        {
            "name": name,
            "count": "n_persons",
            "dimensions": [{"name": "cell", "additive": False, "levels": levels}],
        }
    )


def _gate_tables(con: Connection, months: list[int], partition: str) -> list[Any]:
    """``(month, région or None, table, spec)`` of every gate table."""
    if partition == "month":
        return [
            (m, None, con.sql(
                f"SELECT region, cell, n_persons FROM _od_cells WHERE month = {m}"
            ).to_arrow(), _spec(m))
            for m in months
        ]  # fmt: skip
    pairs = con.fetchall(
        f"SELECT DISTINCT month, region FROM _od_cells WHERE region <> '{_ALL}' ORDER BY 1, 2"
    )
    return [
        (int(m), str(r), con.sql(
            f"SELECT cell, n_persons FROM _od_cells WHERE month = {m} AND region = '{r}'"
        ).to_arrow(), _spec(int(m), str(r)))
        for m, r in pairs
    ]  # fmt: skip


def _public_sql(month: int, axes: tuple[str, ...]) -> str:
    """SELECT of the published leaf cells of ``month`` in the public layout."""
    cols = []
    for c in PUBLIC_COLUMNS:
        if c == "FLX_ANN_MOI":
            cols.append("c.month AS FLX_ANN_MOI")
        elif c == "BEN_RES_REG":
            cols.append("CAST(c.region AS BIGINT) AS BEN_RES_REG")
        elif c in axes:
            cols.append(f"c.{c}")
        elif c in MEASURE_SOURCES:
            kind = "BIGINT" if c in QUANTITY_COLUMNS else "DECIMAL(18,2)"
            cols.append(f"CAST(c.{c} AS {kind}) AS {c}")
        else:
            value = CONSTANTS.get(c)
            cols.append(f"{'NULL' if value is None else repr(value)} AS {c}")
    order = ", ".join(["BEN_RES_REG", *(a for a in axes if a not in FIXED_AXES)])
    return (
        f"SELECT {', '.join(cols)} FROM _od_cells c JOIN _od_published p "
        f"ON c.month = p.month AND c.region = p.region AND c.cell = p.cell "
        f"WHERE c.month = {month} AND c.region <> '{_ALL}' AND c.cell <> '{_ALL}' "
        f"ORDER BY {order}"
    )


def _num(v: Any) -> Any:
    return float(v) if isinstance(v, Decimal) else v


def _accounting(con: Connection) -> dict[str, Any]:
    """Per month: lake totals of the leaf cells, what the files publish and what suppression
    removed (cells, claims, person-cells, every measure)."""
    measures = list(MEASURE_SOURCES)
    tot = ", ".join(f"sum({m})" for m in measures)
    pub = ", ".join(f"sum({m}) FILTER (WHERE p.cell IS NOT NULL)" for m in measures)
    rows = con.fetchall(
        f"""SELECT c.month, count(*), count(p.cell), sum(c.n_claims),
                   sum(c.n_claims) FILTER (WHERE p.cell IS NOT NULL), {tot}, {pub}
            FROM _od_cells c LEFT JOIN _od_published p
              ON c.month = p.month AND c.region = p.region AND c.cell = p.cell
            WHERE c.region <> '{_ALL}' AND c.cell <> '{_ALL}'
            GROUP BY c.month ORDER BY c.month"""
    )
    out: dict[str, Any] = {}
    n = len(measures)
    for r in rows:
        month, cells, published, claims, claims_pub = r[:5]
        totals, kept = r[5 : 5 + n], r[5 + n :]
        out[str(month)] = {
            "cells": int(cells),
            "cells_published": int(published),
            "cells_suppressed": int(cells) - int(published),
            "claims": int(claims),
            "claims_published": int(claims_pub or 0),
            "claims_suppressed": int(claims) - int(claims_pub or 0),
            "measures": {
                m: {
                    "lake": _num(t or 0),
                    "published": _num(k or 0),
                    "suppressed": _num((t or 0) - (k or 0)),
                }
                for m, t, k in zip(measures, totals, kept, strict=True)
            },
        }
    return out


def _shares(by_month: dict[str, Any]) -> dict[str, Any]:
    cells = sum(m["cells"] for m in by_month.values())
    supp = sum(m["cells_suppressed"] for m in by_month.values())
    claims = sum(m["claims"] for m in by_month.values())
    claims_supp = sum(m["claims_suppressed"] for m in by_month.values())
    out: dict[str, Any] = {
        "cells": cells,
        "cells_suppressed": supp,
        "cells_suppressed_share": supp / cells if cells else 0.0,
        "claims": claims,
        "claims_suppressed": claims_supp,
        "claims_suppressed_share": claims_supp / claims if claims else 0.0,
    }
    for m in ("PRS_ACT_QTE", "PRS_PAI_MNT", "PRS_REM_MNT"):
        lake = sum(x["measures"][m]["lake"] for x in by_month.values())
        gone = sum(x["measures"][m]["suppressed"] for x in by_month.values())
        out[f"{m}_suppressed_share"] = gone / lake if lake else 0.0
    return out


def export_opendamir(
    lake: str | Path | Lake,
    out: str | Path,
    *,
    axes: Sequence[str] | None = None,
    months: Sequence[int] | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    overwrite: bool = False,
    risk: bool = True,
    partition: str = "month",
) -> OpenDamirExport:
    """Write the Open DAMIR files of ``lake`` into ``out`` (see the module docstring).

    ``axes``: the public axes to detail (default every axis the export can derive,
    :data:`sndslab.opendamir._cells.DETAILED`; the flow month and the région always are); an
    axis left out is written as its constant (unknown / "sans objet" code, or empty), which
    makes cells larger and suppression rarer. ``months``: flow months ``YYYYMM`` to export
    (default all). ``threshold``: the gate's (11 by default; never lower). ``partition``:
    ``month`` (one gate table per flow month, France > région > cell) or ``month_region``
    (one per flow month and région, région > cell: smaller tables, no national margin).
    """
    chosen = _axes(axes)
    started = time.perf_counter()
    own = not isinstance(lake, Lake)
    lk = open_lake(lake) if not isinstance(lake, Lake) else lake
    try:
        if lk.engine != "duckdb":
            raise InvalidArgumentError("export opendamir runs on DuckDB (open the lake with it)")
        if not lk.has("int.dcir_prestations"):
            raise SndslabError(
                f"{lk.root}: no int.dcir_prestations (DCIR claims): run `sndslab ingest` on an "
                "extract with ER_PRS_F first"
            )
        if partition not in PARTITIONS:
            raise InvalidArgumentError(
                f"partition must be one of {', '.join(PARTITIONS)}, not {partition!r}"
            )
        _check_earlier_axes(lk, chosen, partition)
        con = lk.con
        claims = relation(con, lk.paths, "int.dcir_prestations")
        _aggregate(con, claims, chosen, None if months is None else [int(m) for m in months])
        excluded = {
            str(r[0]): int(r[1])
            for r in con.fetchall(
                "SELECT _excluded, count(*) FROM _od_lines WHERE _excluded IS NOT NULL "
                "GROUP BY 1 ORDER BY 1"
            )
        }
        month_list = [
            int(r[0]) for r in con.fetchall("SELECT DISTINCT month FROM _od_cells ORDER BY 1")
        ]
        if not month_list:
            raise SndslabError(f"{lk.root}: no DCIR claim to export (months: {months or 'all'})")
        aggregated = time.perf_counter() - started
        gate = _gate_tables(con, month_list, partition)
        tables = [(t, spec) for _, _, t, spec in gate]
        files: list[str] = []
        with atomic_output_dir(
            Path(out), overwrite=overwrite, kind="export-opendamir", inputs=[lk.root]
        ) as tmp:
            clock = time.perf_counter()
            result = release(
                tables,
                tmp / "release",
                lake=lk,
                threshold=threshold,
                requested_by=_requested(chosen, partition),
            )
            gate_seconds = time.perf_counter() - clock
            published = []
            for (m, region, _, _), t in zip(gate, result.tables, strict=True):
                cells = t.cube.table.filter(pa.array(~t.suppressed))
                n = cells.num_rows
                regions = cells.column("region") if region is None else pa.array([region] * n)
                published.append(
                    pa.table(
                        {
                            "region": regions,
                            "cell": cells.column("cell"),
                            "month": pa.array([m] * n, pa.int64()),
                        }
                    )
                )
            con.register_arrow("_od_published", pa.concat_tables(published))
            clock = time.perf_counter()
            for m in month_list:
                name = f"A{m}.csv.gz"
                con.raw.execute(  # type: ignore[attr-defined]
                    f"COPY ({_public_sql(m, chosen)}) TO {quote_path(str(tmp / name))} "
                    "(FORMAT csv, HEADER true, DELIMITER ';', COMPRESSION gzip)"
                )
                files.append(name)
            write_seconds = time.perf_counter() - clock
            by_month = _accounting(con)
            audit: dict[str, Any] = {
                "format": "sndslab-opendamir-export",
                "lake": str(lk.root),
                "release_id": result.release_id,
                "threshold": threshold,
                "axes": list(chosen),
                "constants": {k: v for k, v in CONSTANTS.items() if k not in chosen},
                "gate": {
                    "tables": len(tables),
                    "partition": partition,
                    "hierarchy": "France > région > cell"
                    if partition == "month"
                    else "région > cell",
                    "cells": sum(t.num_rows for t, _ in tables),
                    "seconds": round(gate_seconds, 3),
                },
                "excluded_claims": {
                    name: {"rule": EXCLUSION_RULES[name], "claims": excluded.get(name, 0)}
                    for name in EXCLUSION_RULES
                },
                "suppressed": _shares(by_month),
                "months": by_month,
                "seconds": {
                    "aggregate": round(aggregated, 3),
                    "gate": round(gate_seconds, 3),
                    "write": round(write_seconds, 3),
                },
            }
            report: dict[str, Any] = {}
            if risk:
                from sndslab.opendamir._risk import risk_check

                report = risk_check(con, threshold=threshold)
                (tmp / "risk.json").write_text(
                    json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
                )
            audit["seconds"]["total"] = round(time.perf_counter() - started, 3)
            (tmp / "opendamir_audit.json").write_text(
                json.dumps(audit, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        for temp in ("_od_lines", "_od_cells"):
            con.drop(temp)
        return OpenDamirExport(Path(out), files, audit, report)
    finally:
        if own:
            lk.close()
