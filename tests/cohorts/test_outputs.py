"""What cohorts leave behind: ``marts.cohorts`` and ``marts.cohort_attrition`` (contracts,
carry-over, idempotent re-runs), the attrition and Table 1 through the release gate with their
flowcharts (no identifiers, small cells suppressed), and ``sndslab cohort build``."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

import sndslab
from sndslab.cli import main
from sndslab.cohorts import (
    build_cohort,
    read_attrition,
    read_cohort,
    release_attrition,
    run_build,
    write_cohorts,
)
from sndslab.errors import SndslabError


def test_write_read_and_rewrite(writable_lake: Path) -> None:
    with sndslab.open_lake(writable_lake) as lake:
        pop = build_cohort(lake, "population_65_plus")
        hip = build_cohort(lake, "hip_fracture_65_plus")
        want_pop, want_hip = pop.table, hip.table
        first = write_cohorts(lake, [pop, hip])
        assert read_cohort(lake, "population_65_plus").equals(want_pop)
        assert read_cohort(lake, "hip_fracture_65_plus").equals(want_hip)
        assert read_attrition(lake, "hip_fracture_65_plus").num_rows == hip.attrition.num_rows
        # a cohort written again replaces its rows; the other is carried over
        second = write_cohorts(lake, [hip])
        assert second == first + 1
        assert read_cohort(lake, "population_65_plus").equals(want_pop)
        assert read_cohort(lake, "hip_fracture_65_plus").equals(want_hip)
        counts = lake.con.fetchall(
            "SELECT cohort, count(*) FROM ("
            f"{lake.sql('SELECT * FROM marts.cohorts').native.sql_query()}) GROUP BY 1 ORDER BY 1"
        )
        assert counts == [("hip_fracture_65_plus", want_hip.num_rows),
                          ("population_65_plus", want_pop.num_rows)]  # fmt: skip
        with pytest.raises(SndslabError, match=r"no cohort 'unknown' in marts\.cohorts"):
            read_cohort(lake, "unknown")
        pop.drop()
        hip.drop()


def test_attrition_release_suppresses_and_draws(writable_lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "released"
    with sndslab.open_lake(writable_lake) as lake:
        users = build_cohort(lake, "new_users_benzodiazepines")
        result = release_attrition([users.attrition], out, lake=lake)
        released = result.tables[0].released().to_pylist()
        users.drop()
    true = {r["criterion"]: r for r in users.attrition.to_pylist()}
    assert any(0 < r["excluded"] < 11 or 0 < r["persons_after"] < 11 for r in true.values())
    for row in released:
        if row["persons"] is not None:
            assert row["persons"] == 0 or row["persons"] >= 11
    assert (out / "cohort_attrition_new_users_benzodiazepines_flowchart.png").read_bytes()[:4] == (
        b"\x89PNG"
    )
    for path in out.iterdir():
        if path.suffix in (".csv", ".md", ".json"):
            assert "P0" not in path.read_text(encoding="utf-8")  # no person id leaves
    assert pq.read_table(out / "cohort_attrition_new_users_benzodiazepines.parquet").num_rows == (
        1 + 2 * len(true)
    )


def test_run_build_of_a_comparison_releases_table_one(writable_lake: Path, tmp_path: Path) -> None:
    out = tmp_path / "rel"
    outcome = run_build("benzodiazepines_vs_zdrugs", writable_lake, release_dir=out)
    assert [c[0] for c in outcome.cohorts] == ["new_users_benzodiazepines", "new_users_zdrugs"]
    assert outcome.table_one is not None and outcome.release is not None
    names = {p.name for p in out.iterdir()}
    assert "description.md" in names and "table_one_benzodiazepines_vs_zdrugs_sex.csv" in names
    assert "# Comparison `benzodiazepines_vs_zdrugs`" in (out / "description.md").read_text()


def test_cli_cohort_build(
    writable_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["cohort", "build", "hip_fracture_65_plus", str(writable_lake)]) == 0
    text = capsys.readouterr().out
    assert "attrition" in text and "hip_fracture_65_plus" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nconcept_sets: {c: {codes: ['ATC//N05*']}}\nindex: {concept_set: c}\n"
        "observation: {study_start: 2019-01-01, study_end: 2020-12-31}\n"
        "inclusion: [{name: w, concept_set: c, window: [30, -30]}]\n",
        encoding="utf-8",
    )
    assert main(["cohort", "build", str(bad), str(writable_lake)]) == 2 - 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cohort spec {bad}: inclusion[0] 'w'.window")
    assert "Traceback" not in err and err.count("\n") == 1
    assert main(["cohort", "describe", "population_65_plus"]) == 0
    assert "# Cohort `population_65_plus`" in capsys.readouterr().out
