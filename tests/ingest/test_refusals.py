"""Every refusal is accounted: a refused file's lines are counted and reported with the reason,
the command exits non-zero unless --allow-refused, and a missing IR_BEN_R is one clear line.

Cases from the reliability audit: a tab-separated ER_PRS_F of 60,969 lines was refused with
exit 0 and reported as ``refused | 0 | 0``; a raw folder without IR_BEN_R raised
``IOException: No files found … clean/IR_BEN_R``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from sndslab.cli import app
from sndslab.ingest import ingest
from sndslab.lake import open_lake

runner = CliRunner()


def _raw_with_beneficiaries(tmp_path: Path, synth_raw: Path) -> Path:
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(synth_raw / "IR_BEN_R.csv", raw / "IR_BEN_R.csv")
    return raw


def test_a_refused_file_counts_its_lines(tmp_path: Path, synth_raw: Path) -> None:
    raw = _raw_with_beneficiaries(tmp_path, synth_raw)
    (raw / "notes_2019.csv").write_text("FOO;BAR\n1;2\n3;4\n\n5;6\n")
    result = ingest(raw, tmp_path / "lake")
    files = {f["file"]: f for f in result.report["files"]}
    refused = files["notes_2019.csv"]
    assert (refused["status"], refused["rows_in"], refused["refused"]) == ("refused", 3, 3)
    assert "names no SNDS table" in refused["message"]
    assert result.report["refused"]["files"] == 1 and result.report["refused"]["rows"] == 3
    md = open_lake(tmp_path / "lake").report_markdown
    assert "## Refused files" in md and "notes_2019.csv" in md


def test_a_tab_separated_file_is_staged(tmp_path: Path, synth_raw: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    text = (synth_raw / "IR_BEN_R.csv").read_text()
    (raw / "IR_BEN_R.csv").write_text(text.replace(";", "\t"))
    result = ingest(raw, tmp_path / "lake")
    (ben,) = result.report["files"]
    assert ben["status"] == "staged" and ben["staged"] == text.count("\n") - 1 > 0


def test_the_command_exits_non_zero_unless_refusals_are_allowed(
    tmp_path: Path, synth_raw: Path
) -> None:
    raw = _raw_with_beneficiaries(tmp_path, synth_raw)
    (raw / "ER_PRS_F_2019.csv").write_text("no header here\nx\ny\n")
    res = runner.invoke(app, ["ingest", str(raw), "--lake", str(tmp_path / "lake")])
    assert res.exit_code == 1, res.output
    assert "error: 1 raw file(s) with 2 data line(s) not staged" in res.output
    assert "--allow-refused" in res.output and "Traceback" not in res.output
    ok = runner.invoke(
        app, ["ingest", str(raw), "--lake", str(tmp_path / "lake"), "--allow-refused"]
    )
    assert ok.exit_code == 0, ok.output
    report = open_lake(tmp_path / "lake").report
    (prs,) = [f for f in report["files"] if f["file"] == "ER_PRS_F_2019.csv"]
    assert prs["refused"] == 2


def test_missing_beneficiaries_is_one_clear_line(tmp_path: Path, synth_raw: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    shutil.copy(synth_raw / "ER_PRS_F_2019.csv", raw / "ER_PRS_F_2019.csv")
    res = runner.invoke(app, ["ingest", str(raw), "--lake", str(tmp_path / "lake")])
    assert res.exit_code == 1, res.output
    (line,) = [x for x in res.output.splitlines() if x.startswith("error:")]
    assert "no IR_BEN_R file" in line and "1 staged file(s) stay" in line
    assert "Traceback" not in res.output
