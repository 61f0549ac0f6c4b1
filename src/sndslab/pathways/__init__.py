"""Care pathways: sequences of care states around an index event (a hip-fracture stay of a
person 65+, a stroke stay), over windows after it, from declarative specs (``specs/*.yaml``).

>>> from sndslab.pathways import load_pathways
>>> [s.name for s in load_pathways()]
['hip_fracture_65', 'stroke']

``compute_pathways(lake)`` writes ``marts.pathways`` (the pathway tree by year and territory,
small branches merged into ``other``) and ``marts.pathway_accounting``; ``pathway_tables(lake)``
gives the two tables the gate releases (``pathways__transitions``, ``pathways__sequences``,
one linked gate name); ``sankey_figure`` and ``sunburst_figure`` draw a released table.
See docs/pathways.md.
"""

from __future__ import annotations

from sndslab.pathways._compute import (
    PathwayAccountingError,
    PathwayRun,
    PathwaysResult,
    computable_years,
    compute_pathways,
)
from sndslab.pathways._figures import (
    SECRET_LABEL,
    TreeNode,
    pathway_tree,
    sankey_figure,
    sunburst_figure,
    transition_columns,
)
from sndslab.pathways._outcomes import OUTCOMES, cohort_outcomes
from sndslab.pathways._release import (
    GATE_NAME,
    PathwayReleaseError,
    lake_has_pathways,
    pathway_tables,
    sequences_spec,
    transitions_spec,
)
from sndslab.pathways._spec import (
    OTHER,
    PathwaySpec,
    PathwaySpecError,
    load_pathways,
)

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "GATE_NAME",
    "OTHER",
    "OUTCOMES",
    "PathwayAccountingError",
    "PathwayReleaseError",
    "PathwayRun",
    "PathwaySpec",
    "PathwaySpecError",
    "PathwaysResult",
    "SECRET_LABEL",
    "TreeNode",
    "cohort_outcomes",
    "computable_years",
    "compute_pathways",
    "lake_has_pathways",
    "load_pathways",
    "pathway_tables",
    "pathway_tree",
    "sankey_figure",
    "sequences_spec",
    "sunburst_figure",
    "transition_columns",
    "transitions_spec",
]
