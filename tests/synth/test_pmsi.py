"""Tests for the PMSI projection (sndslab.synth._pmsi) on tiny hand-made inputs."""

from __future__ import annotations

from collections import Counter, defaultdict
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from sndslab.synth import ArtefactRates, SynthConfig
from sndslab.synth._frame import Frame
from sndslab.synth._geography import build_communes
from sndslab.synth._ids import day_of, year_of
from sndslab.synth._pmsi import (
    ACE_RET_CODES,
    STAY_RET_CODES,
    project_pmsi,
    write_mco_establishments,
)
from sndslab.synth._pmsi_extra import SEJ_TYP_B_EXCLUDED_SESSIONS, SESSION_GHM
from sndslab.synth._population import Identities, Persons

FINESS = np.array(
    ["750712184", "010000024", "010000032", "690781810", "010000040", "010000057"], dtype=object
)
GROUP = np.array(["APHP", "", "", "HCL", "", ""], dtype=object)
GEO = {
    "APHP": np.array(["750100042", "750100075", "750100083"], dtype=object),
    "HCL": np.array(["690000880", "690000898"], dtype=object),
}
CCAM = np.array(["YYYY600", "DEQP003", "ZBQK002"], dtype=object)
START, END = day_of(2019, 1, 1), day_of(2021, 12, 31)


class Writer:
    def __init__(self) -> None:
        self.files: dict[str, list[tuple[int | None, pa.Table]]] = defaultdict(list)

    def write(self, table: str, year: int | None, data: pa.Table) -> None:
        assert data.num_rows > 0
        self.files[table].append((year, data))

    def table(self, name: str) -> pa.Table:
        # writes may carry different column subsets (the real writer fills the rest with NULL)
        return pa.concat_tables([t for _, t in self.files[name]], promote_options="default")

    def rows(self, name: str) -> list[dict[str, Any]]:
        return self.table(name).to_pylist() if name in self.files else []


class Truth:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.tables: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def count(self, name: str, n: int) -> None:
        self.counts[name] += int(n)

    def append(self, name: str, columns: dict[str, Any]) -> None:
        self.tables[name].extend(pa.table({k: pa.array(v) for k, v in columns.items()}).to_pylist())


def _chunk(
    n_persons: int = 300,
    *,
    ret: float = 0.01,
    ghm: float = 0.003,
    dup: float = 0.05,
    pie: float = 0.0,
    gen: float = 0.0,
    seed: int = 0,
) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    n = n_persons
    persons = Persons(
        pid=np.arange(n, dtype=np.int64),
        sex=rng.integers(1, 3, n).astype(np.int8),
        birth=(START - rng.integers(0, 90 * 365, n)).astype(np.int32),
        dep=rng.integers(0, 3, n).astype(np.int16),
        community=np.zeros(n, np.int32),
        gp=np.zeros(n, np.int32),
        pharmacy=np.zeros(n, np.int32),
        lab=np.zeros(n, np.int32),
        frailty=np.ones(n),
        cmu=np.zeros(n, bool),
        death=np.full(n, day_of(2200, 1, 1), np.int32),
        nir_ano=np.full(n, b"", "S17"),
    )
    persons.death[:5] = START + 100
    psa = np.array([f"P{i:016d}".encode() for i in range(n)], dtype="S17")
    ident = Identities(
        pid=np.arange(n, dtype=np.int64),
        psa=psa,
        rng_gem=np.ones(n, np.int8),
        valid_from=np.zeros(n, np.int32),
        valid_to=np.full(n, day_of(2200, 1, 1), np.int32),
        cdi_nir=np.full(n, "00", dtype=object),
        role=np.full(n, "main", dtype=object),
    )
    est = SimpleNamespace(
        finess=FINESS,
        kind=np.array([0, 1, 2, 0, 4, 5], np.int8),
        dep=np.zeros(6, np.int16),
        region=np.full(6, "11", dtype=object),
        public=np.array([True, True, False, True, False, True]),
        group=GROUP,
        name=np.array([f"EST {i}" for i in range(6)], object),
    )
    world = SimpleNamespace(
        establishments=est,
        group_geo_finess=GEO,
        territories=SimpleNamespace(dep=np.array(["75", "2A", "971"], dtype=object)),
        communes=build_communes(0, np.array(["075", "02A", "971"], dtype=object)),
    )
    counters: dict[str, int] = {}

    def new_ids(name: str, k: int) -> np.ndarray:
        start = counters.get(name, 0)
        counters[name] = start + k
        return start + np.arange(k, dtype=np.int64)

    return SimpleNamespace(
        rng=rng,
        artefact_rng=np.random.default_rng(seed + 100),
        identity_rng=np.random.default_rng(seed + 200),
        identity_counts={},
        world=world,
        persons=persons,
        ident=ident,
        new_ids=new_ids,
        index=0,
        config=SynthConfig(
            patients=len(persons),
            first_year=2019,
            last_year=2020,
            seed=seed,
            artefacts=ArtefactRates(
                pmsi_ret_error_rate=ret,
                ghm_error_rate=ghm,
                finess_duplicate_rate=dup,
                inter_establishment_rate=pie,
                inter_establishment_session_share=0.4,
                typ_gen_rsa_rate=gen,
                pmsi_nir_unlinked_rate=0.0,
                pmsi_nir_wrong_key_rate=0.0,
                # the standard-filter artefacts have their own tests (test_realism_deaths)
                placeholder_nir_rate=0.0,
                ghs_not_billed_rate=0.0,
                abortion_ghm_rate=0.0,
            ),
        ),
        ref=SimpleNamespace(ccam_codes=CCAM, ghs_number=lambda g: np.full(len(g), 1234, np.int64)),
    )


