"""Which staged tables each ``int`` table and each quality rule needs, and what an extract
without them means.

A table can be absent from an extract for two reasons, and they are not the same:

- **not in the extract**: none of the staged tables an ``int`` table holds rows of was staged
  (an extract without SSR files has no ``int.ssr_stays``; one without ``T_HADaaA`` no
  ``int.had_acts``). Nothing is lost: there is nothing to build. Recorded in the ``int``
  manifest (``counts["sources"]["absent"]``) so that the event extractors reading such a table
  are skipped with that reason.
- **missing**: a table the extract does hold rows for cannot be built or decided because
  another staged table it needs is absent (``T_MCOaaB`` staged without its link table
  ``T_MCOaaC``: every MCO stay would be dropped; ``ER_PRS_F`` staged without ``ER_ETE_F``: the
  rule ``dcir_public_t2a_duplicates`` could not exclude anything). That is an error
  (:class:`sndslab.errors.MissingSourceError`) naming the missing tables and what needs them,
  unless the user allows it explicitly (``--allow-missing TABLE`` or
  ``--allow-missing-tables``); then the gap is recorded in the manifest
  (``counts["sources"]["allowed_missing"]``) and printed by the command.

>>> sorted(missing_for({"T_MCOaaB", "IR_BEN_R"}, rules=[]))
['T_MCOaaC']
>>> absent_tables({"IR_BEN_R", "ER_PRS_F"})["mco_stays"]["reason"]
'not_in_extract'
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sndslab.errors import MissingSourceError
from sndslab.ingest._intermediate import ref_name, ref_tables
from sndslab.ingest._rules import QualityRule
from sndslab.registry import list_tables

__all__ = [
    "INT_SOURCES",
    "absent_tables",
    "check_sources",
    "is_allowed",
    "missing_for",
    "rule_sources",
    "source_counts",
]

_MCO = ("T_MCOaaB", "T_MCOaaC")
_SSR = ("T_SSRaaB", "T_SSRaaC")
_HAD = ("T_HADaaB", "T_HADaaC")
_RIP = ("T_RIPaaRSA", "T_RIPaaC")

#: ``int`` table → (staged tables it holds rows of, staged tables it needs besides). When none
#: of the first is staged the table is not in the extract; when one is, every table of the
#: second must be staged too. Mirrors the builders of :mod:`sndslab.ingest._intermediate`
#: (``tests/events/test_missing_sources.py`` checks the two agree). ``ref_<table>`` tables
#: hold the rows of their referential and need nothing else.
INT_SOURCES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "dcir_prestations": (("ER_PRS_F",), ()),
    "dcir_pharmacy": (("ER_PHA_F",), ("ER_PRS_F",)),
    "dcir_acts": (("ER_CAM_F",), ("ER_PRS_F",)),
    "dcir_biology": (("ER_BIO_F",), ("ER_PRS_F",)),
    "dcir_ucd": (("ER_UCD_F",), ("ER_PRS_F",)),
    "mco_stays": (_MCO, _MCO),
    "mco_diagnoses": ((*_MCO, "T_MCOaaD", "T_MCOaaUM"), _MCO),
    "mco_acts": (("T_MCOaaA",), _MCO),
    "ace_visits": (
        ("T_MCOaaFCSTC", "T_MCOaaFBSTC", "T_MCOaaFMSTC"),
        ("T_MCOaaFASTC", "T_MCOaaCSTC"),
    ),
    "ssr_stays": (_SSR, _SSR),
    "ssr_diagnoses": (("T_SSRaaB", "T_SSRaaD"), _SSR),
    "ssr_acts": (("T_SSRaaCCAM", "T_SSRaaCSARR"), _SSR),
    "had_stays": (_HAD, _HAD),
    "had_diagnoses": (("T_HADaaB", "T_HADaaD"), _HAD),
    "had_acts": (("T_HADaaA",), _HAD),
    "rip_stays": (_RIP, _RIP),
    "rip_diagnoses": (("T_RIPaaRSA",), _RIP),
    "ald": (("IR_IMB_R",), ()),
    "deaths": (("KI_CCI_R",), ()),
    "death_causes": (("KI_ECD_R",), ()),
    "practitioners": (("DA_PRA_R",), ()),
    "establishments": (("BE_IDE_R",), ()),
}


def _sources(int_table: str) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    if int_table in INT_SOURCES:
        return INT_SOURCES[int_table]
    if int_table.startswith("ref_"):
        name = int_table[4:].upper()
        if name in set(list_tables()):
            return (name,), ()
    return None


def rule_sources(rule: QualityRule) -> tuple[str, ...]:
    """The staged tables ``rule`` reads besides its own tables: a ``join`` rule's
    ``join_table`` (its decision is made on that table's rows)."""
    if rule.kind == "join":
        return (str(rule.params["join_table"]),)
    return ()


def missing_for(staged: Collection[str], rules: Iterable[QualityRule]) -> dict[str, list[str]]:
    """Staged tables that are missing → what needs them (``int.<table>``, ``rule <name>``):
    an ``int`` table whose rows the extract holds, or an enabled rule applying to a staged
    table, whose other source is not staged."""
    have = set(staged)
    out: dict[str, list[str]] = {}
    for name, (rows_from, needs) in INT_SOURCES.items():
        if have & set(rows_from):
            for table in needs:
                if table not in have:
                    out.setdefault(table, []).append(f"int.{name}")
    for rule in rules:
        if rule.enabled and have & set(rule.table):
            for table in rule_sources(rule):
                if table not in have:
                    out.setdefault(table, []).append(f"rule {rule.name}")
    return {t: sorted(v) for t, v in sorted(out.items())}


def absent_tables(staged: Collection[str]) -> dict[str, dict[str, Any]]:
    """Every ``int`` table of :data:`INT_SOURCES` (and ``ref_<table>`` of every registry
    referential) the staged tables cannot build, with why: ``{"reason": "not_in_extract",
    "tables": [...]}`` (none of the tables it holds rows of was staged) or
    ``{"reason": "missing_sources", "missing": [...]}``."""
    have = set(staged)
    out: dict[str, dict[str, Any]] = {
        ref_name(t): {"reason": "not_in_extract", "tables": [t]}
        for t in ref_tables(list_tables())
        if t not in have
    }
    for name, (rows_from, needs) in INT_SOURCES.items():
        if not have & set(rows_from):
            out[name] = {"reason": "not_in_extract", "tables": list(rows_from)}
        elif set(needs) - have:
            out[name] = {"reason": "missing_sources", "missing": sorted(set(needs) - have)}
    return out


def is_allowed(names: Iterable[str], allow: Collection[str] | bool) -> bool:
    """Whether the user allowed any of ``names`` to be missing (``True``: every table).
    Names compare case-insensitively, with or without their ``int.`` prefix.

    >>> is_allowed(["int.mco_stays", "T_MCOaaC"], {"t_mcoaac"}), is_allowed(["x"], ())
    (True, False)
    """
    if allow is True:
        return True
    if allow is False:
        return False
    allowed = {a.casefold().removeprefix("int.") for a in allow}
    return any(n.casefold().removeprefix("int.") in allowed for n in names)


def check_sources(
    staged: Collection[str], rules: Iterable[QualityRule], allow: Collection[str] | bool = ()
) -> dict[str, list[str]]:
    """The missing staged tables the user allowed (→ what needs them); raise
    :class:`MissingSourceError` naming every other one and what needs it."""
    gaps = missing_for(staged, rules)
    refused = {t: who for t, who in gaps.items() if not is_allowed([t], allow)}
    if refused:
        parts = "; ".join(f"{t} (needed by {', '.join(who)})" for t, who in refused.items())
        flags = " ".join(f"--allow-missing {t}" for t in refused)
        raise MissingSourceError(
            f"missing source table(s): {parts}; add their raw files, or build without "
            f"them with {flags} (or --allow-missing-tables): the gap is then recorded"
        )
    return gaps


def source_counts(
    staged: Collection[str], allowed: dict[str, list[str]], built: Collection[str]
) -> dict[str, Any]:
    """The ``sources`` section of the ``int`` manifest's counts: the ``int`` tables not built
    and why (:func:`absent_tables`), and the missing staged tables the user allowed."""
    absent = {t: why for t, why in absent_tables(staged).items() if t not in set(built)}
    return {"absent": absent, "allowed_missing": allowed}
