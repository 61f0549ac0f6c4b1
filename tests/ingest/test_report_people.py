"""The ingest report serves people: which run (date, version, engine, input and its hash), how
long each phase took, totals that add up, rule matches beside rows filtered, transformations,
thousands separators and a glossary; the JSON and the Markdown say the same."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import sndslab
from sndslab.ingest import FileAccount, RuleCounts, build_report, render_markdown, write_report
from sndslab.ingest._report import GLOSSARY, PHASES, input_sha256
from sndslab.lake import LakePaths, git_revision, open_lake

#: Keys of the report before it served people: other code and tests read them.
OLD_KEYS = {
    "tables",
    "files",
    "refused",
    "rules",
    "identity",
    "intermediate",
    "join_loss",
    "identity_score",
}


@pytest.fixture(scope="module")
def lake(ingested_synth: tuple[Path, Path]) -> Path:
    return ingested_synth[1]


@pytest.fixture(scope="module")
def report(lake: Path) -> dict[str, Any]:
    with open_lake(lake) as opened:
        return opened.report


@pytest.fixture(scope="module")
def markdown(lake: Path) -> str:
    with open_lake(lake) as opened:
        return opened.report_markdown


def _section(md: str, title: str) -> str:
    """The text of the Markdown section ``title`` (up to the next heading of any level 2)."""
    start = md.index(f"\n## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start : end if end >= 0 else len(md)]


def _rows(section: str) -> list[list[str]]:
    """The body rows of the Markdown table(s) of a section, cells stripped."""
    rows = []
    for line in section.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[1:]  # the header


def _num(cell: str) -> int:
    """``"**12,345**"`` → 12345 (a cell of the Markdown)."""
    text = cell.strip("*").strip()
    assert re.fullmatch(r"\d{1,3}(,\d{3})*", text), cell
    return int(text.replace(",", ""))


def test_old_keys_kept(report: dict[str, Any]) -> None:
    assert set(report) >= OLD_KEYS
    assert {"run", "totals", "rule_matches", "transformations", "glossary"} <= set(report)


def test_run_facts(report: dict[str, Any], ingested_synth: tuple[Path, Path]) -> None:
    run = report["run"]
    date = datetime.fromisoformat(run["date"])
    assert date.utcoffset() == timedelta(0)
    assert datetime.now(UTC) - timedelta(hours=6) < date <= datetime.now(UTC)
    assert run["sndslab_version"] == sndslab.__version__
    assert run["git_revision"] == git_revision()
    assert run["engine"] == "duckdb"
    raw = ingested_synth[0] / "raw"
    assert run["raw_dir"] == str(raw.resolve())
    assert Path(run["lake"]) == ingested_synth[1]


def test_input_hash_is_that_of_the_raw_folder(
    report: dict[str, Any], ingested_synth: tuple[Path, Path]
) -> None:
    """Recomputed from the raw files themselves, not from the staging accounts."""
    raw = ingested_synth[0] / "raw"
    files = sorted(p for p in raw.rglob("*") if p.is_file())
    pairs = [
        (p.relative_to(raw).as_posix(), hashlib.sha256(p.read_bytes()).hexdigest()) for p in files
    ]
    digest = hashlib.sha256("".join(f"{n}\t{h}\n" for n, h in sorted(pairs)).encode())
    inp = report["run"]["input"]
    assert inp["sha256"] == digest.hexdigest() == input_sha256(pairs)
    assert inp["files"] == len(files)
    assert inp["bytes"] == sum(p.stat().st_size for p in files)


def test_phases_and_duration(report: dict[str, Any]) -> None:
    phases = report["run"]["phases"]
    assert tuple(phases) == PHASES
    assert all(s >= 0 for s in phases.values()) and phases["staging"] > 0
    assert report["run"]["duration_seconds"] == pytest.approx(sum(phases.values()), abs=0.002)


def test_totals_add_up(report: dict[str, Any]) -> None:
    tables, files, tot = report["tables"].values(), report["files"], report["totals"]
    t = tot["tables"]
    assert t["rows_in"] == sum(x["rows_in"] for x in tables)
    assert t["rows_in"] == t["kept"] + t["filtered"] + t["quarantined"]
    assert t["filtered"] == sum(t["filtered_per_rule"].values())
    assert t["quarantined"] == sum(t["quarantined_per_reason"].values())
    f = tot["files"]
    assert f["files"] == len(files) == sum(f["by_status"].values())
    assert f["rows_in"] == f["staged"] + f["quarantined"] + f["refused"]
    # rows of the staged files are the tables' rows, less the orphans (quarantined in int/)
    orphans = t["quarantined_per_reason"].get("orphan_satellite_row", 0)
    assert f["rows_in"] == t["rows_in"] + f["refused"]
    assert f["staged"] == t["kept"] + t["filtered"] + orphans
    assert tot["rule_matches"]["filtered"] == t["filtered"]
    assert tot["transformations"]["rows"] == sum(sum(x["transformed"].values()) for x in tables)
    assert tot["intermediate"]["rows"] == sum(report["intermediate"].values())


def test_rule_matches_beside_filtered(report: dict[str, Any]) -> None:
    rows = {(r["rule"], r["table"]): r for r in report["rule_matches"]}
    for table, t in report["tables"].items():
        for rule, n in t["matched"].items():
            assert rows[(rule, table)]["matched"] == n
        for rule, n in t["filtered"].items():
            assert rows[(rule, table)]["filtered"] == n
    for (rule, table), r in rows.items():
        if r["matched"] is None:  # inherited: the rule is not evaluated on this table
            assert rule not in report["tables"][table]["matched"] and r["filtered"] > 0
    # the reason the section exists: a rule matching rows an earlier rule already filtered
    assert any(r["matched"] is not None and r["matched"] > r["filtered"] for r in rows.values())
    kinds = {r["name"]: r["kind"] for r in report["rules"]}
    assert all(r["kind"] == kinds[r["rule"]] for r in rows.values())


def test_transformations(report: dict[str, Any]) -> None:
    (sentinel,) = [r for r in report["transformations"] if r["rule"] == "imb_open_end_sentinel"]
    assert sentinel["table"] == "IR_IMB_R" and sentinel["rows"] > 0
    assert sentinel["rows"] == report["tables"]["IR_IMB_R"]["transformed"][sentinel["rule"]]


def test_markdown_is_rendered_from_the_json(report: dict[str, Any], markdown: str) -> None:
    """The Markdown on disk is the rendering of the JSON on disk: they cannot disagree."""
    assert render_markdown(report) == markdown


def test_markdown_tables_agree_with_json(report: dict[str, Any], markdown: str) -> None:
    body = _rows(_section(markdown, "Row accounting per table"))
    *lines, total = body
    assert [r[0] for r in lines] == list(report["tables"])
    for row in lines:
        t = report["tables"][row[0]]
        assert _num(row[1]) == t["rows_in"] and _num(row[2]) == t["kept"]
        assert _num(row[3]) == sum(t["filtered"].values())
        assert _num(row[4]) == sum(t["quarantined"].values())
    assert total[0].startswith("**total**")
    assert [_num(c) for c in total[1:5]] == [sum(_num(r[i]) for r in lines) for i in range(1, 5)]
    t = report["totals"]["tables"]
    assert [_num(c) for c in total[1:5]] == [
        t["rows_in"],
        t["kept"],
        t["filtered"],
        t["quarantined"],
    ]
    # thousands separators: every count of 1,000 or more is written with them
    assert t["rows_in"] >= 1000 and f"**{t['rows_in']:,}**" in total[1]


def test_every_markdown_table_has_a_totals_row(markdown: str) -> None:
    tables: list[tuple[str, list[str]]] = []  # (heading, lines) of each Markdown table
    heading, previous = "", ""
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading = line
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append((heading, []))
            tables[-1][1].append(line)
        previous = line
    assert len(tables) >= 9
    for heading, lines in tables:
        assert "**total" in lines[-1] or "**all persons**" in lines[-1], (heading, lines[-1])


def test_rule_matches_section(report: dict[str, Any], markdown: str) -> None:
    *lines, total = _rows(_section(markdown, "Rules: rows matched and rows filtered"))
    assert len(lines) == len(report["rule_matches"])
    for row, r in zip(lines, report["rule_matches"], strict=True):
        assert row[:3] == [r["rule"], r["kind"], r["table"]]
        assert row[3] == ("–" if r["matched"] is None else f"{r['matched']:,}")
        assert _num(row[4]) == r["filtered"]
    assert _num(total[4]) == report["totals"]["rule_matches"]["filtered"]
    assert "already filtered" in _section(markdown, "Rules: rows matched and rows filtered")


def test_run_and_phases_in_markdown(report: dict[str, Any], markdown: str) -> None:
    text = _section(markdown, "Run")
    run = report["run"]
    assert f"- date: {run['date'][:10]} {run['date'][11:19]} UTC" in text
    assert f"sndslab {sndslab.__version__}" in text and f"- input: {run['raw_dir']} (" in text
    assert run["input"]["sha256"] in text and "- engine: duckdb" in text
    *lines, total = _rows(text)
    assert [r[0] for r in lines] == list(PHASES) and total[0] == "**total**"
    assert [float(r[1]) for r in lines] == pytest.approx(list(run["phases"].values()), abs=0.006)


def test_glossary(report: dict[str, Any], markdown: str) -> None:
    terms = {"kept", "filtered", "quarantined", "refused", "orphans", "empty"}
    terms |= {"skipped_duplicate", "matched", "transformed"}
    assert terms <= set(report["glossary"]["rows"])
    # every identity flag the report counts is defined (a new flag needs its definition)
    assert set(report["identity"]["flags"]) <= set(report["glossary"]["identity"])
    assert report["glossary"] == GLOSSARY
    glossary = markdown[markdown.index("\n## Glossary\n") :]
    for group in GLOSSARY.values():
        for term, text in group.items():
            assert f"- **{term}**: {text}" in glossary


def _account(file: str, status: str, **kw: Any) -> FileAccount:
    return FileAccount(
        file=file,
        table=kw.pop("table", None),
        year=None,
        sha256=file * 2,
        bytes=10,
        status=status,
        **kw,
    )  # type: ignore[arg-type]


def test_build_report_pure_counts_every_status() -> None:
    """Refused, empty and duplicate files are in the file totals; the run section says what
    was given, with the pipeline's ``stage`` timing named ``staging``."""
    accounts = [
        _account("A.csv", "staged", table="X", rows_in=5, staged=4, quarantined={"type_error": 1}),
        _account("B.csv", "refused", rows_in=3, refused_rows=3, message="B.csv: no table"),
        _account("C.csv", "empty", table="X"),
        _account("D.csv", "skipped_duplicate", table="X"),
    ]
    rc = RuleCounts(
        rows_in={"X": 4},
        kept={"X": 3},
        filtered={"X": {"r": 1}},
        matched={"X": {"r": 1, "s": 2}},
        transformed={"X": {"t": 2}},
        rules=[
            {"name": n, "kind": k, "tables": ["X"], "enabled": True, "source": "-"}
            for n, k in (("r", "row"), ("s", "row"), ("t", "transform"))
        ],
    )
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    rep = build_report(
        SimpleNamespace(accounts=accounts),
        rc,
        None,
        {"a": 1_234},
        raw_dir="/raw",
        lake="/lake",
        engine="duckdb",
        started=started,
        timings={"stage": 1.0, "rules": 2.0, "report": 0.5},
        revision="f" * 40,
    )
    assert rep["run"]["date"] == "2026-01-02T03:04:05+00:00"
    assert rep["run"]["phases"] == {"staging": 1.0, "rules": 2.0, "report": 0.5}
    assert rep["run"]["duration_seconds"] == 3.5
    assert rep["run"]["input"]["sha256"] == input_sha256((a.file, a.sha256) for a in accounts)
    files = rep["totals"]["files"]
    assert files["by_status"] == {"empty": 1, "refused": 1, "skipped_duplicate": 1, "staged": 1}
    assert (files["rows_in"], files["staged"], files["quarantined"], files["refused"]) == (
        8,
        4,
        1,
        3,
    )
    assert rep["totals"]["tables"] == {
        "tables": 1,
        "rows_in": 5,
        "kept": 3,
        "filtered": 1,
        "quarantined": 1,
        "filtered_per_rule": {"r": 1},
        "quarantined_per_reason": {"type_error": 1},
    }
    assert rep["rule_matches"] == [
        {"rule": "r", "kind": "row", "table": "X", "matched": 1, "filtered": 1},
        {"rule": "s", "kind": "row", "table": "X", "matched": 2, "filtered": 0},
    ]
    assert rep["transformations"] == [{"rule": "t", "table": "X", "rows": 2}]
    md = render_markdown(rep)
    assert "- date: 2026-01-02 03:04:05 UTC" in md and "(git ffffffffffff)" in md
    assert "| int.a | 1,234 |" in md and "- B.csv: B.csv: no table" in md
    assert json.loads(json.dumps(rep)) == rep  # JSON-ready, numbers stay numbers


def test_write_report_writes_both_files_into_the_commit_report_dir(tmp_path: Path) -> None:
    """``write_report`` writes the JSON and its Markdown rendering into the directory given;
    the new facts are keyword-only, and the run date defaults to now."""
    paths = LakePaths(str(tmp_path))
    rc = RuleCounts(rows_in={"X": 2}, kept={"X": 2})
    out = paths.report_dir(7)
    rep = write_report(paths, None, rc, None, {"t": 2}, {"loss": 0.5}, None, out_dir=out)
    on_disk = json.loads((tmp_path / "_reports" / "00000007" / "ingest.json").read_text())
    assert on_disk == rep and rep["join_loss"] == {"loss": 0.5}
    assert datetime.now(UTC) - datetime.fromisoformat(rep["run"]["date"]) < timedelta(minutes=5)
    md = (tmp_path / "_reports" / "00000007" / "ingest.md").read_text()
    assert md == render_markdown(rep)