def _inputs(
    chunk: SimpleNamespace, n_stays: int = 3000, n_visits: int = 3000, empty_other: bool = False
) -> tuple[Any, ...]:
    rng = np.random.default_rng(1)
    n_p = len(chunk.persons)
    entry = rng.integers(START, END - 60, n_stays)
    los = rng.integers(0, 12, n_stays)
    stay = 10_000 + np.arange(n_stays, dtype=np.int64)
    stays = Frame(
        stay=stay,
        person=rng.integers(0, n_p, n_stays),
        est=rng.choice([0, 1, 2, 3], n_stays),
        entry=entry,
        exit=entry + los,
        dp=rng.choice(np.array(["I21", "J18", "S72"], object), n_stays),
        ghm=rng.choice(np.array(["05M09T", "04M05T", "28Z07Z"], object), n_stays),
        severity=rng.integers(1, 5, n_stays),
        emergency=rng.random(n_stays) < 0.3,
        ent_mod=np.full(n_stays, "8", object),
        ent_prv=np.where(rng.random(n_stays) < 0.3, "5", "").astype(object),
        sor_mod=np.full(n_stays, "8", object),
        sor_des=np.full(n_stays, "", object),
        kind=np.zeros(n_stays, np.int64),
    )
    k = rng.poisson(1.0, n_stays)
    das = Frame(
        stay=np.repeat(stay, k), code=rng.choice(np.array(["E11", "I10"], object), int(k.sum()))
    )
    k = rng.poisson(0.8, n_stays)
    acts = Frame(
        stay=np.repeat(stay, k),
        code=rng.integers(0, len(CCAM), int(k.sum())),
        delay=rng.integers(0, 3, int(k.sum())),
    )
    n_ssr = 400
    src = rng.choice(n_stays, n_ssr, replace=False)
    s_entry = stays["exit"][src]
    s_exit = s_entry + rng.integers(3, 60, n_ssr)
    weeks = (s_exit - s_entry) // 7 + 1
    ssr = Frame(
        stay=50_000 + np.arange(n_ssr, dtype=np.int64),
        person=stays["person"][src],
        est=rng.choice([3, 4], n_ssr),
        entry=s_entry,
        exit=s_exit,
        mor_prp=stays["dp"][src],
        etl_aff=stays["dp"][src],
        fp_pec=np.full(n_ssr, "Z508", object),
        gme=np.full(n_ssr, "0512A1", object),
        weeks=weeks,
        mco_stay=stays["stay"][src],
    )
    w = np.repeat(np.arange(n_ssr), weeks)
    week = np.concatenate([np.arange(1, x + 1) for x in weeks])
    csarr = Frame(stay=ssr["stay"][w], week=week, code=np.full(len(w), "PEQ+223", object))
    if empty_other:
        had, psy = Frame(), Frame()
    else:
        h_entry = rng.integers(START, END - 30, 50)
        had = Frame(
            stay=70_000 + np.arange(50),
            person=rng.integers(0, n_p, 50),
            est=np.full(50, 4),
            entry=h_entry,
            exit=h_entry + 20,
            dp=np.full(50, "C50", object),
            pec_pal=np.full(50, "04", object),
            cond=np.zeros(50, np.int64),
        )
        psy = Frame(
            stay=80_000 + np.arange(50),
            person=rng.integers(0, n_p, 50),
            est=np.full(50, 5),
            entry=h_entry,
            exit=h_entry + 10,
            dp=np.full(50, "F20", object),
            legal=np.full(50, "1", object),
        )
    day = rng.integers(START, END, n_visits)
    kind = (rng.random(n_visits) < 0.3).astype(np.int64)
    ace = Frame(
        visit=90_000 + np.arange(n_visits, dtype=np.int64),
        person=rng.integers(0, n_p, n_visits),
        est=rng.choice([0, 1, 3], n_visits),
        day=day,
        kind=kind,
        specialty=np.where(kind == 1, 0, 3),
        act=np.where(rng.random(n_visits) < 0.2, 1, -1),
    )
    return (stays, das, acts), (ssr, csarr), had, psy, ace


