"""Quality rules: specs, and filtered counts against the generator's injected artefacts."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from sndslab.errors import InvalidArgumentError
from sndslab.ingest._rules import RULE_ORDER, QualityRule, apply_rules, load_rules, render_sql


@pytest.fixture(scope="module")
def built(ingested_synth: tuple[Path, Path]) -> tuple[Path, Path, dict]:
    out, lake = ingested_synth
    counts = json.loads((out / "truth" / "manifest.json").read_text())["counts"]
    return out, lake, counts


def _report(lake: Path) -> dict:
    return json.loads((lake / "_reports" / "ingest.json").read_text())


def test_every_rule_loads_cites_a_source_and_is_ordered() -> None:
    rules = load_rules()
    names = [r.name for r in rules]
    assert set(names) == set(RULE_ORDER)
    assert names == [n for n in RULE_ORDER if n in names]
    for r in rules:
        assert r.source and r.description
        for t in r.table:
            if r.kind in ("row", "join"):
                assert r.expression(t) or r.kind == "join"


def test_bad_rule_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("name: x\ntable: NOPE\nkind: row\n")
    with pytest.raises(InvalidArgumentError, match=r"x\.yaml"):
        load_rules(tmp_path)
    with pytest.raises(InvalidArgumentError, match="unknown rules"):
        load_rules(overrides={"nope": {"enabled": False}})
    with pytest.raises(ValueError, match="exclude_when"):
        QualityRule(name="y", table="ER_PRS_F", kind="row", description="d", source="s")


def test_render_sql_expands_the_finess_referential() -> None:
    sql = render_sql("ETA_NUM IN ({{f}})", {"f": "referential:finess_geo_duplicates"})
    assert sql.count("'") == 2 * 166


def test_independent_matches_equal_injected_counts(built: tuple[Path, Path, dict]) -> None:
    _, lake, truth = built
    m = _report(lake)["tables"]
    prs = m["ER_PRS_F"]["matched"]
    assert prs["dcir_information_lines"] == truth["dcir.dpn_qlf_71_lines"]
    assert prs["dcir_surcharge_lines"] == truth["dcir.surcharge_lines"]
    assert prs["dcir_public_t2a_duplicates"] == truth["dcir.ete_ind_taa_lines"]
    assert prs["dcir_invalid_care_date"] == truth["dcir.invalid_care_date_lines"]
    assert prs["dcir_flow_window"] == truth["dcir.late_flow_lines"]
    assert m["T_MCOaaB"]["matched"]["pmsi_ghm_error"] == truth["pmsi.mco.ghm_90"]
    fin = truth["pmsi.mco.finess_geo_duplicates"]
    assert m["T_MCOaaB"]["matched"]["pmsi_finess_geo_duplicate"] == fin
    assert m["T_MCOaaC"]["matched"]["pmsi_return_codes"] == truth["pmsi.mco.ret_error"]
    assert m["T_MCOaaCSTC"]["matched"]["pmsi_return_codes"] == truth["pmsi.ace.ret_error"]
    ace_dup = truth["pmsi.ace.finess_geo_duplicates"]
    assert m["T_MCOaaFASTC"]["matched"]["pmsi_finess_geo_duplicate"] == ace_dup
    assert m["T_SSRaaC"]["matched"]["pmsi_return_codes"] == truth["pmsi.ssr.ret_error"]
    assert m["IR_IMB_R"]["matched"]["imb_occupational"] == truth["ir_imb_r.occupational"]
    assert (
        m["IR_IMB_R"]["transformed"]["imb_open_end_sentinel"]
        == truth["ir_imb_r.open_ended_sentinel"]
    )


def test_first_match_filters(built: tuple[Path, Path, dict]) -> None:
    _, lake, truth = built
    t = _report(lake)["tables"]
    # first in order: exactly the injected 71 lines, and their satellites follow them
    assert t["ER_PRS_F"]["filtered"]["dcir_information_lines"] == truth["dcir.dpn_qlf_71_lines"]
    assert t["ER_ETE_F"]["filtered"]["dcir_information_lines"] == truth["dcir.dpn_qlf_71_lines"]
    # PMSI: a stay counted once, all its tables follow it
    mco = t["T_MCOaaB"]["filtered"]
    assert sum(mco.values()) <= (
        truth["pmsi.mco.ghm_90"]
        + truth["pmsi.mco.ret_error"]
        + truth["pmsi.mco.finess_geo_duplicates"]
    )
    assert t["T_MCOaaC"]["filtered"] == mco and t["T_MCOaaUM"]["filtered"] == mco


def test_regularisation_arithmetic(built: tuple[Path, Path, dict]) -> None:
    """Cancellations and their originals are netted out; re-issues (other amount) are kept."""
    _, lake, truth = built
    matched = _report(lake)["tables"]["ER_PRS_F"]["matched"]["dcir_regularisation_netting"]
    pairs = 2 * truth["dcir.regularisation_cancellations"]
    # a pair is missed only when a genuine identical line sits in the same group (net > 0)
    assert 0.97 * pairs <= matched <= pairs
    con = duckdb.connect()
    clean = lake / "int" / "clean" / "ER_PRS_F" / "*.parquet"
    negative_kept = con.execute(
        f"SELECT count(*) FROM read_parquet('{clean}') WHERE PRS_ACT_QTE < 0"
    ).fetchall()[0][0]
    assert negative_kept <= 0.02 * truth["dcir.regularisation_cancellations"]
    positive_signed_2 = con.execute(
        f"SELECT count(*) FROM read_parquet('{clean}') WHERE BSE_REM_SGN = 1 AND BSE_REM_BSE > 0"
    ).fetchall()[0][0]
    assert positive_signed_2 > 0


def test_sums_add_up(built: tuple[Path, Path, dict]) -> None:
    _, lake, _ = built
    for table, t in _report(lake)["tables"].items():
        total = t["kept"] + sum(t["filtered"].values()) + sum(t["quarantined"].values())
        assert total == t["rows_in"], table


def test_disabling_a_rule_moves_its_rows_back_to_kept(
    built: tuple[Path, Path, dict], tmp_path: Path
) -> None:
    _, lake, truth = built
    before = _report(lake)["tables"]["ER_PRS_F"]
    rules = load_rules(overrides={"dcir_information_lines": {"enabled": False}})
    counts = apply_rules(
        duckdb.connect(), lake, rules, out=tmp_path / "int", quarantine=tmp_path / "q"
    )
    assert "dcir_information_lines" not in counts.filtered["ER_PRS_F"]
    n71 = truth["dcir.dpn_qlf_71_lines"]
    gain = counts.kept["ER_PRS_F"] - before["kept"]
    moved = sum(counts.filtered["ER_PRS_F"].values()) - (sum(before["filtered"].values()) - n71)
    assert gain + moved == n71
    assert gain > 0.9 * n71
    assert counts.kept["ER_ETE_F"] > _report(lake)["tables"]["ER_ETE_F"]["kept"]
    counts.check()
