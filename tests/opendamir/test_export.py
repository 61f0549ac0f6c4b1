"""The Open DAMIR product of a lake: public layout, through the gate, suppression accounted,
the re-identification check passes, and the round trip lake → files → ingest adds up."""

from __future__ import annotations

import gzip
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sndslab import open_lake
from sndslab.cli import app
from sndslab.errors import InvalidArgumentError
from sndslab.opendamir import PUBLIC_COLUMNS, OpenDamirExport, export_opendamir
from sndslab.opendamir._cells import EXCLUSION_RULES, lines_sql
from sndslab.release import ReleaseLog, ReleaseRefusedError

from .conftest import EXPORT_AXES, EXPORT_MONTHS


def test_files_are_in_the_public_layout(od_export: OpenDamirExport) -> None:
    assert od_export.files == [f"A{m}.csv.gz" for m in EXPORT_MONTHS]
    for name in od_export.files:
        with gzip.open(od_export.out / name, "rt", encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split(";")
            first = f.readline().rstrip("\n").split(";")
        assert header == list(PUBLIC_COLUMNS)  # no person count, no identifier, no margin
        assert len(first) == len(PUBLIC_COLUMNS)
        assert first[0] == name[1:7]
    assert (od_export.out / "release" / "audit.json").is_file()
    assert (od_export.out / "opendamir_audit.json").is_file()


def test_the_gate_recorded_the_release_in_the_lake(
    od_export: OpenDamirExport, od_lake: Path
) -> None:
    audit = json.loads((od_export.out / "release" / "audit.json").read_text())
    assert audit["attack"]["passed"] is True
    assert {t["name"] for t in audit["tables"]} == {f"opendamir_A{m}" for m in EXPORT_MONTHS}
    assert od_export.audit["release_id"] in ReleaseLog(od_lake).releases()
    for t in audit["tables"]:
        assert t["primary"] > 0  # 2,000 persons: small cells exist, and are suppressed


def test_suppression_is_accounted(od_export: OpenDamirExport) -> None:
    a = od_export.audit
    for month in a["months"].values():
        assert month["cells"] == month["cells_published"] + month["cells_suppressed"]
        assert month["claims"] == month["claims_published"] + month["claims_suppressed"]
        for m in month["measures"].values():
            assert m["lake"] == pytest.approx(m["published"] + m["suppressed"])
    s = a["suppressed"]
    assert 0 < s["cells_suppressed_share"] < 1 and 0 < s["claims_suppressed_share"] < 1
    assert a["excluded_claims"]["no_person"]["rule"] == EXCLUSION_RULES["no_person"]


def test_the_reidentification_check_passes(od_export: OpenDamirExport) -> None:
    risk = json.loads((od_export.out / "risk.json").read_text())
    assert od_export.passed and risk["passed"]
    assert risk["smallest_published_cell_persons_at_least_threshold"] is True
    published = risk["published"]["combinations"]["published_cells"]
    assert published["k"] >= 11 and published["unique"] == 0
    # the same check on every cell before suppression fails: the gate is what makes it pass
    before = risk["before_suppression"]["combinations"]["published_cells"]
    assert before["k"] < 11 and before["unique"] > 0


def _lake_totals(lake: Path) -> dict[tuple[int, int, int], tuple[int, Decimal]]:
    """PRS_ACT_QTE and PRS_PAI_MNT of the lake's claims by flow month × région × PRS_NAT,
    straight from int.dcir_prestations (claims with a person)."""
    from sndslab.lake import relation

    with open_lake(lake) as lk:
        rel = relation(lk.con, lk.paths, "int.dcir_prestations")
        months = ", ".join(map(str, EXPORT_MONTHS))
        rows = lk.con.fetchall(
            f"SELECT FLX_ANN_MOI, BEN_RES_REG, PRS_NAT, sum(m_PRS_ACT_QTE), sum(m_PRS_PAI_MNT) "
            f"FROM ({lines_sql(rel)}) WHERE _excluded IS NULL AND FLX_ANN_MOI IN ({months}) "
            "GROUP BY ALL"
        )
    return {(int(a), int(b), int(c)): (int(q), Decimal(p)) for a, b, c, q, p in rows}


def test_round_trip_totals_are_the_lake_minus_what_suppression_removed(
    od_export: OpenDamirExport, od_lake: Path, od_roundtrip: Path
) -> None:
    lake = _lake_totals(od_lake)
    with open_lake(od_roundtrip) as lk:
        rows = (
            lk.sql(
                "SELECT FLX_ANN_MOI, BEN_RES_REG, PRS_NAT, sum(PRS_ACT_QTE) AS q, "
                "sum(PRS_PAI_MNT) AS p FROM opendamir.prestations GROUP BY ALL"
            )
            .to_arrow()
            .to_pylist()
        )
        quarantined = lk.manifest("opendamir").tables["quarantine"].rows
    assert quarantined == 0 and rows
    files = {(r["FLX_ANN_MOI"], r["BEN_RES_REG"], r["PRS_NAT"]): (r["q"], r["p"]) for r in rows}
    # every published group is a lake group, never above it (the measures are non-negative)
    assert set(files) <= set(lake)
    for key, (q, p) in files.items():
        assert q <= lake[key][0] and p <= lake[key][1]
    # per month, what the files hold plus what the audit says suppression removed is the lake
    for month in EXPORT_MONTHS:
        acc = od_export.audit["months"][str(month)]["measures"]
        lake_q = sum(v[0] for k, v in lake.items() if k[0] == month)
        lake_p = sum(v[1] for k, v in lake.items() if k[0] == month)
        file_q = sum(v[0] for k, v in files.items() if k[0] == month)
        file_p = sum(v[1] for k, v in files.items() if k[0] == month)
        assert acc["PRS_ACT_QTE"]["lake"] == lake_q
        assert (
            file_q == acc["PRS_ACT_QTE"]["published"] == lake_q - acc["PRS_ACT_QTE"]["suppressed"]
        )
        assert float(file_p) == pytest.approx(acc["PRS_PAI_MNT"]["published"], abs=0.005)
        assert float(lake_p - file_p) == pytest.approx(acc["PRS_PAI_MNT"]["suppressed"], abs=0.005)


def test_unknown_axes_and_a_lake_without_claims_are_clear_errors(
    od_lake: Path, tmp_path: Path
) -> None:
    with pytest.raises(InvalidArgumentError, match="cannot be detailed"):
        export_opendamir(od_lake, tmp_path / "x", axes=["BEN_NIR_PSA"])
    result = CliRunner().invoke(app, ["export", "opendamir", str(tmp_path / "nolake"),
                                      "--out", str(tmp_path / "o")])  # fmt: skip
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "error:" in result.output


def test_an_export_with_other_axes_is_refused(
    od_export: OpenDamirExport, od_lake: Path, tmp_path: Path
) -> None:
    # two axis sets of the same persons could be differenced against each other
    with pytest.raises(ReleaseRefusedError, match="other axes or partition"):
        export_opendamir(od_lake, tmp_path / "y", axes=["AGE_BEN_SNDS"], months=[201906])
    assert not (tmp_path / "y").exists()


def test_a_partition_by_month_and_region_publishes_the_same_kind_of_product(
    ingested_synth: tuple[Path, Path], tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(ingested_synth[1], lake)
    res = export_opendamir(
        lake, tmp_path / "out", axes=EXPORT_AXES, months=[201906], partition="month_region"
    )
    audit = json.loads((tmp_path / "out" / "release" / "audit.json").read_text())
    assert audit["attack"]["passed"] and res.passed
    assert all(t["name"].startswith("opendamir_A201906_R") for t in audit["tables"])
    assert res.audit["gate"]["tables"] == len(audit["tables"]) > 1
    month = res.audit["months"]["201906"]
    assert month["cells"] == month["cells_published"] + month["cells_suppressed"]
    # the other cut of the same persons is now refused on this lake
    with pytest.raises(ReleaseRefusedError, match="other axes or partition"):
        export_opendamir(lake, tmp_path / "o2", axes=EXPORT_AXES, months=[201906])