def _run(chunk: SimpleNamespace, **kw: Any) -> tuple[Writer, Truth, tuple[Any, ...]]:
    writer, truth = Writer(), Truth()
    inputs = _inputs(chunk, **kw)
    project_pmsi(chunk, *inputs, writer, truth)  # type: ignore[arg-type]
    return writer, truth, inputs


def _keys(rows: list[dict[str, Any]], *cols: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in cols) for r in rows]


def test_children_join_the_stay_table() -> None:
    writer, truth, ((stays, das, acts), _, _, _, _) = _run(_chunk())
    b = _keys(writer.rows("T_MCOaaB"), "ETA_NUM", "RSA_NUM")
    assert len(set(b)) == len(b)
    c = _keys(writer.rows("T_MCOaaC"), "ETA_NUM", "RSA_NUM")
    assert sorted(c) == sorted(b)
    for table in ("T_MCOaaD", "T_MCOaaA", "T_MCOaaUM"):
        assert set(_keys(writer.rows(table), "ETA_NUM", "RSA_NUM")) <= set(b), table
    dup = truth.counts["pmsi.mco.finess_geo_duplicates"]
    assert len(b) == len(stays) + dup
    assert truth.counts["rows.T_MCOaaB"] == len(b)
    assert len(writer.rows("T_MCOaaUM")) == len(b)
    assert len(writer.rows("T_MCOaaD")) >= len(das)
    assert len(writer.rows("T_MCOaaA")) >= len(acts)
    # ACE: every bill line joins its header
    fa = _keys(writer.rows("T_MCOaaFASTC"), "ETA_NUM", "SEQ_NUM")
    assert len(set(fa)) == len(fa)
    for table in ("T_MCOaaCSTC", "T_MCOaaFBSTC", "T_MCOaaFCSTC", "T_MCOaaFMSTC"):
        assert set(_keys(writer.rows(table), "ETA_NUM", "SEQ_NUM")) <= set(fa), table
    for b_name, c_name, eta, num in (
        ("T_HADaaB", "T_HADaaC", "ETA_NUM_EPMSI", "RHAD_NUM"),
        ("T_RIPaaRSA", "T_RIPaaC", "ETA_NUM_EPMSI", "RIP_NUM"),
    ):
        assert sorted(_keys(writer.rows(b_name), eta, num)) == sorted(
            _keys(writer.rows(c_name), eta, num)
        )


def test_nbr_columns_count_children() -> None:
    writer, _, _ = _run(_chunk(dup=0.0))
    d = Counter(_keys(writer.rows("T_MCOaaD"), "ETA_NUM", "RSA_NUM"))
    a = Counter(_keys(writer.rows("T_MCOaaA"), "ETA_NUM", "RSA_NUM"))
    for r in writer.rows("T_MCOaaB"):
        key = (r["ETA_NUM"], r["RSA_NUM"])
        assert r["NBR_DGN"] == d[key]
        assert r["NBR_ACT"] == a[key]


