"""``sndslab cohort build SPEC LAKE``: build a cohort, a set operation or a comparison, write
it into the lake's marts, and optionally release its attrition (and Table 1) through the gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from sndslab._atomic import atomic_write_text
from sndslab._yaml import read_yaml_mapping
from sndslab.cohorts._attrition import release_attrition
from sndslab.cohorts._build import CohortResult, build_cohort
from sndslab.cohorts._describe import describe
from sndslab.cohorts._spec import CohortSpecError, Spec, load_cohort
from sndslab.cohorts._table_one import (
    ComparisonSpec,
    TableOne,
    load_comparison,
    table_one,
    table_one_tables,
)
from sndslab.cohorts._write import write_cohorts
from sndslab.engines import Engine
from sndslab.lake import open_lake
from sndslab.release import ReleaseResult

__all__ = ["BuildOutcome", "load_any", "run_build"]


@dataclass
class BuildOutcome:
    """What ``sndslab cohort build`` did."""

    spec: Spec | ComparisonSpec
    generation: int
    cohorts: list[tuple[str, int, int]]  # (name, persons, rows)
    attrition: pa.Table
    table_one: TableOne | None = None
    release: ReleaseResult | None = None
    notes: list[str] = field(default_factory=list)


def load_any(path_or_name: str | Path) -> Spec | ComparisonSpec:
    """A cohort, set operation or comparison spec (a comparison says ``kind: comparison``)."""
    path = Path(path_or_name)
    if path.is_file():
        raw = read_yaml_mapping(path, "cohort spec", CohortSpecError)
        if raw.get("kind") == "comparison":
            return load_comparison(path)
        return load_cohort(path)
    try:
        return load_cohort(path_or_name)
    except CohortSpecError:
        try:
            return load_comparison(path_or_name)
        except CohortSpecError:
            pass
        raise


def run_build(
    spec_path: str | Path,
    lake: str | Path,
    *,
    engine: str | Engine = "duckdb",
    release_dir: str | Path | None = None,
    overwrite: bool = False,
) -> BuildOutcome:
    """Build ``spec_path`` on ``lake``, write ``marts.cohorts`` and ``marts.cohort_attrition``;
    with ``release_dir``, release each cohort's attrition (and a comparison's Table 1) through
    the gate, with the flowcharts and the spec's description (``description.md``)."""
    spec = load_any(spec_path)
    with open_lake(lake, engine) as opened:
        results: list[CohortResult] = []
        try:
            specs = spec.group_specs() if isinstance(spec, ComparisonSpec) else [spec]
            results = [build_cohort(opened, s) for s in specs]
            generation = write_cohorts(opened, results)
            t1 = (
                table_one(opened, spec, {r.name: r for r in results})
                if isinstance(spec, ComparisonSpec)
                else None
            )
            every = [m for r in results for m in _members(r)]
            attrition = pa.concat_tables([m.attrition for m in every])
            released = None
            if release_dir is not None:
                extra = table_one_tables(t1, spec.name) if t1 is not None else []
                released = release_attrition(
                    [m.attrition for m in every], release_dir, lake=opened, extra=extra,
                    overwrite=overwrite,
                )  # fmt: skip
                atomic_write_text(Path(release_dir) / "description.md", describe(spec))
            return BuildOutcome(
                spec=spec,
                generation=generation,
                cohorts=[(m.name, m.persons, m.rows) for m in every],
                attrition=attrition,
                table_one=t1,
                release=released,
                notes=[n for m in every for n in m.notes],
            )
        finally:
            for r in results:
                r.drop()


def _members(result: CohortResult) -> list[Any]:
    out: list[Any] = []
    for m in result.members:
        out += _members(m)
    return [*out, result]
