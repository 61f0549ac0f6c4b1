"""Table families derived from the registry's foreign keys (DCIR prestation + satellites, PMSI
products), shared by ingest (quality rules) and events.

Derivation rules
----------------
DCIR
    The join key :data:`DCIR_JOIN_KEYS` is ER_PHA_F's foreign key to ER_PRS_F. A **DCIR
    satellite** is a table with a foreign key to ER_PRS_F on exactly those columns (on both
    sides). Its **code column** is the column of its one single-column foreign key to a
    ``REFERENTIEL`` table (ER_PHA_F.PHA_PRS_C13 → IR_PHA_R, ER_CAM_F.CAM_PRS_IDE → IR_CCAM_V63,
    ER_BIO_F.BIO_PRS_IDE → IR_BIO_R, ER_UCD_F.UCD_UCD_COD → NU_UCD_R); ``None`` if it has none
    (ER_ETE_F). Two such keys would be ambiguous and raise.
PMSI
    A product's **link table** (C, CSTC) is the PMSI table with a foreign key to the
    beneficiary referential IR_BEN_R (``NIR_ANO_17``). Its one foreign key to another PMSI
    table names the **parent** (stay) table and the family **key**. The **children** are the
    tables with a foreign key to the parent whose columns (on both sides) start with the key
    (SSR weekly tables reference ``(ETA_NUM, RHA_NUM, RHS_NUM)``); the **deciders** are the
    parent and the link table.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict

from sndslab.registry._errors import RegistryError
from sndslab.registry._loader import get_table, list_tables

#: The DCIR prestation table, parent of every satellite.
DCIR_PRESTATION_TABLE = "ER_PRS_F"
#: The beneficiary referential a PMSI link table points to.
_BENEFICIARIES = "IR_BEN_R"


def _dcir_join_keys() -> tuple[str, ...]:
    """The 9 columns joining ER_PRS_F to its satellites (from ER_PHA_F's foreign key)."""
    for fk in get_table("ER_PHA_F").foreign_keys:
        if fk.ref_table == DCIR_PRESTATION_TABLE:
            return tuple(fk.columns)
    raise RegistryError("ER_PHA_F has no foreign key to ER_PRS_F")  # pragma: no cover


#: The DCIR 9-column key between ER_PRS_F and every satellite (ER_PHA_F, ER_CAM_F, …).
DCIR_JOIN_KEYS: tuple[str, ...] = _dcir_join_keys()


@cache
def dcir_satellites() -> Mapping[str, str | None]:
    """DCIR satellites (sorted by name) and their code column (``None``: no code).

    >>> dict(dcir_satellites())["ER_PHA_F"]
    'PHA_PRS_C13'
    """
    out: dict[str, str | None] = {}
    for name in list_tables():
        spec = get_table(name)
        if not any(
            fk.ref_table == DCIR_PRESTATION_TABLE
            and fk.columns == DCIR_JOIN_KEYS
            and fk.ref_columns == DCIR_JOIN_KEYS
            for fk in spec.foreign_keys
        ):
            continue
        codes = [
            fk.columns[0]
            for fk in spec.foreign_keys
            if len(fk.columns) == 1 and get_table(fk.ref_table).product == "REFERENTIEL"
        ]
        if len(codes) > 1:
            raise RegistryError(f"DCIR satellite {name}: several code columns {codes}")
        out[name] = codes[0] if codes else None
    return MappingProxyType(dict(sorted(out.items())))


class PmsiFamily(BaseModel):
    """A PMSI product: its parent (stay) table, the tables whose rules decide for the whole
    stay, and the stay key (the partition year ``_year`` is always added: record numbers are
    unique per establishment and year only)."""

    model_config = ConfigDict(frozen=True)
    parent: str
    deciders: tuple[str, ...]
    children: tuple[str, ...]
    key: tuple[str, ...]


@cache
def pmsi_families() -> Mapping[str, PmsiFamily]:
    """PMSI products keyed by their parent table (sorted), children sorted by name.

    >>> pmsi_families()["T_MCOaaFASTC"].deciders
    ('T_MCOaaFASTC', 'T_MCOaaCSTC')
    """
    specs = [get_table(t) for t in list_tables()]
    pmsi = {s.name for s in specs if s.product.startswith("PMSI ")}
    out: dict[str, PmsiFamily] = {}
    for link in specs:
        if link.name not in pmsi or not any(
            fk.ref_table == _BENEFICIARIES for fk in link.foreign_keys
        ):
            continue
        ups = [fk for fk in link.foreign_keys if fk.ref_table in pmsi]
        if len(ups) != 1:
            raise RegistryError(f"PMSI link table {link.name}: expected one parent key, {ups}")
        parent, key = ups[0].ref_table, ups[0].columns
        if ups[0].ref_columns != key or parent in out:
            raise RegistryError(f"PMSI link table {link.name}: ambiguous parent {parent}")
        n = len(key)
        children = sorted(
            s.name
            for s in specs
            if any(
                fk.ref_table == parent and fk.columns[:n] == key and fk.ref_columns[:n] == key
                for fk in s.foreign_keys
            )
        )
        out[parent] = PmsiFamily(
            parent=parent,
            deciders=(parent, link.name),
            children=tuple(children),
            key=key,
        )
    return MappingProxyType(dict(sorted(out.items())))