def test_ssr_one_b_row_per_week() -> None:
    writer, _, (_, (ssr, _csarr), _, _, _) = _run(_chunk())
    rows = writer.rows("T_SSRaaB")
    per_stay = Counter(_keys(rows, "ETA_NUM", "RHA_NUM"))
    weeks = dict(zip([f"{s:010d}" for s in ssr["stay"]], ssr["weeks"].tolist(), strict=True))
    for (_, rha), count in per_stay.items():
        if rha in weeks:
            assert count == weeks[rha]
    assert len({k for k in _keys(rows, "ETA_NUM", "RHA_NUM", "RHS_NUM")}) == len(rows)
    b3 = set(_keys(rows, "ETA_NUM", "RHA_NUM", "RHS_NUM"))
    assert set(_keys(writer.rows("T_SSRaaCSARR"), "ETA_NUM", "RHA_NUM", "RHS_NUM")) <= b3
    c = _keys(writer.rows("T_SSRaaC"), "ETA_NUM", "RHA_NUM")
    assert sorted(c) == sorted(per_stay)
    d = _keys(writer.rows("T_SSRaaD"), "ETA_NUM", "RHA_NUM")
    assert len(d) == len(c)


@pytest.mark.parametrize("rate", [0.0, 0.4])
def test_return_code_errors(rate: float) -> None:
    writer, truth, _ = _run(_chunk(ret=rate, n_persons=400))
    for table, codes, product in (
        ("T_MCOaaC", STAY_RET_CODES, "mco"),
        ("T_SSRaaC", STAY_RET_CODES, "ssr"),
        ("T_HADaaC", STAY_RET_CODES, "had"),
        ("T_RIPaaC", STAY_RET_CODES, "rip"),
        ("T_MCOaaCSTC", ACE_RET_CODES, "ace"),
    ):
        rows = writer.rows(table)
        ones = np.array([[r[c] == "1" for c in codes] for r in rows])
        assert np.all(np.isin([r[c] for r in rows for c in codes], ["0", "1"]))
        assert ones.sum(axis=1).max() <= 1
        n_err = int(ones.any(axis=1).sum())
        assert truth.counts[f"pmsi.{product}.ret_error"] == n_err
        if len(rows) > 1000:
            assert abs(n_err / len(rows) - rate) < 0.05


def test_ghm_error_group() -> None:
    writer, truth, _ = _run(_chunk(ghm=0.3))
    b = writer.rows("T_MCOaaB")
    bad = [r for r in b if r["GRG_GHM"].startswith("90")]
    assert truth.counts["pmsi.mco.ghm_90"] == len(bad)
    assert abs(len(bad) / len(b) - 0.3) < 0.05
    assert all(r["GRG_GHM"] == "90Z00Z" and r["GHS_NUM"] is None for r in bad)
    gme = {
        (r["ETA_NUM"], r["RHA_NUM"])
        for r in writer.rows("T_SSRaaB")
        if r["GRG_GME"].startswith("90")
    }
    assert truth.counts["pmsi.ssr.gme_90"] == len(gme)


def test_geographic_duplicates() -> None:
    chunk = _chunk(dup=0.5)
    writer, truth, ((stays, _, _), _, _, _, ace) = _run(chunk)
    geo = {g for v in GEO.values() for g in v}
    group_fin = set(FINESS[GROUP != ""])
    for table, num, product, base in (
        ("T_MCOaaB", "RSA_NUM", "mco", stays),
        ("T_MCOaaFASTC", "SEQ_NUM", "ace", ace),
    ):
        rows = writer.rows(table)
        etas = [r["ETA_NUM"] for r in rows]
        assert set(etas) <= set(FINESS) | geo
        dups = [r for r in rows if r["ETA_NUM"] in geo]
        assert len(dups) == truth.counts[f"pmsi.{product}.finess_geo_duplicates"]
        assert len(rows) == len(base) + len(dups)
        n_group = int(np.isin(FINESS[base["est"]], list(group_fin)).sum())
        assert abs(len(dups) / n_group - 0.5) < 0.06
        original_nums = {r[num] for r in rows if r["ETA_NUM"] not in geo}
        assert not ({r[num] for r in dups} & original_nums)
    # SSR duplicates only for the group establishment (index 3, HCL) → HCL sites
    ssr_rows = writer.rows("T_SSRaaC")
    assert {r["ETA_NUM"] for r in ssr_rows} - set(FINESS) <= set(GEO["HCL"])
    assert truth.counts["pmsi.ssr.finess_geo_duplicates"] > 0
    # a duplicate carries a full copy: its UM / C rows exist too
    b = set(_keys(writer.rows("T_MCOaaB"), "ETA_NUM", "RSA_NUM"))
    assert b == set(_keys(writer.rows("T_MCOaaUM"), "ETA_NUM", "RSA_NUM"))
    assert b == set(_keys(writer.rows("T_MCOaaC"), "ETA_NUM", "RSA_NUM"))


