"""The bodies of ``sndslab analyse supply-demand`` and ``sndslab analyse opendamir-indicators``
(cli.py keeps thin wrappers): fit, release through the gate, summary rows to print."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

import sndslab
from sndslab.errors import InvalidArgumentError
from sndslab.release import TableSpec, release
from sndslab.supply._analysis import DENSITY_TERM, SupplyDemand
from sndslab.supply._damir_indicators import OpenDamirIndicators
from sndslab.supply._release import release_supply_demand

__all__ = ["run_opendamir_indicators", "run_supply_demand"]


def run_supply_demand(
    lake: Path,
    out: Path,
    *,
    source: str = "lake",
    table: str | None = None,
    year: int | None = None,
    population: str | None = None,
    practitioners: str = "lake",
    controls: Sequence[str] | None = None,
    control_file: Path | None = None,
    threshold: int = 11,
    overwrite: bool = False,
) -> list[tuple[str, str]]:
    if source not in ("lake", "opendamir", "table"):
        raise InvalidArgumentError(f"--source must be lake, opendamir or table, not {source!r}")
    if table is not None and source == "lake":
        source = "table"
    if not lake.is_dir():
        raise InvalidArgumentError(f"lake {lake} does not exist or is not a directory")
    analysis = SupplyDemand(
        source=source,  # type: ignore[arg-type]
        year=year,
        table=table,
        population=population,
        practitioners=practitioners,
        controls=list(controls) if controls else None,
        control_file=control_file,
    )
    with sndslab.open_lake(lake) as opened:
        analysis.fit(opened)
    done = release_supply_demand(analysis, out, lake=lake, threshold=threshold, overwrite=overwrite)
    rows = [
        ("territories", f"{analysis.accounting_['territories']:.0f}"),
        ("in the models", f"{analysis.accounting_['territories_in_model']:.0f}"),
    ]
    for model in analysis.fits_:
        s = analysis.slope(model)
        rows.append(
            (
                f"{model}: {DENSITY_TERM}",
                f"{s['estimate']:+.3f} [{s['lower']:+.3f}, {s['upper']:+.3f}]",
            )
        )
    audit = done.result.audit["tables"]
    rows += [
        ("release", done.result.release_id),
        ("suppressed territories", str(audit[0]["primary"] + audit[0]["secondary"])),
        ("figures", ", ".join(str(p) for p in done.figures.values())),
        ("written", str(out)),
    ]
    return rows


def run_opendamir_indicators(
    lake: Path,
    out: Path,
    *,
    population: str = "lake",
    table: str | None = None,
    only: Sequence[str] | None = None,
    years: Sequence[int] | None = None,
    threshold: int = 11,
    overwrite: bool = False,
) -> list[tuple[str, str]]:
    if not lake.is_dir():
        raise InvalidArgumentError(f"lake {lake} does not exist or is not a directory")
    kwargs: dict[str, Any] = {
        "only": list(only) if only else None,
        "population": population,
        "years": list(years) if years else None,
    }
    if table is not None:
        kwargs["table"] = table
    analysis = OpenDamirIndicators(**kwargs)
    with sndslab.open_lake(lake) as opened:
        analysis.fit(opened)
    cand = analysis.to_release()
    spec = TableSpec.from_candidate(
        cand, name="opendamir_indicators", totals={"territory": "FR"}, kinds={"numerator": "events"}
    )
    its = analysis.its_summary()
    fr = analysis.table_.filter(
        pa.array(np.asarray(analysis.table_.column("territory").to_pylist()) == "FR")
    )
    persons = int(max(fr.column("population").to_pylist() or [0]))
    its_table = its.drop_columns(["note"]).append_column(
        "persons", pa.array([persons] * its.num_rows, pa.int64())
    )
    its_spec = TableSpec.parse(
        {
            "name": "opendamir_indicators_its",
            "count": "persons",
            "dimensions": [{"name": "indicator", "levels": [{"column": "indicator"}]}],
            "measures": [{"column": c, "kind": "rate"} for c in ("rate_ratio", "lower", "upper")],
            "description": "ITS level rate ratio of the national monthly series",
        }
    )
    result = release(
        [(cand.table, spec), (its_table, its_spec)],
        out,
        lake=lake,
        threshold=threshold,
        overwrite=overwrite,
        requested_by="sndslab analyse opendamir-indicators",
    )
    rows = [
        ("indicators", ", ".join(sorted(analysis.accounting_))),
        ("years", ", ".join(map(str, analysis.years_))),
    ]
    for name, acc in analysis.accounting_.items():
        rows.append(
            (
                f"{name}: lines kept / read",
                f"{acc['lines_kept']:,.0f} / {acc['lines']:,.0f} (unknown région "
                f"{acc['lines_unknown_region']:,.0f}, age {acc['lines_unknown_age']:,.0f}, "
                f"sex {acc['lines_unknown_sex']:,.0f})",
            )
        )
    for row in its.to_pylist():
        text = (
            f"{row['rate_ratio']:.3f} [{row['lower']:.3f}, {row['upper']:.3f}]"
            if row["rate_ratio"] is not None
            else row["note"]
        )
        rows.append((f"{row['indicator']}: ITS level rate ratio", text))
    rows += [("release", result.release_id), ("written", str(out))]
    return rows
