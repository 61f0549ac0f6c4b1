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
    "ForeignKey",
    "REGISTRY_SOURCE_NOTICE",
    "RegistryError",
    "TableSpec",
    "UnknownColumnError",
    "UnknownTableError",
    "YearRange",
    "canonical_type",
    "get_table",
    "list_nomenclatures",
    "list_tables",
    "load_nomenclature",
    "resolve_file_stem",
]


def _dcir_join_keys() -> tuple[str, ...]:
    """The 9 columns joining ER_PRS_F to its satellites (from ER_PHA_F's foreign key)."""
    for fk in get_table("ER_PHA_F").foreign_keys:
        if fk.ref_table == "ER_PRS_F":
            return tuple(fk.columns)
    raise RegistryError("ER_PHA_F has no foreign key to ER_PRS_F")  # pragma: no cover


#: The DCIR 9-column key between ER_PRS_F and every satellite (ER_PHA_F, ER_CAM_F, …).
DCIR_JOIN_KEYS: tuple[str, ...] = _dcir_join_keys()
