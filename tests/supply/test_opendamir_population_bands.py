"""Property: whatever age bands the population file lacks, every kept Open DAMIR line is in the
numerator of its région and of France (``OpenDamirIndicators``); the standardised rate is NULL
exactly where a band of the région has no population."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sndslab
from sndslab.supply import OPENDAMIR_AGE_BANDS, OpenDamirIndicators, PopulationFile

REGIONS = ("11", "84", "93")


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    missing=st.sets(st.tuples(st.sampled_from(REGIONS), st.sampled_from(OPENDAMIR_AGE_BANDS))),
    acts=st.lists(
        st.tuples(
            st.sampled_from(REGIONS),
            st.sampled_from(OPENDAMIR_AGE_BANDS),
            st.sampled_from((1, 2)),
            st.integers(0, 50),
        ),
        min_size=1,
        max_size=30,
    ),
)
def test_every_kept_act_is_counted_whatever_bands_the_population_lacks(
    tmp_path_factory: Any, missing: set[tuple[str, int]], acts: list[tuple[str, int, int, int]]
) -> None:
    root: Path = tmp_path_factory.mktemp("bands")
    rows = [
        {"territory": r, "year": 2019, "age_band": b, "sex": s, "population": 100.0}
        for r in REGIONS
        for b in OPENDAMIR_AGE_BANDS
        for s in (1, 2)
        if (r, b) not in missing
    ]
    if not {r for r, *_ in acts} <= {row["territory"] for row in rows}:
        return  # a région of the data with no population at all is an error (tested elsewhere)
    pop = PopulationFile.model_validate(
        {"source": "property test", "territory_level": "region", "rows": rows}
    )
    (root / "population.csv").write_text(pop.to_csv(), encoding="utf-8")
    lines = pa.table(
        {
            "SOI_ANN": pa.array([2019] * len(acts), pa.int64()),
            "SOI_MOI": pa.array([1] * len(acts), pa.int64()),
            "BEN_RES_REG": pa.array([int(r) for r, *_ in acts], pa.int64()),
            "AGE_BEN_SNDS": pa.array([b for _, b, _, _ in acts], pa.int64()),
            "BEN_SEX_COD": pa.array([s for _, _, s, _ in acts], pa.int64()),
            "PRS_NAT": pa.array([1111] * len(acts), pa.int64()),
            "PSE_SPE_SNDS": pa.array([1] * len(acts), pa.int64()),
            "PRS_ACT_QTE": pa.array([n for *_, n in acts], pa.int64()),
            "PRS_REM_MNT": pa.array([n * 17.5 for *_, n in acts], pa.float64()),
        }
    )
    (root / "lines").mkdir()
    pq.write_table(lines, root / "lines" / "part-0.parquet")
    sndslab.open_lake(root / "lake", create=True).close()
    with sndslab.open_lake(root / "lake") as lake:
        fit = OpenDamirIndicators(
            only=["gp_consultations", "reimbursed_amount"],
            population=root / "population.csv",
            table=root / "lines",
        ).fit(lake)
    out = {(r["indicator"], r["territory"]): r for r in fit.table_.to_pylist()}
    for name, per_act in (("gp_consultations", 1.0), ("reimbursed_amount", 17.5)):
        for region in {row["territory"] for row in rows}:
            expected = sum(n for r, _, _, n in acts if r == region) * per_act
            row = out[(name, region)]
            assert row["numerator"] == expected
            assert (row["std_rate"] is None) == any(
                (region, b) in missing for b in OPENDAMIR_AGE_BANDS
            )
        assert out[(name, "FR")]["numerator"] == sum(n for *_, n in acts) * per_act
