"""Releasing the supply-versus-consumption analysis: the territory table and the coefficients
through the release gate (one call of :func:`sndslab.release.release`), then the figures drawn
from the released Parquet files read back from the release folder.

Layout of ``out``: the release folder itself (``supply_demand_territories.parquet/.csv``,
``supply_demand_coefficients.parquet/.csv``, data dictionary, README, audit) and
``out/figures/`` (``scatter.png``, ``map.png``), written after the release, from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from sndslab._atomic import atomic_output_dir
from sndslab.release import DEFAULT_THRESHOLD, ReleaseResult, TableSpec, release
from sndslab.supply._analysis import SupplyDemand
from sndslab.supply._plots import draw_map, draw_scatter

__all__ = ["ReleasedSupplyDemand", "release_supply_demand"]

TERRITORIES = "supply_demand_territories"
COEFFICIENTS = "supply_demand_coefficients"


@dataclass(frozen=True)
class ReleasedSupplyDemand:
    result: ReleaseResult
    figures: dict[str, Path]
    points: int
    areas: int


def release_supply_demand(
    analysis: SupplyDemand,
    out: Path | str,
    *,
    lake: Any,
    threshold: int = DEFAULT_THRESHOLD,
    overwrite: bool = False,
    figures: bool = True,
) -> ReleasedSupplyDemand:
    """Release a fitted :class:`SupplyDemand` into ``out`` and draw its figures from the
    released tables (see the module docstring)."""
    terr = analysis.territory_candidate()
    coef = analysis.to_release()
    name = f"{TERRITORIES}_{analysis.source}"
    t_spec = TableSpec.from_candidate(terr, name=name, kinds={"consultations": "events"})
    t_spec = t_spec.model_copy(update={"file": TERRITORIES})
    c_spec = TableSpec.from_candidate(coef, name=f"{COEFFICIENTS}_{analysis.source}")
    c_spec = c_spec.model_copy(update={"file": COEFFICIENTS})
    result = release(
        [(terr.table, t_spec), (coef.table, c_spec)],
        out,
        lake=lake,
        threshold=threshold,
        overwrite=overwrite,
        requested_by="sndslab analyse supply-demand",
    )
    drawn: dict[str, Path] = {}
    points = areas = 0
    if figures:
        out_dir = Path(result.out_dir)
        released_t = pq.read_table(out_dir / f"{TERRITORIES}.parquet")
        released_c = pq.read_table(out_dir / f"{COEFFICIENTS}.parquet")
        level = "region" if analysis.source == "opendamir" else "departement"
        year = analysis.accounting_.get("year")
        what = f"{'régions, Open DAMIR' if level == 'region' else 'départements'}"
        title = f"GP consultations per affiliate vs GP density ({what}"
        title += f", {int(year)})" if year else ")"
        with atomic_output_dir(out_dir / "figures", overwrite=True, kind="figures") as tmp:
            points = draw_scatter(released_t, released_c, tmp / "scatter.png", title)
            areas = draw_map(released_t, level, tmp / "map.png", title)
        drawn = {
            "scatter": out_dir / "figures" / "scatter.png",
            "map": out_dir / "figures" / "map.png",
        }
    return ReleasedSupplyDemand(result, drawn, points, areas)
