"""Which extractors can run on a lake, and what to do about the ``int`` tables they miss.

An extractor whose **source** table is *not in the extract* (the ``int`` manifest records
why each ``int`` table was not built, ``counts["sources"]["absent"]``: none of the staged
tables it holds rows of was staged, e.g. no SSR file at all) is skipped with that reason:
there is nothing to extract. Any other absent table — its source though the extract holds its
rows (``T_MCOaaC`` missing at ingest), a join table, a dataset deleted from the lake — is a
*missing* table: :class:`sndslab.errors.MissingSourceError` names the tables and the
extractors that need them, unless the user allows the gap (``allow_missing``: table names,
``int.`` prefix optional, or the staged table a missing ``int`` table lacks; ``True`` for
every table). Allowed gaps are recorded in the events manifest (``counts["missing_sources"]``
and ``notes``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sndslab.errors import MissingSourceError
from sndslab.events._patients import PATIENT_SOURCES
from sndslab.events._spec import ExtractorSpec, tables_of
from sndslab.lake import LakePaths, dataset_paths, has_manifest, read_manifest

__all__ = ["SourcePlan", "plan_sources"]


@dataclass
class SourcePlan:
    """``skip``: extractor name → why it does not run; ``missing``: ``int`` table → what
    needs it and why it is missing (the allowed gaps); ``not_in_extract``: extractor names;
    ``absent``: the tables of :data:`PATIENT_SOURCES` the patients table goes without."""

    skip: dict[str, str] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)
    missing: dict[str, dict[str, Any]] = field(default_factory=dict)
    not_in_extract: list[str] = field(default_factory=list)

    def notes(self) -> list[str]:
        return [
            f"missing int table {t} allowed: {why['why']}; extractor(s) "
            f"{', '.join(why['extractors'])} skipped"
            for t, why in self.missing.items()
        ]


def _allowed(names: Iterable[str], allow: Collection[str] | bool) -> bool:
    """Whether ``allow`` accepts any of ``names`` (case-insensitive, ``int.`` optional).

    >>> _allowed(["int.mco_stays", "T_MCOaaC"], ["MCO_STAYS"]), _allowed(["x"], True)
    (True, True)
    """
    if isinstance(allow, bool):
        return allow
    wanted = {a.casefold().removeprefix("int.") for a in allow}
    return any(n.casefold().removeprefix("int.") in wanted for n in names)


def _present(paths: LakePaths, name: str) -> bool:
    found = dataset_paths(paths, name)
    return bool(found) and all(paths.storage.exists(p) for p in found or [])


def _why(paths: LakePaths, name: str, absent: dict[str, Any], generation: int) -> tuple[str, list]:
    """Why ``int.<table>`` is missing, and the staged tables it lacks (may be empty)."""
    table = name.removeprefix("int.")
    info = absent.get(table)
    found = dataset_paths(paths, name)
    if found:
        return f"{name}: its dataset {found[0]} is missing from the lake", []
    if info and info.get("reason") == "missing_sources":
        lacks = list(info.get("missing", []))
        return f"{name} was not built: {', '.join(lacks)} not staged", lacks
    if info and info.get("reason") == "not_in_extract":
        tables = list(info.get("tables", []))
        return f"{name} is not in the extract (no {', '.join(tables)} staged)", []
    return f"{name} is absent from int generation {generation}", []


def plan_sources(
    paths: LakePaths, specs: list[ExtractorSpec], allow: Collection[str] | bool = ()
) -> SourcePlan:
    """Decide, before anything runs, which extractors run, which are skipped and why; raise
    :class:`MissingSourceError` for missing tables not allowed (see the module docstring)."""
    manifest = read_manifest(paths, "int") if has_manifest(paths, "int") else None
    sources = (manifest.counts.get("sources") or {}) if manifest is not None else {}
    absent: dict[str, Any] = sources.get("absent", {})
    generation = manifest.generation if manifest is not None else 0
    plan = SourcePlan()
    needed: dict[str, dict[str, Any]] = {}
    for spec in specs:
        lacking = [t for t in tables_of(spec) if not _present(paths, t)]
        if not lacking:
            continue
        own = absent.get(spec.source, {})
        if f"int.{spec.source}" in lacking and own.get("reason") == "not_in_extract":
            tables = ", ".join(own.get("tables", []))
            plan.skip[spec.name] = f"not in the extract: no {tables} staged"
            plan.not_in_extract.append(spec.name)
            continue
        for name in lacking:
            entry = needed.setdefault(name, {"extractors": []})
            entry["why"], entry["lacks"] = _why(paths, name, absent, generation)
            entry["extractors"].append(spec.name)
        plan.skip[spec.name] = f"missing (allowed): {', '.join(lacking)}"
    for name, gives in PATIENT_SOURCES.items():  # the patients table's optional sources
        if _present(paths, name):
            continue
        plan.absent.add(name)
        info = absent.get(name.removeprefix("int."), {})
        if info.get("reason") != "not_in_extract":
            entry = needed.setdefault(name, {"extractors": []})
            entry["why"], entry["lacks"] = _why(paths, name, absent, generation)
            entry["extractors"].append(f"patients ({gives})")
    refused = {t: e for t, e in needed.items() if not _allowed([t, *e["lacks"]], allow)}
    if refused:
        parts = "; ".join(
            f"{e['why']} (needed by {', '.join(e['extractors'])})" for e in refused.values()
        )
        flags = " ".join(f"--allow-missing {t}" for t in refused)
        raise MissingSourceError(
            f"missing int table(s): {parts}; rebuild them with `sndslab ingest`, or extract "
            f"without them with {flags} (or --allow-missing-tables): the gap is then recorded"
        )
    plan.missing = {t: {"why": e["why"], "extractors": e["extractors"]} for t, e in needed.items()}
    return plan
