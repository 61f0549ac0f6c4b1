"""Intermediate tables: grains and no cartesian blow-up."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest


@pytest.fixture(scope="module")
def built(ingested_synth: tuple[Path, Path]) -> tuple[Path, Path]:
    return ingested_synth


GRAINS = {
    "mco_stays": "ETA_NUM, RSA_NUM, _year",
    "ssr_stays": "ETA_NUM, RHA_NUM, _year",
    "had_stays": "ETA_NUM_EPMSI, RHAD_NUM, _year",
    "rip_stays": "ETA_NUM_EPMSI, RIP_NUM, _year",
    "dcir_prestations": "_source_file, _source_line",
    "dcir_pharmacy": "_source_file, _source_line",
    "dcir_acts": "_source_file, _source_line",
    "ald": "_source_file, _source_line",
}


@pytest.mark.parametrize("table", sorted(GRAINS))
def test_grain_is_unique(built: tuple[Path, Path], table: str) -> None:
    _, lake = built
    key = GRAINS[table]
    n, d = (
        duckdb.connect()
        .execute(f"SELECT count(*), count(DISTINCT ({key})) FROM '{lake}/int/{table}.parquet'")
        .fetchall()[0]
    )
    assert n == d > 0


def test_no_cartesian_blow_up(built: tuple[Path, Path]) -> None:
    _, lake = built
    con = duckdb.connect()
    clean = lake / "int" / "clean"
    stays = con.execute(
        f"SELECT count(*), count(dp), count(dr) FROM '{lake}/int/mco_stays.parquet'"
    ).fetchall()[0]
    das = con.execute(f"SELECT count(ASS_DGN) FROM '{clean}/T_MCOaaD/*.parquet'").fetchall()[0][0]
    um = con.execute(
        f"SELECT count(DGN_PAL) + count(DGN_REL) FROM '{clean}/T_MCOaaUM/*.parquet'"
    ).fetchall()[0][0]
    diag = con.execute(f"SELECT count(*) FROM '{lake}/int/mco_diagnoses.parquet'").fetchall()[0][0]
    assert diag == stays[1] + stays[2] + das + um
    pha = con.execute(f"SELECT count(*) FROM '{clean}/ER_PHA_F/*.parquet'").fetchall()[0][0]
    assert (
        con.execute(f"SELECT count(*) FROM '{lake}/int/dcir_pharmacy.parquet'").fetchall()[0][0]
        == pha
    )
    res = json.loads((lake / "_reports" / "ingest.json").read_text())
    assert res["join_loss"]["er_pha_f_rows_without_prestation"] == 0.0
    assert res["intermediate"]["mco_stays"] == stays[0]
