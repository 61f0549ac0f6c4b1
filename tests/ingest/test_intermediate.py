"""Intermediate tables: grains, no cartesian blow-up, the tables the event extractors read,
contracts enforced and the int generation atomic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sndslab.engines import get_engine
from sndslab.lake import (
    LakeContractError,
    LakePaths,
    TableContract,
    open_lake,
    read_manifest,
)

LakeReader = Any  # conftest.LakeReader (tests are not a package)


GRAINS = {
    "mco_stays": "ETA_NUM, RSA_NUM, _year",
    "ssr_stays": "ETA_NUM, RHA_NUM, _year",
    "had_stays": "ETA_NUM_EPMSI, RHAD_NUM, _year",
    "rip_stays": "ETA_NUM_EPMSI, RIP_NUM, _year",
    "dcir_prestations": "_source_file, _source_line",
    "dcir_pharmacy": "_source_file, _source_line",
    "dcir_acts": "_source_file, _source_line",
    "ald": "_source_file, _source_line",
    "ssr_diagnoses": "ETA_NUM, RHA_NUM, _year, code, role",
    "had_diagnoses": "ETA_NUM_EPMSI, RHAD_NUM, _year, code, role",
    "rip_diagnoses": "ETA_NUM_EPMSI, RIP_NUM, _year, code, role",
    "ssr_acts": "_source_file, _source_line",
    "death_causes": "_source_file, _source_line",
}


@pytest.mark.parametrize("table", sorted(GRAINS))
def test_grain_is_unique(synth_lake: LakeReader, table: str) -> None:
    key = GRAINS[table]
    n, d = synth_lake.one(
        f"SELECT count(*), count(DISTINCT ({key})) FROM {synth_lake['int.' + table]}"
    )
    assert n == d
    assert isinstance(n, int) and n > 0


def test_no_cartesian_blow_up(ingested_synth: tuple[Path, Path], synth_lake: LakeReader) -> None:
    _, lake = ingested_synth
    r = synth_lake
    stays = r.one(f"SELECT count(*), count(dp), count(dr) FROM {r['int.mco_stays']}")
    das = r.one(f"SELECT count(ASS_DGN) FROM {r['int.clean__T_MCOaaD']}")[0]
    um = r.one(f"SELECT count(DGN_PAL) + count(DGN_REL) FROM {r['int.clean__T_MCOaaUM']}")[0]
    diag = r.one(f"SELECT count(*) FROM {r['int.mco_diagnoses']}")[0]
    assert diag == stays[1] + stays[2] + das + um
    pha = r.one(f"SELECT count(*) FROM {r['int.clean__ER_PHA_F']}")[0]
    assert r.one(f"SELECT count(*) FROM {r['int.dcir_pharmacy']}")[0] == pha
    res = open_lake(lake).report
    assert res["join_loss"]["er_pha_f_rows_without_prestation"] == 0.0
    assert res["intermediate"]["mco_stays"] == stays[0]


def _stay_pairs(r: LakeReader, stays: str, key: str, table: str, col: str) -> object:
    """Distinct (stay, code) pairs of ``table.col`` whose stay is in ``int.<stays>``."""
    on = " AND ".join(f"x.{k} = s.{k}" for k in key.split(", "))
    return r.one(
        f"SELECT count(*) FROM (SELECT DISTINCT {', '.join('x.' + k for k in key.split(', '))}, "
        f"x.{col} FROM {r['int.clean__' + table]} x JOIN {r['int.' + stays]} s ON {on} "
        f"WHERE x.{col} IS NOT NULL)"
    )[0]


def test_other_pmsi_diagnoses_count_their_sources(synth_lake: LakeReader) -> None:
    """Rows per role = distinct (stay, code) of the source column, over the kept stays."""
    r = synth_lake
    cases = [
        ("ssr_diagnoses", "ssr_stays", "ETA_NUM, RHA_NUM, _year", "T_SSRaaB", "MOR_PRP", "DP"),
        ("ssr_diagnoses", "ssr_stays", "ETA_NUM, RHA_NUM, _year", "T_SSRaaB", "ETL_AFF", "DR"),
        ("ssr_diagnoses", "ssr_stays", "ETA_NUM, RHA_NUM, _year", "T_SSRaaD", "DGN_COD", "DAS"),
        (
            "had_diagnoses",
            "had_stays",
            "ETA_NUM_EPMSI, RHAD_NUM, _year",
            "T_HADaaB",
            "DGN_PAL",
            "DP",
        ),
        (
            "rip_diagnoses",
            "rip_stays",
            "ETA_NUM_EPMSI, RIP_NUM, _year",
            "T_RIPaaRSA",
            "DGN_PAL",
            "DP",
        ),
    ]
    for name, stays, key, table, col, role in cases:
        got = r.one(f"SELECT count(*) FROM {r['int.' + name]} WHERE role = '{role}'")[0]
        assert got == _stay_pairs(r, stays, key, table, col), (name, role)
        assert isinstance(got, int) and got > 0, (name, role)
    # every SSR stay has its principal diagnosis (MOR_PRP on every week)
    n_stays = r.one(f"SELECT count(*) FROM {r['int.ssr_stays']}")[0]
    dp_stays = r.one(
        f"SELECT count(DISTINCT (ETA_NUM, RHA_NUM, _year)) FROM {r['int.ssr_diagnoses']} "
        "WHERE role = 'DP'"
    )[0]
    assert dp_stays == n_stays
    # the stay's dates and person come with each diagnosis
    bad = r.one(
        f"SELECT count(*) FROM {r['int.ssr_diagnoses']} d JOIN {r['int.ssr_stays']} s "
        "USING (ETA_NUM, RHA_NUM, _year) WHERE d.entry_date IS DISTINCT FROM s.entry_date "
        "OR d.exit_date IS DISTINCT FROM s.exit_date OR d.person_id IS DISTINCT FROM s.person_id"
    )[0]
    assert bad == 0


def test_ssr_acts_are_the_kept_csarr_rows(synth_lake: LakeReader) -> None:
    r = synth_lake
    kept = r.one(
        f"SELECT count(*), sum(x.NBR_CSARR) FROM {r['int.clean__T_SSRaaCSARR']} x "
        f"JOIN {r['int.ssr_stays']} s USING (ETA_NUM, RHA_NUM, _year)"
    )
    got = r.one(
        f"SELECT count(*), sum(quantity), count(*) FILTER (WHERE kind = 'csarr'), "
        f"count(modifier) FROM {r['int.ssr_acts']}"
    )
    assert got[0] == kept[0] == got[2]
    assert isinstance(got[0], int) and got[0] > 0
    assert got[1] == pytest.approx(float(str(kept[1])))
    assert got[3] == 0  # CSARR lines have no modifier
    # the synthetic extract has no T_SSRaaCCAM / T_HADaaA: ssr_acts has no ccam rows and
    # there is no had_acts table (the event extractors skip it)
    assert not synth_lake.lake.has("int.had_acts")


def test_death_causes_are_the_kept_ki_ecd_r_lines(synth_lake: LakeReader) -> None:
    r = synth_lake
    kept = r.one(f"SELECT count(*) FROM {r['int.clean__KI_ECD_R']}")[0]
    n, linked, ranked = r.one(
        f"SELECT count(*), count(person_id), count(*) FILTER (WHERE rank = ECD_CAU_RNG "
        f"AND icd10 IS NOT DISTINCT FROM ECD_CIM_COD AND death_date IS NOT DISTINCT FROM "
        f"BEN_DCD_DTE) FROM {r['int.death_causes']}"
    )
    assert n == kept == ranked
    assert isinstance(n, int) and n > 0
    assert isinstance(linked, int) and linked > 0.9 * n


def test_staged_referentials_are_int_tables(
    synth_lake: LakeReader, synth_staged: tuple[Path, Any]
) -> None:
    r = synth_lake
    for ref in ("IR_PHA_R", "IR_NAT_V", "IR_CIM_V", "IR_CCAM_V63", "XX_GHM_R", "NU_UCD_R"):
        name = f"int.ref_{ref.lower()}"
        assert synth_lake.lake.has(name), name
        n = r.one(f"SELECT count(*) FROM {r[name]}")[0]
        assert n == r.one(f"SELECT count(*) FROM {r['stg.' + ref]}")[0] and n, ref
    public = synth_lake.lake.tables("int")
    assert not any("clean__" in t or "flags__" in t for t in public)


def test_a_false_contract_fails_the_write(
    ingested_synth: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    staged_copy: Any,
) -> None:
    """A contract that does not hold (here: persons.n_keys declared a string) fails the run
    with LakeContractError naming table and test, and nothing is committed."""
    import sndslab.lake._contract as contract_mod
    from sndslab.ingest import build_int

    lake = staged_copy(ingested_synth[1], tmp_path / "lake")
    real = contract_mod.contracts()
    spec = real["int.persons"]
    cols = tuple(
        c.model_copy(update={"type": "string"}) if c.name == "n_keys" else c for c in spec.columns
    )
    broken = {
        **real,
        "int.persons": TableContract.model_validate({**spec.model_dump(), "columns": cols}),
    }
    monkeypatch.setattr(contract_mod, "contract", lambda name: broken.get(name))
    con = get_engine("duckdb").connect()
    paths = LakePaths(str(lake), con.storage)
    try:
        with pytest.raises(LakeContractError, match=r"int\.persons: schema: column 'n_keys'"):
            build_int(con, paths)
    finally:
        con.close()
    assert not (lake / "int" / "_manifests").exists() or not list(
        (lake / "int" / "_manifests").iterdir()
    )
    assert not list((lake / "int").glob("g*"))


def test_an_interrupted_int_build_keeps_the_previous_generation(
    ingested_synth: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    staged_copy: Any,
) -> None:
    """Raising inside the int generation (after the rules and identity wrote their datasets)
    leaves the committed generation readable and unchanged; the next run cleans up."""
    import sndslab.ingest._pipeline as pipeline

    lake = staged_copy(ingested_synth[1], tmp_path / "lake")
    con = get_engine("duckdb").connect()
    paths = LakePaths(str(lake), con.storage)
    try:
        first = pipeline.build_int(con, paths)
        before = read_manifest(paths, "int")
        with open_lake(lake) as lk:
            stays = sorted(lk.table("int.mco_stays").to_arrow().to_pylist(), key=repr)

        def boom(*_: object, **__: object) -> dict[str, int]:
            raise KeyboardInterrupt

        monkeypatch.setattr(pipeline, "build_intermediate", boom)
        with pytest.raises(KeyboardInterrupt):
            pipeline.build_int(con, paths)
        after = read_manifest(paths, "int")
        assert after == before and after.generation == first.generation == 1
        assert sorted(p.name for p in (lake / "int").glob("g*")) == ["g00000001"]
        with open_lake(lake) as lk:
            again = sorted(lk.table("int.mco_stays").to_arrow().to_pylist(), key=repr)
            assert again == stays and lk.table("int.persons").count() > 0
        monkeypatch.undo()
        second = pipeline.build_int(con, paths)
        assert second.generation == 2 and second.intermediate == first.intermediate
    finally:
        con.close()
