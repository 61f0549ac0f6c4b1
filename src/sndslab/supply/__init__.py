"""Supply versus consumption by territory (the 2015 Open DAMIR hackathon's question) and the
population file of the Open DAMIR indicators. See docs/supply-demand.md.

>>> from sndslab.supply import SupplyDemand
>>> SupplyDemand(source="lake", year=2019).source
'lake'
"""

from __future__ import annotations

from sndslab.supply._analysis import DENSITY_TERM, MODELS, SupplyDemand
from sndslab.supply._damir_indicators import (
    DamirIndicatorSpec,
    OpenDamirIndicators,
    damir_standard,
    load_damir_indicators,
)
from sndslab.supply._ols import OLSFit, ols
from sndslab.supply._population import (
    OPENDAMIR_AGE_BANDS,
    PopulationError,
    PopulationFile,
    PopulationRow,
    population_from_lake,
    read_population,
)
from sndslab.supply._release import ReleasedSupplyDemand, release_supply_demand
from sndslab.supply._territory import (
    REQUIRED_COLUMNS,
    TerritoryTableError,
    read_territory_table,
    territory_table,
)

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "DENSITY_TERM",
    "DamirIndicatorSpec",
    "MODELS",
    "OLSFit",
    "OPENDAMIR_AGE_BANDS",
    "OpenDamirIndicators",
    "PopulationError",
    "PopulationFile",
    "PopulationRow",
    "REQUIRED_COLUMNS",
    "ReleasedSupplyDemand",
    "SupplyDemand",
    "TerritoryTableError",
    "damir_standard",
    "load_damir_indicators",
    "ols",
    "population_from_lake",
    "read_population",
    "read_territory_table",
    "release_supply_demand",
    "territory_table",
]
