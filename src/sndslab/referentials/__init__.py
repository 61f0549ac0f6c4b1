"""Curated reference lists used across stages (FINESS duplicates, …), with their sources.

>>> dup = finess_geo_duplicates()
>>> len(dup)
166
>>> dup["750100042"]
'APHP'
"""

from __future__ import annotations

import csv
import functools
from importlib import resources

__all__ = ["JURIDICAL_FINESS", "finess_geo_duplicates"]

#: Juridical FINESS of the multi-site groups whose geographic FINESS duplicate PMSI activity.
JURIDICAL_FINESS = {"APHP": "750712184", "APHM": "130786049", "HCL": "690781810"}


@functools.lru_cache(maxsize=1)
def finess_geo_duplicates() -> dict[str, str]:
    """Geographic FINESS of AP-HP, AP-HM and HCL → group name (see SOURCES.md)."""
    text = (
        resources.files("sndslab.referentials")
        .joinpath("finess_geo_duplicates.csv")
        .read_text("utf-8")
    )
    return {row["finess_geo"]: row["group"] for row in csv.DictReader(text.splitlines())}
