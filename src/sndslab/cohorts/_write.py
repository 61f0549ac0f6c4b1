"""Write built cohorts into the lake: ``marts.cohorts`` and ``marts.cohort_attrition``, a new
generation of the ``marts`` layer published by one lake commit
(:func:`sndslab.lake.write_generation`). Rows of other cohorts and the other marts tables
(indicators...) are carried over from the previous generation; a cohort built again replaces
its rows (re-runs are idempotent).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from sndslab.cohorts._build import ATTRITION_SCHEMA, COHORT_COLUMNS, CohortResult
from sndslab.errors import SndslabError
from sndslab.lake import Lake, read_manifest, relation, write_generation

__all__ = ["COHORT_TABLES", "read_attrition", "read_cohort", "write_cohorts"]

#: The marts tables of this package.
COHORT_TABLES = ("cohorts", "cohort_attrition")


def _flatten(results: Sequence[CohortResult]) -> list[CohortResult]:
    """Every result and its members (set operations), each name once, members first."""
    out: dict[str, CohortResult] = {}

    def add(r: CohortResult) -> None:
        for m in r.members:
            add(m)
        out.setdefault(r.name, r)

    for r in results:
        add(r)
    return list(out.values())


def write_cohorts(
    lake: Lake, results: Sequence[CohortResult], *, notes: list[str] | None = None
) -> int:
    """Write ``results`` (and the members of set operations) into ``marts``; returns the new
    generation. Every result must have been built on ``lake``'s connection."""
    todo = _flatten(results)
    if not todo:
        raise SndslabError("no cohort to write")
    for r in todo:
        if r.lake.con is not lake.con:
            raise SndslabError(
                f"cohort {r.name!r} was built on another connection than {lake.root}"
            )
    con = lake.con
    names = [r.name for r in todo]
    att = pa.concat_tables([r.attrition for r in todo]).cast(ATTRITION_SCHEMA)
    att_name = f"_cohort_attrition_{abs(hash(tuple(names))) % 10**8}"
    con.register_arrow(att_name, att)
    cols = ", ".join(COHORT_COLUMNS)
    rows = " UNION ALL ".join(
        f"SELECT '{r.name}' AS cohort, {cols} FROM {r.relation}" for r in todo
    )
    inputs = {"events_generation": read_manifest(lake.paths, "events").generation}
    config = {"cohorts": {r.name: r.spec.model_dump(mode="json") for r in todo}}
    try:
        with write_generation(
            lake.paths, "marts", con, config=config, inputs=inputs, notes=notes, command="cohort"
        ) as w:
            w.write(
                "cohort_attrition",
                " UNION ALL ".join(
                    [f"SELECT * FROM {att_name}", *w.kept_rows("cohort_attrition", "cohort", names)]
                ),
                order_by=["cohort", "step"],
            )
            total = w.write(
                "cohorts",
                " UNION ALL ".join([rows, *w.kept_rows("cohorts", "cohort", names)]),
                order_by=["cohort", "person_id", "index_date"],
            )
            w.carry_rest()
            w.counts.update(
                {"cohorts": {r.name: {"persons": r.persons, "rows": r.rows} for r in todo}}
            )
            w.counts["cohorts_rows"] = total
            generation: int = w.generation
    finally:
        con.drop(att_name)
    return generation


def read_cohort(lake: Lake, name: str) -> pa.Table:
    """The rows of cohort ``name`` written in ``marts.cohorts`` (:data:`COHORT_COLUMNS`)."""
    rel = relation(lake.con, lake.paths, "marts.cohorts")
    lit = "'" + name.replace("'", "''") + "'"
    table = lake.con.sql(
        f"SELECT {', '.join(COHORT_COLUMNS)} FROM {rel} WHERE cohort = {lit} "
        "ORDER BY person_id, index_date"
    ).to_arrow()
    if table.num_rows == 0:
        att = relation(lake.con, lake.paths, "marts.cohort_attrition")
        known = [r[0] for r in lake.con.fetchall(f"SELECT DISTINCT cohort FROM {att} ORDER BY 1")]
        if name not in known:
            raise SndslabError(
                f"{lake.root} has no cohort {name!r} in marts.cohorts (written: "
                f"{', '.join(known) or 'none'}): run `sndslab cohort build SPEC {lake.root}`"
            )
    return table


def read_attrition(lake: Lake, name: str) -> pa.Table:
    """The attrition of cohort ``name`` written in ``marts.cohort_attrition``."""
    rel = relation(lake.con, lake.paths, "marts.cohort_attrition")
    lit = "'" + name.replace("'", "''") + "'"
    return lake.con.sql(f"SELECT * FROM {rel} WHERE cohort = {lit} ORDER BY step").to_arrow()
