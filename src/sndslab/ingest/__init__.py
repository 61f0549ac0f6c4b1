"""Ingest raw SNDS extracts into a typed, validated lake.

``ingest(raw_dir, lake)`` runs the whole chain; each step is also public:

1. ``stage``: discover raw files, recognise their table and year, type every column to the
   registry's canonical type and account for every row: ``lake/stg/<TABLE>/year=<YYYY|none>/``
   (typed Parquet), ``lake/quarantine/<TABLE>/`` (rows that could not be typed, with the
   reason) and ``lake/_state/files.json`` (incremental state);
2. ``apply_rules``: the named quality rules (``load_rules``, one YAML spec per rule with its
   source), each row charged to the first rule it matches (steps 2–4 are one generation of
   the ``int`` layer, :func:`build_int`, committed only when all succeed);
3. ``resolve_persons``: one ``person_id`` per person from BEN_NIR_PSA + BEN_RNG_GEM,
   BEN_NIR_ANO / BEN_IDT_ANO and the PMSI NIR_ANO_17;
4. ``build_intermediate``: the ``int.*`` tables (DCIR claims with their satellites, PMSI stays
   with diagnoses and acts, ALD, deaths and their causes, practitioners, establishments,
   referentials ``ref_*``), each checked against its contract;
5. ``write_report``: ``lake/_reports/ingest.json`` and ``ingest.md`` — per table and file,
   rows in = kept + filtered per rule + quarantined per reason (checked), with the run's date,
   version, engine, input hash and seconds per phase, totals and a glossary
   (``build_report`` builds the dict, ``render_markdown`` its Markdown; both pure).
"""

from __future__ import annotations

from sndslab.ingest._accounting import FileAccount
from sndslab.ingest._discover import RawFile, discover
from sndslab.ingest._identity import IdentityResult, link_pmsi, resolve_persons
from sndslab.ingest._intermediate import INT_TABLES, build_intermediate, join_loss
from sndslab.ingest._pipeline import IngestResult, IntResult, build_int, ingest
from sndslab.ingest._report import (
    AccountingMismatchError,
    build_report,
    render_markdown,
    write_report,
)
from sndslab.ingest._rules import QualityRule, RuleCounts, apply_rules, load_rules
from sndslab.ingest._stage import StageResult, stage, stage_file

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "AccountingMismatchError",
    "FileAccount",
    "INT_TABLES",
    "IdentityResult",
    "IngestResult",
    "IntResult",
    "QualityRule",
    "RawFile",
    "RuleCounts",
    "StageResult",
    "apply_rules",
    "build_int",
    "build_intermediate",
    "build_report",
    "discover",
    "ingest",
    "join_loss",
    "link_pmsi",
    "load_rules",
    "render_markdown",
    "resolve_persons",
    "stage",
    "stage_file",
    "write_report",
]
