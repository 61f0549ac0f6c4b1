"""Open DAMIR, CNAM's public monthly aggregates of reimbursements: read the real files into the
lake (``opendamir.prestations``) and build the same product from a lake's DCIR claims through
the release gate. See docs/opendamir.md.

>>> from sndslab.opendamir import PUBLIC_COLUMNS
>>> PUBLIC_COLUMNS[0], len(PUBLIC_COLUMNS)
('FLX_ANN_MOI', 55)
"""

from __future__ import annotations

from sndslab.opendamir._export import OpenDamirExport, export_opendamir
from sndslab.opendamir._ingest import (
    OpenDamirFile,
    OpenDamirIngestResult,
    find_opendamir_files,
    ingest_opendamir,
)
from sndslab.opendamir._risk import risk_check
from sndslab.opendamir._schema import PUBLIC_COLUMNS, lexicon_table

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "OpenDamirExport",
    "OpenDamirFile",
    "OpenDamirIngestResult",
    "PUBLIC_COLUMNS",
    "export_opendamir",
    "find_opendamir_files",
    "ingest_opendamir",
    "lexicon_table",
    "risk_check",
]
