"""The release gate: the only way an aggregate leaves the lake.

``protect`` applies primary suppression (cells of fewer than ``threshold`` distinct persons,
11 by default, never lower) and secondary suppression (a cell-suppression MILP over every
additive relation of the table and of the tables released before it); ``attack`` plays the
adversary with linear programming; ``release`` does both, refuses unless the attack recovers
nothing, writes Parquet + CSV with a data dictionary, a README and an audit log into an atomic
output directory, and records the release in the lake's release log. ``risk_report`` measures
the re-identification risk of a row-level export (MEDS, OMOP) or a lake: uniqueness,
k-anonymity, and the least-loss coarsening that reaches k. See docs/release.md.

>>> import pyarrow as pa
>>> from sndslab.release import TableSpec, protect, attack
>>> spec = TableSpec.model_validate({"name": "demo", "count": "n", "dimensions": [
...     {"name": "sex", "levels": [{"column": "sex", "total": "0"}]},
...     {"name": "age", "levels": [{"column": "age_band", "total": "ALL"}]}]})
>>> t = pa.table({"sex": ["1", "1", "1", "2", "2", "2", "0", "0", "0"],
...               "age_band": ["0-64", "65+", "ALL"] * 3,
...               "n": [4, 30, 34, 20, 25, 45, 24, 55, 79]})
>>> p = protect(t, spec, threshold=11)
>>> p.released().column("n").to_pylist()
[None, None, 34, None, None, 45, 24, 55, 79]
>>> attack([p]).passed
True
"""

from __future__ import annotations

from sndslab.release._attack import AttackResult
from sndslab.release._log import ReleaseLog
from sndslab.release._protect import (
    STATUS_COLUMN,
    ProtectedTable,
    attack,
    protect,
)
from sndslab.release._risk import (
    DEFAULT_COMBINATIONS,
    SECURE_SPACE_NOTICE,
    Coarsening,
    CombinationRisk,
    RiskError,
    RiskMetrics,
    RiskReport,
    risk_report,
)
from sndslab.release._risk_qi import ATTRIBUTES, HIERARCHIES, RiskSourceError
from sndslab.release._spec import (
    DEFAULT_THRESHOLD,
    Dimension,
    IdentifierError,
    Level,
    Measure,
    ReleaseError,
    ReleaseRefusedError,
    TableSpec,
)
from sndslab.release._system import DEFAULT_MINIMUM, DEFAULT_RATIO, protection_levels
from sndslab.release._write import ReleaseResult, release

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "ATTRIBUTES",
    "AttackResult",
    "Coarsening",
    "CombinationRisk",
    "DEFAULT_COMBINATIONS",
    "DEFAULT_MINIMUM",
    "DEFAULT_RATIO",
    "DEFAULT_THRESHOLD",
    "Dimension",
    "HIERARCHIES",
    "IdentifierError",
    "Level",
    "Measure",
    "ProtectedTable",
    "ReleaseError",
    "ReleaseLog",
    "ReleaseRefusedError",
    "ReleaseResult",
    "RiskError",
    "RiskMetrics",
    "RiskReport",
    "RiskSourceError",
    "SECURE_SPACE_NOTICE",
    "STATUS_COLUMN",
    "TableSpec",
    "attack",
    "protect",
    "protection_levels",
    "release",
    "risk_report",
]
