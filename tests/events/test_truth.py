# ruff: noqa: E501  (SQL assertions read better on one line)
"""Events reconciled with what the generator made (``truth/manifest.json`` counts) minus the
rows the named ingest rules filtered (``lake/_reports/ingest.json``), and with the truth's
persons (no event outside a life).

Where the truth has a raw row count for the table an extractor reads (``rows.<TABLE>``,
``events.*``), the extractor's rows must equal it minus the rule-filtered rows of that table.
DCIR tables have no per-category truth count that survives the artefacts (``dcir.lines.*``
counts the original lines, while regularisations, cancellations and re-issues, are not split
by category): their extractors are reconciled with the kept ``int/`` rows instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

import sndslab
from sndslab.events import EventsResult


def _q(p: Path) -> str:
    return "'" + str(p) + "'"


@pytest.fixture(scope="module")
def truth(events_extract: Path) -> dict[str, int]:
    counts: dict[str, int] = json.loads((events_extract / "truth" / "manifest.json").read_text())[
        "counts"
    ]
    return counts


@pytest.fixture(scope="module")
def report(events_lake: Path) -> dict[str, Any]:
    with sndslab.open_lake(events_lake) as lake:
        rep: dict[str, Any] = lake.report
    return rep


@pytest.fixture(scope="module")
def con(
    events_lake: Path,
    events_extract: Path,
    events_result: EventsResult,
    views: Callable[..., duckdb.DuckDBPyConnection],
) -> duckdb.DuckDBPyConnection:
    names = {"ev": "events.events", "pat": "events.patients"}
    for name in ("person_keys", "mco_diagnoses", "dcir_acts", "dcir_pharmacy", "dcir_biology"):
        names[name] = f"int.{name}"
    c = views(events_lake, names)
    for name in ("persons", "identities"):
        path = events_extract / "truth" / f"{name}.parquet"
        c.execute(f"CREATE VIEW truth_{name} AS SELECT * FROM read_parquet({_q(path)})")
    return c


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def _filtered(report: dict[str, Any], table: str) -> int:
    return sum(report["tables"][table]["filtered"].values())


# (extractor, truth count of the rows it reads, raw table whose rule-filtered rows it loses)
RECONCILED = [
    ("mco_stay", "rows.T_MCOaaB", "T_MCOaaB"),
    ("ssr_stay", "pmsi.ssr.stays", "T_SSRaaC"),
    ("had_stay", "pmsi.had.stays", "T_HADaaC"),
    ("rip_stay", "pmsi.rip.stays", "T_RIPaaC"),
    ("mco_ccam_act", "rows.T_MCOaaA", "T_MCOaaA"),
    ("emergency", "rows.T_MCOaaFBSTC", "T_MCOaaFBSTC"),  # every FBSTC line is an ATU
    ("ace_consultation", "rows.T_MCOaaFCSTC", "T_MCOaaFCSTC"),
    ("ace_ccam_act", "rows.T_MCOaaFMSTC", "T_MCOaaFMSTC"),
    ("ssr_csarr_act", "events.csarr_acts", "T_SSRaaCSARR"),
    ("ald", "events.ald", "IR_IMB_R"),
    ("death_cause_initial", "events.deaths", "KI_CCI_R"),
    ("death_cause_associated", "rows.KI_ECD_R", "KI_ECD_R"),  # every rank, rank 1 included
]


@pytest.mark.parametrize(("extractor", "truth_key", "table"), RECONCILED)
def test_extractor_rows_are_truth_minus_rule_filtered(
    events_result: EventsResult,
    truth: dict[str, int],
    report: dict[str, Any],
    extractor: str,
    truth_key: str,
    table: str,
) -> None:
    run = events_result.run(extractor)
    assert run.skipped is None
    made = truth[truth_key]
    assert made > 0, truth_key  # the fixture exercises every reconciled extractor
    assert run.rows == made - _filtered(report, table), (run, made, report["tables"][table])
    # and what is not emitted is accounted for (unlinked person, missing code or date)
    assert run.emitted == run.rows - run.null_person - run.null_code - run.null_start


def test_rule_filters_match_the_injected_artefacts(
    truth: dict[str, int], report: dict[str, Any]
) -> None:
    """The named rules remove the artefacts the generator injected into the stays: exactly for
    the first rule of a table; a later rule may find fewer (a row carrying two artefacts is
    counted by the first rule that filters it), never more."""
    mco = report["tables"]["T_MCOaaB"]["filtered"]
    assert mco.get("pmsi_finess_geo_duplicate", 0) == truth["pmsi.mco.finess_geo_duplicates"]
    for rule, injected in (
        ("pmsi_return_codes", "pmsi.mco.ret_error"),
        ("pmsi_ghm_error", "pmsi.mco.ghm_90"),
    ):
        assert 0 < mco.get(rule, 0) <= truth[injected], (rule, mco, truth[injected])
    imb = report["tables"]["IR_IMB_R"]["filtered"]
    assert imb.get("imb_occupational", 0) == truth["ir_imb_r.occupational"]


def test_mco_diagnoses_against_truth(
    con: duckdb.DuckDBPyConnection, truth: dict[str, int], report: dict[str, Any]
) -> None:
    """DAS events = T_MCOaaD rows made − rule-filtered − those of stays without a person."""
    unlinked_das = _one(
        con, "SELECT count(*) FROM mco_diagnoses WHERE role = 'DAS' AND person_id IS NULL"
    )
    das = _one(
        con, "SELECT count(*) FROM ev WHERE source_table = 'mco_diagnoses' AND modifier = 'DAS'"
    )
    assert das == truth["rows.T_MCOaaD"] - _filtered(report, "T_MCOaaD") - unlinked_das
    # one DP per emitted MCO stay
    dp = _one(
        con, "SELECT count(*) FROM ev WHERE source_table = 'mco_diagnoses' AND modifier = 'DP'"
    )
    assert dp == _one(con, "SELECT count(*) FROM ev WHERE source_table = 'mco_stays'")


def test_dcir_extractors_against_kept_int_rows(
    con: duckdb.DuckDBPyConnection, events_result: EventsResult, truth: dict[str, int]
) -> None:
    """No per-category truth for DCIR (see the module docstring): rows = kept int rows."""
    assert events_result.run("dcir_ccam_act").rows == _one(con, "SELECT count(*) FROM dcir_acts")
    assert events_result.run("drug_dispensation").rows == _one(
        con, "SELECT count(*) FROM dcir_pharmacy"
    )
    assert events_result.run("dcir_biology").rows == _one(con, "SELECT count(*) FROM dcir_biology")
    # never more events than the original lines the generator wrote, plus its re-issues
    reissues = truth["dcir.regularisation_reissues"]
    assert (
        events_result.run("drug_dispensation").emitted <= truth["dcir.lines.dispensing"] + reissues
    )
    assert events_result.run("dcir_biology").emitted <= truth["dcir.lines.biology"] + reissues


def test_events_within_the_true_lives(con: duckdb.DuckDBPyConnection) -> None:
    """Every event's person maps (person_keys ⋈ truth identities) to one truth person, and no
    event starts before that person's birth year or starts/ends after their death. Exception:
    an ALD's ``end`` is the exemption's planned administrative end (IR_IMB_R IMB_ALD_DTF), which
    may fall after the death; its start never does."""
    con.execute(
        """CREATE OR REPLACE TEMP VIEW owner AS SELECT DISTINCT k.person_id, i.person_id AS tid
        FROM person_keys k JOIN truth_identities i USING (ben_nir_psa, ben_rng_gem)
        WHERE k.person_id IS NOT NULL"""  # fictitious-NIR keys belong to no person
    )
    assert _one(con, "SELECT count(*) FROM (SELECT DISTINCT person_id FROM ev) ANTI JOIN owner USING (person_id)") == 0  # fmt: skip
    assert _one(con, "SELECT count(*) FROM (SELECT person_id FROM owner GROUP BY 1 HAVING count(*) > 1)") == 0  # fmt: skip
    outside = con.execute(
        """SELECT e.category,
            count(*) FILTER (WHERE e.start < make_date(year(t.birth_date), 1, 1)),
            count(*) FILTER (WHERE e.start > t.death_date),
            count(*) FILTER (WHERE e."end" > t.death_date AND e.category <> 'ald'), count(*)
        FROM ev e JOIN owner o USING (person_id) JOIN truth_persons t ON t.person_id = o.tid
        GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    assert len(outside) >= 10 and sum(r[4] for r in outside) == _one(con, "SELECT count(*) FROM ev")
    assert [r for r in outside if r[1] or r[2] or r[3]] == []


def test_no_sentinel_dates_in_any_output(con: duckdb.DuckDBPyConnection) -> None:
    sentinels = "(DATE '1970-01-01', DATE '1600-01-01')"
    for col in ("start", '"end"'):
        assert _one(con, f"SELECT count(*) FROM ev WHERE {col} IN {sentinels}") == 0
    # (birth_date_min is the 1st of the birth month: 1970-01-01 for a January-1970 birth)
    for col in ("birth_date", "death_date"):
        assert _one(con, f"SELECT count(*) FROM pat WHERE {col} IN {sentinels}") == 0
    assert _one(con, 'SELECT count(*) FROM ev WHERE "end" < start') == 0