def test_no_duplicate_outside_groups() -> None:
    chunk = _chunk(dup=1.0)
    writer, _, ((stays, _, _), _, _, _, _) = _run(chunk)
    geo_rows = [r for r in writer.rows("T_MCOaaB") if r["ETA_NUM"] not in set(FINESS)]
    assert len(geo_rows) == int((GROUP[stays["est"]] != "").sum())
    aphp = [r for r in geo_rows if r["ETA_NUM"] in set(GEO["APHP"])]
    assert len(aphp) == int((stays["est"] == 0).sum())


def test_inter_establishment_records() -> None:
    """Provider records of inter-establishment services: an extra B/C/UM record one day inside
    the requesting stay, in another MCO establishment, ENT_MOD = SOR_MOD = '0', SEJ_TYP 'B';
    the requesting stay says SEJ_TYP 'A'; sessions are CMD 28 with a matching Z diagnosis."""
    writer, truth, ((stays, _, _), _, _, _, _) = _run(_chunk(pie=0.2, dup=0.0))
    b = writer.rows("T_MCOaaB")
    pie = [r for r in b if r["ENT_MOD"] == "0"]
    k = truth.counts["pmsi.mco.inter_establishment"]
    assert len(pie) == k and len(b) == len(stays) + k
    eligible = int(((stays["exit"] > stays["entry"]) & (stays["ghm"] != "28Z07Z")).sum())
    assert abs(k / eligible - 0.2) < 0.04
    assert all(r["SOR_MOD"] == "0" and r["SEJ_TYP"] == "B" for r in pie)
    requesting = {(r["ETA_NUM"], r["RSA_NUM"]) for r in b if r["SEJ_TYP"] == "A"}
    assert len(requesting) == truth.counts["pmsi.mco.sej_typ_a"] == k
    assert {r["SEJ_TYP"] for r in b if r["ENT_MOD"] != "0"} <= {"A", None}
    c = {(r["ETA_NUM"], r["RSA_NUM"]): r for r in writer.rows("T_MCOaaC")}
    um = set(_keys(writer.rows("T_MCOaaUM"), "ETA_NUM", "RSA_NUM"))
    by_nir = defaultdict(list)
    for key in requesting:
        by_nir[c[key]["NIR_ANO_17"]].append(c[key])
    sessions = 0
    for r in pie:
        key = (r["ETA_NUM"], r["RSA_NUM"])
        assert key in um and c[key]["EXE_SOI_DTD"] == c[key]["EXE_SOI_DTF"]
        assert any(
            q["ETA_NUM"] != r["ETA_NUM"]
            and q["EXE_SOI_DTD"] <= c[key]["EXE_SOI_DTD"] < q["EXE_SOI_DTF"]
            for q in by_nir[c[key]["NIR_ANO_17"]]
        )
        if r["GRG_GHM"] in SESSION_GHM:
            sessions += 1
            assert r["DGN_PAL"] == SESSION_GHM[r["GRG_GHM"]][0] and r["SEJ_NBJ"] is None
        else:
            assert r["GRG_GHM"].endswith("T") and r["SEJ_NBJ"] == 0
    kept = [
        r
        for r in pie
        if r["GRG_GHM"].startswith("28") and r["GRG_GHM"] not in SEJ_TYP_B_EXCLUDED_SESSIONS
    ]
    assert truth.counts["pmsi.mco.sej_typ_b_sessions"] == len(kept)
    assert truth.counts["pmsi.mco.sej_typ_b"] == k - len(kept)
    assert 0 < sessions < k
    assert truth.counts["pmsi.mco.filtered_records"] >= k


def test_typ_gen_rsa_only_on_clean_records() -> None:
    writer, truth, _ = _run(_chunk(gen=0.1, ret=0.1, ghm=0.1, dup=0.3))
    geo = {g for v in GEO.values() for g in v}
    for table, product in (("T_MCOaaB", "mco"), ("T_RIPaaRSA", "rip")):
        rows = writer.rows(table)
        gen = [r for r in rows if r["TYP_GEN_RSA"] != "0"]
        assert len(gen) == truth.counts[f"pmsi.{product}.typ_gen_rsa"] > 0
        assert {r["TYP_GEN_RSA"] for r in gen} <= {"1", "2", "3"}
    link = {(r["ETA_NUM"], r["RSA_NUM"]): r for r in writer.rows("T_MCOaaC")}
    for r in writer.rows("T_MCOaaB"):
        if r["TYP_GEN_RSA"] != "0":
            assert not r["GRG_GHM"].startswith("90") and r["ETA_NUM"] not in geo
            assert all(link[(r["ETA_NUM"], r["RSA_NUM"])][c] == "0" for c in STAY_RET_CODES)


