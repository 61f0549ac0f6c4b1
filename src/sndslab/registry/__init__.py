"""The SNDS table registry: one spec per table, canonical column types, value lists.

Specs are YAML files under ``sndslab/registry/tables`` derived from the public schema-snds
(MPL-2.0) by ``tools/derive_registry.py``; value lists are vendored unchanged under
``sndslab/registry/nomenclatures``.

>>> from sndslab.registry import get_table, resolve_file_stem
>>> get_table("T_MCOaaB").file_name(2020)
'T_MCO20B'
>>> resolve_file_stem("ER_PRS_F_2021")[0].name
'ER_PRS_F'
"""

from __future__ import annotations

from sndslab.registry._errors import RegistryError, UnknownColumnError, UnknownTableError
from sndslab.registry._families import (
    DCIR_JOIN_KEYS,
    DCIR_PRESTATION_TABLE,
    PmsiFamily,
    dcir_satellites,
    pmsi_families,
)
from sndslab.registry._loader import canonical_type, get_table, list_tables, resolve_file_stem
from sndslab.registry._model import ARROW_TYPES, ColumnSpec, ForeignKey, TableSpec, YearRange
from sndslab.registry._nomenclature import (
    REGISTRY_SOURCE_NOTICE,
    list_nomenclatures,
    load_nomenclature,
)

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "ARROW_TYPES",
    "ColumnSpec",
    "DCIR_JOIN_KEYS",
    "DCIR_PRESTATION_TABLE",
    "ForeignKey",
    "PmsiFamily",
    "REGISTRY_SOURCE_NOTICE",
    "RegistryError",
    "TableSpec",
    "UnknownColumnError",
    "UnknownTableError",
    "YearRange",
    "canonical_type",
    "dcir_satellites",
    "get_table",
    "list_nomenclatures",
    "list_tables",
    "load_nomenclature",
    "pmsi_families",
    "resolve_file_stem",
]
