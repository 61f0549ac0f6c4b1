"""Issue 10 item 10: the care-year flow window, fictitious-NIR keys kept as claims attached to
no person, and the ingest report lines for them (rule counts against the truth are in
``test_rules.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sndslab.engines import get_engine
from sndslab.ingest._identity import FICTITIOUS_CDI_NIR
from sndslab.ingest._pipeline import build_int
from sndslab.lake import LakePaths, open_lake

LakeReader = Any  # conftest.LakeReader (tests are not a package)
FICT = ", ".join(f"'{c}'" for c in FICTITIOUS_CDI_NIR)


@pytest.fixture(scope="module")
def built(ingested_synth: tuple[Path, Path]) -> tuple[Path, Path, dict[str, int]]:
    out, lake = ingested_synth
    counts = json.loads((out / "truth" / "manifest.json").read_text())["counts"]
    return out, lake, counts


def _report(lake: Path) -> dict[str, Any]:
    return open_lake(lake).report


def test_flow_window_is_the_care_year_plus_six_months(synth_lake: LakeReader) -> None:
    """Kept lines have their flow by June of the year after the care year; lines whose flow
    comes more than 6 months after the care month are kept when they fall in that window
    (the old rule, which mirrored the generator, dropped them all)."""
    clean = synth_lake["int.clean__ER_PRS_F"]
    outside, later_than_6_months, total = synth_lake.one(
        f"""SELECT count(*) FILTER (WHERE FLX_DIS_DTD > make_date(year(EXE_SOI_DTD) + 1, 6, 1)),
                   count(*) FILTER (WHERE FLX_DIS_DTD > date_trunc('month', EXE_SOI_DTD)
                                                        + INTERVAL 6 MONTH),
                   count(*) FROM {clean}"""
    )
    assert outside == 0
    assert isinstance(total, int) and total > 0
    assert isinstance(later_than_6_months, int) and 0 < later_than_6_months < 0.02 * total


def test_claim_lag_is_realistic(synth_lake: LakeReader) -> None:
    """Most claims reach the flow of the month after the care; ≥ 98 % within 6 months; a
    long tail (the generator's processing delay, not the ingest window)."""
    stg = synth_lake["stg.ER_PRS_F"]
    first, six, tail = synth_lake.one(
        f"""WITH l AS (SELECT 12 * (year(FLX_DIS_DTD) - year(EXE_SOI_DTD))
                          + month(FLX_DIS_DTD) - month(EXE_SOI_DTD) AS lag
                   FROM {stg} WHERE EXE_SOI_DTD <= FLX_DIS_DTD AND BSE_REM_SGN = 1)
            SELECT avg(CAST(lag = 1 AS INT)), avg(CAST(lag <= 6 AS INT)), max(lag) FROM l"""
    )
    assert 0.6 < float(first) < 0.95  # type: ignore[arg-type]
    assert float(six) >= 0.98  # type: ignore[arg-type]
    assert int(tail) > 12  # type: ignore[call-overload]


def test_fictitious_nir_keys_are_claims_of_no_person(
    built: tuple[Path, Path, dict[str, int]], synth_lake: LakeReader
) -> None:
    """Fictitious-NIR keys are in person_keys without a person, not in persons; their kept
    claim lines are counted in the report (and in the markdown report)."""
    out, lake, truth = built
    keys, persons = synth_lake["int.person_keys"], synth_lake["int.persons"]
    n_keys, no_person = synth_lake.one(
        f"""SELECT count(*), count(*) FILTER (WHERE person_id IS NULL) FROM {keys}
            WHERE ben_cdi_nir IN ({FICT})"""
    )
    expected = synth_lake.one(
        f"SELECT count(*) FROM '{out}/truth/identities.parquet' WHERE role = 'fictitious'"
    )[0]
    assert n_keys == no_person == expected > 0
    assert synth_lake.one(f"SELECT count(*) FROM {keys} WHERE person_id IS NULL")[0] == n_keys
    assert synth_lake.one(f"SELECT count(*) FROM {persons} WHERE fictitious_nir")[0] == 0
    ident = _report(lake)["identity"]
    lines = synth_lake.one(
        f"SELECT count(*) FROM {synth_lake['int.clean__ER_PRS_F']} WHERE BEN_CDI_NIR IN ({FICT})"
    )[0]
    assert ident["fictitious_keys"] == n_keys
    assert ident["fictitious_claim_lines"] == lines
    assert 0.9 * truth["dcir.fictitious_nir_lines"] <= lines <= truth["dcir.fictitious_nir_lines"]
    assert not ident["fictitious_as_persons"]
    text = open_lake(lake).report_markdown
    assert f"fictitious-NIR keys (no person): {n_keys}, their kept ER_PRS_F lines: {lines}" in text
    # their DCIR lines reach the int tables without a person
    prestations = synth_lake["int.dcir_prestations"]
    dcir = synth_lake.one(
        f"""SELECT count(*) FILTER (WHERE person_id IS NULL) FROM {prestations}
            WHERE BEN_CDI_NIR IN ({FICT})"""
    )[0]
    assert dcir == lines


def test_keep_fictitious_persons_option(
    built: tuple[Path, Path, dict[str, int]], tmp_path: Path, staged_copy: Any
) -> None:
    """``keep_fictitious_persons=True`` makes each fictitious key a flagged pseudo-person."""
    _, lake, _ = built
    copy = staged_copy(lake, tmp_path / "lake")  # the session's lake stays read-only
    con = get_engine("duckdb").connect()
    try:
        paths = LakePaths(str(copy), con.storage)
        result = build_int(con, paths, keep_fictitious_persons=True)
    finally:
        con.close()
    default = _report(lake)["identity"]
    assert result.identity.fictitious_as_persons
    assert result.identity.flags["fictitious_nir"] == default["fictitious_keys"] > 0
    assert result.identity.persons == default["persons"] + default["fictitious_keys"]
