"""Figures of the supply-versus-consumption analysis, drawn from RELEASED tables only.

The scatter plot (consultations per affiliate against GPs per 100,000, one labelled point per
published territory, the crude and age-adjusted fitted lines) and the choropleth map
(consultations per affiliate by territory on the vendored GeoJSON of
``sndslab/referentials/geo``, "IGN Admin Express, via gregoiredavid/france-geojson", Licence
Ouverte, shown on the map) read the released Parquet files of a release folder: a suppressed
territory has no point and a grey area. matplotlib is the optional extra ``plots``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from sndslab.errors import SndslabError

__all__ = ["MAP_ATTRIBUTION", "draw_map", "draw_scatter", "map_code"]

MAP_ATTRIBUTION = (
    "Boundaries: IGN Admin Express, via gregoiredavid/france-geojson (Licence Ouverte / Etalab)"
)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - matplotlib is in the dev extra
        raise SndslabError("the figures need matplotlib: pip install 'sndslab[plots]'") from exc
    return plt


def map_code(territory: str) -> str:
    """GeoJSON code of a territory code: SNDS département ``"001"`` → ``"01"``, ``"02A"`` →
    ``"2A"``; régions and 2-character codes unchanged.

    >>> [map_code(c) for c in ("001", "02A", "075", "971", "84", "5")]
    ['01', '2A', '75', '971', '84', '5']
    """
    if len(territory) == 3 and territory.startswith("0"):
        return territory[1:]
    return territory


@cache
def _geojson(level: str) -> dict[str, Any]:
    name = "departements.geojson" if level == "departement" else "regions.geojson"
    text = resources.files("sndslab.referentials").joinpath("geo", name).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _rings(geometry: dict[str, Any]) -> list[np.ndarray]:
    polys = geometry["coordinates"]
    if geometry["type"] == "Polygon":
        polys = [polys]
    return [np.asarray(poly[0], dtype=np.float64) for poly in polys]


def _published(table: pa.Table) -> pa.Table:
    mask = np.asarray(table.column("status").to_pylist(), dtype=object) == "published"
    return table.filter(pa.array(mask))


def draw_scatter(territories: pa.Table, coefficients: pa.Table, path: Path, title: str) -> int:
    """Scatter plot of the released territory table with the released fitted lines; returns
    the number of points drawn."""
    plt = _pyplot()
    t = _published(territories)
    x = np.asarray(t.column("practitioners_per_100k").to_pylist(), dtype=np.float64)
    y = np.asarray(t.column("consultations_per_affiliate").to_pylist(), dtype=np.float64)
    labels = [str(v) for v in t.column("territory").to_pylist()]
    fig, ax = plt.subplots(figsize=(8, 6))
    ax.scatter(x, y, s=18, color="#1f77b4")
    for xi, yi, lab in zip(x, y, labels, strict=True):
        ax.annotate(lab, (xi, yi), fontsize=6, xytext=(2, 2), textcoords="offset points")
    c = _published(coefficients)
    coef = {
        tuple(key.split(":", 1)): est
        for key, est in zip(
            c.column("coefficient").to_pylist(), c.column("estimate").to_pylist(), strict=True
        )
    }
    if x.size:
        grid = np.linspace(float(x.min()), float(x.max()), 50)
        crude = ("density", "intercept") in coef and ("density", "practitioners_per_100") in coef
        if crude:
            slope = coef[("density", "practitioners_per_100")]
            ax.plot(
                grid,
                coef[("density", "intercept")] + slope * grid / 100,
                color="#d62728",
                label=f"OLS, crude: {slope:+.2f} per +100 GPs/100,000",
            )
        if ("density_age", "practitioners_per_100") in coef:
            slope = coef[("density_age", "practitioners_per_100")]
            ax.plot([], [], color="none", label=f"OLS, age-adjusted: {slope:+.2f}")
        ax.legend(loc="best", fontsize=8)
    ax.set_xlabel("general practitioners per 100,000 inhabitants")
    ax.set_ylabel("GP consultations and visits per affiliate per year")
    ax.set_title(title, fontsize=10)
    fig.text(0.01, 0.01, "Released cells only (sndslab release gate)", fontsize=6, color="grey")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return int(x.size)


def draw_map(territories: pa.Table, level: str, path: Path, title: str) -> int:
    """Choropleth of consultations per affiliate (released territories; suppressed or absent
    ones grey), with the boundary attribution; returns the number of coloured areas."""
    plt = _pyplot()
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Polygon

    t = _published(territories)
    values = {
        map_code(str(k)): float(v)
        for k, v in zip(
            t.column("territory").to_pylist(),
            t.column("consultations_per_affiliate").to_pylist(),
            strict=True,
        )
    }
    if level == "region" and "93" in values:
        values.setdefault("94", values["93"])  # Open DAMIR's 93 is PACA and Corse
    geo = _geojson(level)
    patches, colours, grey = [], [], []
    for feat in geo["features"]:
        code = feat["properties"]["code"]
        for ring in _rings(feat["geometry"]):
            poly = Polygon(ring, closed=True)
            if code in values:
                patches.append(poly)
                colours.append(values[code])
            else:
                grey.append(poly)
    fig, ax = plt.subplots(figsize=(7, 7))
    ax.add_collection(PatchCollection(grey, facecolor="#dddddd", edgecolor="white", lw=0.3))
    coloured = 0
    if patches:
        coll = PatchCollection(patches, cmap="viridis", edgecolor="white", lw=0.3)
        coll.set_array(np.asarray(colours))
        ax.add_collection(coll)
        fig.colorbar(coll, ax=ax, shrink=0.6, label="GP consultations per affiliate per year")
        coloured = len(
            {c for c in values if any(f["properties"]["code"] == c for f in geo["features"])}
        )
    ax.autoscale_view()
    ax.set_aspect(1.4)
    ax.set_axis_off()
    ax.set_title(title, fontsize=10)
    fig.text(0.01, 0.01, MAP_ATTRIBUTION, fontsize=6, color="grey")
    fig.text(
        0.01,
        0.03,
        "Grey: territory suppressed by the release gate or without data",
        fontsize=6,
        color="grey",
    )
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return coloured
