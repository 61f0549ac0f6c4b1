"""The pathways of the session's synthetic lake (2,000 persons × 2019–2020): counts add up,
every merged branch is accounted, the released tables pass the gate's attack and carry no
identifier, the figures are drawn from the released tables only, and the CLI wires them."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import sndslab
from sndslab.cli import main
from sndslab.pathways import (
    PathwaysResult,
    pathway_tables,
    pathway_tree,
    sankey_figure,
    sunburst_figure,
    transition_columns,
)
from sndslab.release import attack, release


def _sql(lake: Path, query: str) -> list[dict]:
    with sndslab.open_lake(lake) as opened:
        return opened.sql(query).to_arrow().to_pylist()


def test_every_cohort_person_in_exactly_one_sequence(
    pathways_lake: tuple[Path, PathwaysResult],
) -> None:
    lake, result = pathways_lake
    assert result.years == (2019,)
    for run in result.runs:
        assert run.index_events == run.cohort + sum(run.excluded.values())
        assert run.cohort > 0, run
        rows = _sql(
            lake,
            f"""SELECT depth, geo_level, sum(persons) AS n FROM marts.pathways
            WHERE pathway = '{run.name}' GROUP BY depth, geo_level""",
        )
        # every depth sums to the cohort at every geographic level (one leaf per person)
        assert {(r["depth"], r["geo_level"]): r["n"] for r in rows} == {
            (d, g): run.cohort for d in range(4) for g in ("france", "region", "departement")
        }


def test_merged_branches_are_accounted(pathways_lake: tuple[Path, PathwaysResult]) -> None:
    lake, result = pathways_lake
    acc = _sql(lake, "SELECT * FROM marts.pathway_accounting")
    for run in result.runs:
        items = {r["item"]: r["persons"] for r in acc if r["pathway"] == run.name}
        assert items["merged_branches"] == run.merged_branches
        other = _sql(
            lake,
            f"""SELECT count(*) AS n FROM marts.pathways WHERE pathway = '{run.name}'
            AND geo_level = 'france' AND state = 'other'""",
        )[0]["n"]
        # a branch merged at some window shows up as an "other" node (and no other node is
        # below the threshold in France, except "other" itself)
        assert (other > 0) == (run.merged_branches > 0)
        small = _sql(
            lake,
            f"""SELECT count(*) AS n FROM marts.pathways WHERE pathway = '{run.name}'
            AND geo_level = 'france' AND depth > 0 AND state <> 'other' AND persons < 11""",
        )[0]["n"]
        assert small == 0


def test_release_passes_the_attack_without_identifiers(
    pathways_lake: tuple[Path, PathwaysResult], tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(pathways_lake[0], lake)
    result = release(pathway_tables(lake), tmp_path / "out", lake=lake)
    assert result.audit["attack"]["passed"]
    assert attack(result.tables).passed
    out = tmp_path / "out"
    persons = {r["person_id"] for r in _sql(lake, "SELECT person_id FROM events.patients")}
    for name in ("pathways__transitions", "pathways__sequences"):
        table = pq.read_table(out / f"{name}.parquet")
        small = pc.and_(pc.greater(table["persons"], 0), pc.less(table["persons"], 11))
        assert not pc.any(small).as_py()
        text = (out / f"{name}.csv").read_text("utf-8")
        assert not persons & set(re.findall(r"P[0-9a-f]{16}", text))
        assert not re.search(r"person_id|PFS_|ETA_NUM|NIR", text)
    # the figures are drawn from the released table only; a suppressed branch is never a 0
    released = pq.read_table(out / "pathways__transitions.parquet")
    cohorts = {r.name: r.cohort for r in pathways_lake[1].runs}
    for name in ("hip_fracture_65", "stroke"):
        nodes = pathway_tree(released, name)
        if cohorts[name] < 11:  # the whole cohort is secret: nothing is drawn
            assert nodes == []
            assert "secret" in sankey_figure(out, name).layout.annotations[0].text
            continue
        assert nodes[0].path == "ALL"
        top = nodes[0].persons
        assert sum(n.persons for n in nodes if n.depth == 1) == top
        assert all(n.persons > 0 for n in nodes)
        fig = sankey_figure(out, name, lang="en")
        assert fig.data[0].type == "sankey"
        assert sunburst_figure(released, name).data[0].type == "sunburst"
    derived = transition_columns(released)
    assert set(derived.column("from_window").drop_null().to_pylist()) <= {
        "index", "d0_30", "d31_90"
    }  # fmt: skip


def test_cli_pathways_then_release_holds_both(
    pathways_lake: tuple[Path, PathwaysResult], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(pathways_lake[0], lake)
    assert main(["pathways", str(lake), "--only", "hip_fracture_65"]) == 0
    assert "marts.pathways (generation" in capsys.readouterr().out
    assert main(["indicators", str(lake), "--only", "mortality"]) == 0
    assert main(["release", str(lake), "--out", str(tmp_path / "rel")]) == 0
    files = {p.name for p in (tmp_path / "rel").iterdir()}
    assert {"pathways__transitions.parquet", "mortality__territory_sex.parquet"} <= files
    # a year without pathways (2020 cannot be followed 365 days): the indicators alone
    assert main(["release", str(lake), "--out", str(tmp_path / "rel20"), "--years", "2020"]) == 0
    files = {p.name for p in (tmp_path / "rel20").iterdir()}
    assert "mortality__territory_sex.parquet" in files
    assert "pathways__transitions.parquet" not in files
    assert main(["pathways", str(lake), "--only", "nope"]) != 0
    assert "unknown pathway" in capsys.readouterr().err