def test_pmsi_links_truth_covers_every_record() -> None:
    writer, truth, _ = _run(_chunk(pie=0.1, dup=0.3))
    links = truth.tables["pmsi_links"]
    for table, key, product in (
        ("T_MCOaaC", ("ETA_NUM", "RSA_NUM"), "mco"),
        ("T_MCOaaCSTC", ("ETA_NUM", "SEQ_NUM"), "ace"),
        ("T_SSRaaC", ("ETA_NUM", "RHA_NUM"), "ssr"),
        ("T_HADaaC", ("ETA_NUM_EPMSI", "RHAD_NUM"), "had"),
        ("T_RIPaaC", ("ETA_NUM_EPMSI", "RIP_NUM"), "rip"),
    ):
        rows = {(*_keys([r], *key)[0], r["NIR_ANO_17"]) for r in writer.rows(table)}
        mine = {
            (x["eta_num"], x["number"], x["nir_ano_17"]) for x in links if x["product"] == product
        }
        assert rows == mine, table
    # the person behind the key: the chunk's PSA of that person
    psa = {f"P{i:016d}": i for i in range(300)}
    assert all(psa[x["nir_ano_17"]] == x["person_id"] for x in links)


def test_dates_types_and_years() -> None:
    writer, _, _ = _run(_chunk())
    for name, files in writer.files.items():
        for year, t in files:
            for col in ("EXE_SOI_DTD", "EXE_SOI_DTF"):
                if col in t.column_names:
                    assert t.schema.field(col).type == pa.date32(), (name, col)
            if "EXE_SOI_DTF" in t.column_names:
                ys = year_of(np.array(t.column("EXE_SOI_DTF").cast(pa.int32()).to_pylist()))
                assert set(ys.tolist()) == {year}, name
            for col in t.column_names:
                ty = t.schema.field(col).type
                assert ty in (pa.string(), pa.int64(), pa.float64(), pa.date32()), (name, col)
    c = writer.table("T_MCOaaC")
    assert c.column("NIR_ANO_17").to_pylist()[0].startswith("P")
    # one file per (table, year)
    for name, files in writer.files.items():
        years = [y for y, _ in files]
        assert len(years) == len(set(years)), name


def test_empty_had_and_psy() -> None:
    writer, _, _ = _run(_chunk(), empty_other=True)
    assert "T_HADaaB" not in writer.files and "T_RIPaaRSA" not in writer.files
    assert "T_MCOaaB" in writer.files
    project_pmsi(
        _chunk(),
        (Frame(), Frame(), Frame()),
        (Frame(), Frame()),
        Frame(),  # type: ignore[arg-type]
        Frame(),
        Frame(),
        Writer(),
        Truth(),
    )


def test_row_counts_in_truth() -> None:
    writer, truth, _ = _run(_chunk())
    for name in writer.files:
        assert truth.counts[f"rows.{name}"] == writer.table(name).num_rows, name


def test_mco_establishments_once_per_year() -> None:
    chunk = _chunk()
    writer = Writer()
    n = write_mco_establishments(chunk.world, writer, [2019, 2020])  # type: ignore[arg-type]
    assert [y for y, _ in writer.files["T_MCOaaE"]] == [2019, 2020]
    for _, t in writer.files["T_MCOaaE"]:
        etas = t.column("ETA_NUM").to_pylist()
        assert len(etas) == len(set(etas))
        assert set(FINESS) | {g for v in GEO.values() for g in v} == set(etas)
        assert set(t.column("STA_ETA").to_pylist()) == {"1", "2"}
    assert n == 2 * (len(FINESS) + 5)


def test_columns_exist_in_registry() -> None:
    """Every column the projection writes is a column of the vendored registry spec (derived
    from schema-snds, kept equal to it by tests/registry/test_derivation.py)."""
    from sndslab.registry import get_table

    writer, _, _ = _run(_chunk())
    write_mco_establishments(_chunk().world, writer, [2020])  # type: ignore[arg-type]
    assert "T_MCOaaE" in writer.files and len(writer.files) > 10, sorted(writer.files)
    for name, files in writer.files.items():
        missing = set(files[0][1].column_names) - set(get_table(name).column_names)
        assert not missing, (name, missing)
