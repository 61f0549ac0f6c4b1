"""The issue's round trip, end to end: lake → ``export opendamir`` → the files → ``ingest`` →
:class:`OpenDamirIndicators` equals the same numerators computed straight from the source
lake's ``int`` DCIR claims, once what the gate suppressed is added back.

The lake side is written here independently of :mod:`sndslab.opendamir._cells`: région through
the lake's own IR_DPT_V (``int.ref_ir_dpt_v``, département → INSEE région) and the Open DAMIR
grouping of the lexicon (overseas → 5, Corse with PACA → 93, :func:`damir_region`), age band
from ``BEN_AMA_COD``, care year from ``EXE_SOI_DTD``, flow month from ``FLX_DIS_DTD``. What
suppression removed is the lake's claims of the cells the gate marked ``suppressed`` in the
export's ``release/opendamir_A{YYYYMM}.parquet`` (région, cell, status), checked against the
per-month totals of ``opendamir_audit.json``. The population is the source lake's
(:func:`population_from_lake`), written as a population file for the fresh Open DAMIR lake.

Lives in tests/supply to reuse the session's lake with its events (``supply_lake``): the
population needs ``events.patients``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import sndslab
from sndslab.opendamir import OpenDamirExport, export_opendamir, ingest_opendamir
from sndslab.opendamir._schema import codes
from sndslab.supply import OpenDamirIndicators, population_from_lake
from sndslab.supply._population import damir_region

#: The axes the indicators need (care year, age band, sex, prestation, executing specialty)
#: and six flow months across a new year, so that both care years (SOI_ANN) occur (the gate
#: over all 29 flow months of the extract takes ~30 s).
AXES = ("SOI_ANN", "AGE_BEN_SNDS", "BEN_SEX_COD", "PRS_NAT", "PSE_SPE_SNDS")
MONTHS = (201910, 201911, 201912, 202001, 202002, 202003)
INDICATORS = ("gp_consultations", "reimbursed_amount")


@dataclass
class RoundTrip:
    lake: Path
    export: OpenDamirExport
    fitted: OpenDamirIndicators
    claims: pa.Table  # the lake side: per indicator, year, région, status, lagged


def _lake_side(lk: Any, statuses: str) -> pa.Table:
    """Per indicator × care year × région × gate status of the cell × ``lagged`` (care year
    ≠ flow year): the claims' numerator (straight from ``int.dcir_prestations``, restricted
    to the exported flow months)."""
    listed = ", ".join(c for c, _ in codes("PSE_SPE_SNDS") if int(c) not in (0, 99))
    spe = (
        f"CASE WHEN c.PSE_SPE_COD IN ({listed}) THEN c.PSE_SPE_COD "
        "WHEN coalesce(c.PSE_SPE_COD, 0) <> 0 THEN 99 ELSE 0 END"
    )
    age = (
        "CASE WHEN c.BEN_AMA_COD >= 1000 OR c.BEN_AMA_COD BETWEEN 0 AND 19 THEN 0 "
        "WHEN c.BEN_AMA_COD >= 80 THEN 80 WHEN c.BEN_AMA_COD >= 20 THEN c.BEN_AMA_COD // 10 * 10 "
        "ELSE 99 END"
    )
    sex = "CASE WHEN c.BEN_SEX_COD IN (1, 2) THEN c.BEN_SEX_COD ELSE 9 END"
    gp = "c.PRS_NAT_REF IN (1111, 1211) AND c.PSE_SPE_COD IN (1, 22, 23)"
    return lk.sql(
        f"""WITH reg AS (SELECT GEO_DPT_COD, any_value(GEO_REG_COD) AS reg
                         FROM int.ref_ir_dpt_v GROUP BY ALL),
            claims AS (
              SELECT CAST(strftime(c.FLX_DIS_DTD, '%Y%m') AS BIGINT) AS month,
                     year(c.EXE_SOI_DTD) AS year,
                     coalesce({damir_region("r.reg")}, '99') AS region,
                     concat_ws('|', year(c.EXE_SOI_DTD), {age}, {sex}, c.PRS_NAT_REF,
                               {spe}) AS cell,
                     {gp} AS is_gp, c.PRS_ACT_QTE AS qte, c.BSE_REM_MNT AS rem
              FROM int.dcir_prestations c LEFT JOIN reg r ON r.GEO_DPT_COD = c.BEN_RES_DPT
              WHERE c.person_id IS NOT NULL AND c.EXE_SOI_DTD IS NOT NULL
                AND strftime(c.FLX_DIS_DTD, '%Y%m') IN ({", ".join(f"'{m}'" for m in MONTHS)})),
            joined AS (
              SELECT c.*, coalesce(s.status, 'no cell') AS status
              FROM claims c LEFT JOIN ({statuses}) s
                ON s.month = c.month AND s.region = c.region AND s.cell = c.cell)
            SELECT 'gp_consultations' AS indicator, year, region, status,
                   year <> month // 100 AS lagged, CAST(sum(qte) AS DOUBLE) AS numerator,
                   count(*) AS claims
            FROM joined WHERE is_gp GROUP BY ALL
            UNION ALL
            SELECT 'reimbursed_amount', year, region, status, year <> month // 100,
                   CAST(sum(rem) AS DOUBLE), count(*)
            FROM joined GROUP BY ALL"""
    ).to_arrow()


@pytest.fixture(scope="module")
def round_trip(supply_lake: Path, tmp_path_factory: pytest.TempPathFactory) -> RoundTrip:
    root = tmp_path_factory.mktemp("od-indicator-round-trip")
    lake = root / "lake"  # a private copy: the export writes the lake's release log
    shutil.copytree(supply_lake, lake)
    export = export_opendamir(lake, root / "opendamir", axes=AXES, months=MONTHS, risk=False)
    od_lake = root / "od-lake"
    ingest_opendamir(export.out, od_lake)
    statuses = " UNION ALL ".join(
        f"SELECT {m} AS month, region, cell, status FROM read_parquet("
        f"'{export.out / 'release' / f'opendamir_A{m}.parquet'}')"
        for m in MONTHS
    )
    with sndslab.open_lake(lake) as lk:
        claims = _lake_side(lk, statuses)
        years = sorted({int(y) for y in claims.column("year").to_pylist()})
        pop = population_from_lake(lk, years)
    (root / "population.csv").write_text(pop.to_csv(), encoding="utf-8")
    with sndslab.open_lake(od_lake) as lk:
        fitted = OpenDamirIndicators(only=INDICATORS, population=root / "population.csv").fit(lk)
    return RoundTrip(lake, export, fitted, claims)


def _by(table: pa.Table, indicator: str, status: str | None = None) -> dict[tuple[int, str], float]:
    out: dict[tuple[int, str], float] = {}
    for r in table.to_pylist():
        if r["indicator"] == indicator and (status is None or r["status"] == status):
            key = (int(r["year"]), str(r["region"]))
            out[key] = out.get(key, 0.0) + float(r["numerator"] or 0)
    return out


def _opendamir(fitted: OpenDamirIndicators, indicator: str) -> dict[tuple[int, str], float]:
    return {
        (int(r["year"]), str(r["territory"])): float(r["numerator"])
        for r in fitted.table_.to_pylist()
        if r["indicator"] == indicator
    }


def test_every_lake_claim_falls_in_a_cell_the_gate_saw(round_trip: RoundTrip) -> None:
    # the independent lake-side mapping (région, age band, care year, specialty) meets the
    # export's cells claim for claim: a mapping defect would leave claims without a cell
    statuses = set(round_trip.claims.column("status").to_pylist())
    assert statuses == {"published", "suppressed"}
    # both care years occur (claims of December 2019 flow in 2020): the comparison per year
    # checks that the indicator's year is the care year, not the flow year
    assert {int(y) for y in round_trip.claims.column("year").to_pylist()} == {2019, 2020}
    lagged = [
        r for r in round_trip.claims.to_pylist() if r["lagged"] and r["status"] == "published"
    ]
    assert sum(r["claims"] for r in lagged) > 0


@pytest.mark.parametrize("indicator", INDICATORS)
def test_per_region_and_year_opendamir_plus_suppressed_is_the_lake(
    round_trip: RoundTrip, indicator: str
) -> None:
    lake = _by(round_trip.claims, indicator)
    published = _by(round_trip.claims, indicator, "published")
    suppressed = _by(round_trip.claims, indicator, "suppressed")
    od = _opendamir(round_trip.fitted, indicator)
    regions = {k for k in lake if k[1] != "99"}
    assert regions and {k for k in od if k[1] != "FR"} >= regions
    tol = 0.005 * round_trip.claims.num_rows  # cents, amounts summed as decimals then doubles
    for key in regions:
        assert od[key] == pytest.approx(published.get(key, 0.0), abs=tol), key
        assert od[key] + suppressed.get(key, 0.0) == pytest.approx(lake[key], abs=tol), key
    # the test can fail both ways: something was published and something suppressed
    assert sum(od[k] for k in regions) > 0 and sum(suppressed.values()) > 0
    # régions of the data without claims in the lake publish nothing
    for key, value in od.items():
        if key[1] != "FR" and key not in lake:
            assert value == 0, key


@pytest.mark.parametrize("indicator", INDICATORS)
def test_france_is_exact_with_the_audit(round_trip: RoundTrip, indicator: str) -> None:
    lake = _by(round_trip.claims, indicator)
    suppressed = _by(round_trip.claims, indicator, "suppressed")
    od = _opendamir(round_trip.fitted, indicator)
    acc = round_trip.fitted.accounting_[indicator]
    unknown = acc["value"] - acc["value_kept"]  # published lines of unknown région / age / sex
    od_fr = sum(v for k, v in od.items() if k[1] == "FR")
    assert od_fr + unknown + sum(suppressed.values()) == pytest.approx(sum(lake.values()), abs=0.01)
    if indicator == "reimbursed_amount":  # every prestation: the audit's own totals
        months = round_trip.export.audit["months"]
        audit_lake = sum(months[str(m)]["measures"]["PRS_REM_MNT"]["lake"] for m in MONTHS)
        audit_supp = sum(months[str(m)]["measures"]["PRS_REM_MNT"]["suppressed"] for m in MONTHS)
        assert audit_lake == pytest.approx(sum(lake.values()), abs=0.01)
        assert audit_supp == pytest.approx(sum(suppressed.values()), abs=0.01)
        assert od_fr + unknown + audit_supp == pytest.approx(audit_lake, abs=0.01)
