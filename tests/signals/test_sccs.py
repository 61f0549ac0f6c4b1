"""The standard SCCS on the session's lake: cells built in the engine, estimates equal to a
Poisson GLM with one fixed effect per case (statsmodels) to 1e-6 on every log relative
incidence; bad input is one clear message."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from sndslab.errors import SndslabError
from sndslab.lake import Lake
from sndslab.signals import SCCS, StudyData, StudySpec


def _most_bought(lake: Lake, study: StudySpec) -> str:
    data = StudyData(lake, study).build()
    try:
        rows = lake.con.fetchall(
            f"SELECT atc, count(DISTINCT person_id) n FROM {data.tables['purchases']} "
            "GROUP BY atc ORDER BY n DESC, atc LIMIT 1"
        )
    finally:
        data.drop_all()
    return str(rows[0][0])


def test_sccs_agrees_with_fixed_effects_glm(opened: Lake, small_study: StudySpec) -> None:
    atc = _most_bought(opened, small_study)
    model = SCCS(small_study, atc).fit(opened)
    est = model.summary().to_pylist()
    assert model.converged_ and model.n_exposed_cases_ > 0
    assert {r["term"] for r in est} >= {"window"}
    design = model.design_
    X, case, y, days = design["X"], design["case"], design["events"], design["days"]
    terms = model.design_terms_
    assert X.shape[1] == len(terms)
    with_events = np.isin(case, np.unique(case[y > 0]))
    X, case, y, days = X[with_events], case[with_events], y[with_events], days[with_events]
    dummies = (case[:, None] == np.unique(case)[None, :]).astype(np.float64)
    ref = sm.GLM(y, np.hstack([X, dummies]), family=sm.families.Poisson(), offset=np.log(days)).fit(
        tol=1e-13, maxiter=300
    )
    ours = np.array([r["log_irr"] for r in est if np.isfinite(r["log_irr"])])
    assert np.max(np.abs(ours - ref.params[: len(terms)])) < 1e-6
    release = model.to_release()
    assert release.count_column == "cases" and "person_id" not in release.table.column_names


def test_sccs_bad_input(opened: Lake, small_study: StudySpec) -> None:
    with pytest.raises(SndslabError, match="Z99ZZ99: no exposed case"):
        SCCS(small_study, "Z99ZZ99").fit(opened)
    data = small_study.model_dump(mode="json")
    data["outcome"]["diagnoses"] = ["ICD10//Z999*"]
    with pytest.raises(SndslabError, match="no case"):
        SCCS(StudySpec.parse(data), "N02BE01").fit(opened)
    with pytest.raises(SndslabError, match="confidence"):
        SCCS(small_study, "N02BE01", confidence=1.5).fit(opened)
