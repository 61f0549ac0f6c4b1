"""The ConvSCCS screening end to end on the session's lake: signal table, marts.signals,
release through the gate with plots, truth scoring, the pluggable population, and bad input
(one clear message, empty intermediate results never crash)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import sndslab
from sndslab.cli import app
from sndslab.errors import SndslabError
from sndslab.lake import Lake
from sndslab.signals import (
    FALLS_STUDY,
    POPULATION_COLUMNS,
    SIGNAL_COLUMNS,
    Screening,
    StudySpec,
    benjamini_hochberg,
    default_population,
    release_signals,
    score_against_truth,
    screen,
    write_signals,
)


@pytest.fixture(scope="module")
def fitted(signals_lake: Path, small_study: StudySpec) -> Screening:
    with sndslab.open_lake(signals_lake) as lake:
        return Screening(small_study).fit(lake)


def test_signal_table(fitted: Screening, small_study: StudySpec) -> None:
    t = fitted.summary()
    assert t.schema == SIGNAL_COLUMNS
    assert fitted.n_drugs_ > 0 and fitted.converged_
    s = small_study.screening
    rows = t.to_pylist()
    per_drug = {r["atc"] for r in rows}
    assert len(per_drug) == fitted.n_drugs_
    lag_rows = [r for r in rows if r["kind"] == "lag"]
    assert len(lag_rows) == fitted.n_drugs_ * (s.lags + s.pre_lags)
    for r in rows:
        assert r["exposed_cases"] >= s.min_exposed_cases
        assert r["lower"] <= r["irr"] <= r["upper"]
        assert 0 <= r["q_value"] <= 1
    drugs = fitted.drugs_.to_pylist()
    assert sorted(d["rank"] for d in drugs) == list(range(1, len(drugs) + 1))
    q = benjamini_hochberg(np.array([d["p_value"] for d in drugs]))
    assert np.allclose(q, [d["q_value"] for d in drugs])
    # attrition adds up
    steps = {a["step"]: a for a in fitted.attrition_}
    assert steps["cases"]["kept"] + steps["cases"]["dropped"] == steps["population"]["kept"]
    candidate = fitted.to_release()
    assert candidate.count_column == "exposed_cases"
    assert "person_id" not in candidate.table.column_names


def test_benjamini_hochberg_properties() -> None:
    rng = np.random.default_rng(0)
    p = rng.random(50)
    q = benjamini_hochberg(p)
    assert np.all(q >= p - 1e-15) and np.all(q <= 1)
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= -1e-15)
    assert np.isnan(benjamini_hochberg(np.array([np.nan, 0.1]))[0])


def test_marts_release_and_rerun(signals_lake: Path, fitted: Screening, tmp_path: Path) -> None:
    lake_dir = tmp_path / "lake"
    shutil.copytree(signals_lake, lake_dir)
    with sndslab.open_lake(lake_dir) as lake:
        n = write_signals(lake, fitted)
        assert n == fitted.summary().num_rows
        assert write_signals(lake, fitted) == n  # a rerun replaces the study's rows
        assert lake.table("marts.signals").count() == n
        out = release_signals(lake, fitted.study.name, tmp_path / "released")
    files = {p.name for p in out.out_dir.iterdir()}
    assert f"signals_{fitted.study.name}.csv" in files and "figures" in files
    assert out.plots and all(p.suffix == ".png" for p in out.plots)
    released = (out.out_dir / f"signals_{fitted.study.name}.csv").read_text("utf-8")
    assert "person_id" not in released and "P0" not in released


def test_truth_scores(fitted: Screening, ingested_synth: tuple[Path, Path]) -> None:
    scores = score_against_truth(fitted, ingested_synth[0] / "truth")
    assert scores["injected"] == 12
    assert scores["screened_drugs"] == fitted.n_drugs_
    assert 0 <= scores["recall"] <= 1
    for fp in scores["false_positives"]:
        assert fp["biases"]
    json.dumps(scores)
    with pytest.raises(SndslabError, match="no truth manifest"):
        score_against_truth(fitted, ingested_synth[0] / "nowhere")


def test_pluggable_population(opened: Lake, small_study: StudySpec) -> None:
    def women_only(lake: Lake, study: StudySpec) -> Any:
        base = default_population(lake, study).to_arrow()
        pt = lake.sql("SELECT person_id FROM events.patients WHERE sex = 2").to_arrow()
        keep = pa.compute.is_in(base.column("person_id"), value_set=pt.column("person_id"))
        t = base.filter(keep)
        name = "_test_women"
        lake.con.register_arrow(name, t)
        return lake.con.sql(f"SELECT * FROM {name}")

    model = Screening(small_study, population=women_only)
    try:
        model.fit(opened)
    except SndslabError as e:  # few cases: an empty screening is a clear message
        assert "nothing to screen" in str(e) or "no case" in str(e)
    else:
        assert (
            model.attrition_[0]["kept"] < Screening(small_study).fit(opened).attrition_[0]["kept"]
        )

    def wrong(lake: Lake, study: StudySpec) -> Any:
        return lake.sql("SELECT person_id FROM events.patients")

    with pytest.raises(SndslabError, match="expected exactly"):
        Screening(small_study, population=wrong).fit(opened)

    def empty(lake: Lake, study: StudySpec) -> Any:
        cols = ", ".join(f"NULL AS {c}" for c in POPULATION_COLUMNS)
        return lake.con.sql(f"SELECT {cols} WHERE FALSE")

    with pytest.raises(SndslabError, match="no case"):
        Screening(small_study, population=empty).fit(opened)


def _variant(study: StudySpec, **changes: Any) -> StudySpec:
    data = study.model_dump(mode="json")
    for dotted, value in changes.items():
        node = data
        *path, last = dotted.split("__")
        for key in path:
            node = node[key]
        node[last] = value
    return StudySpec.parse(data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"outcome__diagnoses": ["ICD10//Z999*"]}, "no case"),
        ({"screening__min_exposed_cases": 100000}, "nothing to screen"),
        ({"exposures__atc": ["ATC//Z99*"]}, "nothing to screen"),
        ({"period": {"start": "2030-01-01", "end": "2030-12-31"}}, "no case"),
    ],
)
def test_bad_input_is_one_message(
    opened: Lake, small_study: StudySpec, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(SndslabError, match=message) as err:
        Screening(_variant(small_study, **changes)).fit(opened)
    assert "\n" not in str(err.value)


def test_cli_screen(signals_lake: Path, tmp_path: Path, ingested_synth: tuple[Path, Path]) -> None:
    lake_dir = tmp_path / "lake"
    shutil.copytree(signals_lake, lake_dir)
    study = tmp_path / "study.yaml"
    text = FALLS_STUDY.read_text("utf-8")
    text = text.replace(
        "period: {start: 2019-01-01, end: 2021-12-31}",
        "period: {start: 2019-01-01, end: 2020-12-31}",
    )
    study.write_text(text.replace("min_exposed_cases: 20", "min_exposed_cases: 5"), "utf-8")
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["screen", str(study), str(lake_dir), "--out", str(tmp_path / "rel"),
         "--truth", str(ingested_synth[0] / "truth")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "drugs screened" in res.output and (tmp_path / "rel" / "figures").is_dir()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace('"ICD10//S72*"', '"CIM//S72*"'), "utf-8")
    res = runner.invoke(app, ["screen", str(bad), str(lake_dir)])
    assert res.exit_code != 0
    assert "outcome.diagnoses" in res.output and "Traceback" not in res.output
    result = screen(study, lake_dir)
    assert result.released is None and result.rows > 0


def test_population_from_a_cohort(opened: Lake, small_study: StudySpec) -> None:
    """``population: {cohort: NAME}`` makes the study population that cohort's persons, each
    with its cohort observation (sndslab.cohorts)."""
    from sndslab.cohorts import build_cohort

    data = small_study.model_dump(mode="json")
    data["population"] = {"cohort": "population_65_plus"}
    study = StudySpec.parse(data)
    got = default_population(opened, study).to_arrow().sort_by("person_id")
    cohort = build_cohort(opened, "population_65_plus").table
    assert got.num_rows == cohort.num_rows > 0
    assert got.column("person_id").to_pylist() == sorted(cohort.column("person_id").to_pylist())
    assert set(got.column_names) == set(POPULATION_COLUMNS)
