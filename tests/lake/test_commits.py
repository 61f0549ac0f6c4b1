"""Lake commits: one publication step, rollback, what is kept, the writer lock."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sndslab.errors import SndslabError
from sndslab.lake import (
    LakePaths,
    commit_numbers,
    current_commit,
    open_lake,
    publish,
    read_manifest,
    rollback,
    write_generation,
    writer_lock,
)


def _write(lake: Path, value: int, *, publish_commit: bool = True, keep: int | None = None) -> int:
    with open_lake(lake, create=True) as opened:
        with write_generation(
            opened.paths,
            "marts",
            opened.con,
            validate=False,
            publish_commit=publish_commit,
            keep=keep,
        ) as w:
            w.write("t", f"SELECT {value} AS v", internal=True)
        return w.generation


def _value(lake: Path) -> int:
    with open_lake(lake) as opened:
        return int(opened.sql("SELECT v FROM marts.t").to_arrow().column(0)[0].as_py())


def test_a_generation_is_visible_only_once_a_commit_names_it(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _write(lake, 1)
    gen = _write(lake, 2, publish_commit=False)
    assert _value(lake) == 1  # written and recorded, not published
    paths = LakePaths(str(lake))
    assert read_manifest(paths, "marts").generation == 1
    publish(paths, command="test", layers={"marts": gen})
    assert _value(lake) == 2 and commit_numbers(paths) == [1, 2]


def test_an_unpublished_generation_is_removed_by_the_next_run(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _write(lake, 1)
    _write(lake, 2, publish_commit=False)  # as a run killed before its commit leaves it
    assert (lake / "marts" / "g00000002").is_dir()
    notes: list[str] = []
    with (
        open_lake(lake) as opened,
        write_generation(opened.paths, "marts", opened.con, validate=False, notes=notes) as w,
    ):
        w.write("t", "SELECT 3 AS v", internal=True)
    assert notes == [
        "marts/: removed 1 unpublished generation(s) ['g00000002'] (left by an interrupted "
        "or failed run)"
    ]
    assert _value(lake) == 3 and w.generation == 2  # the number of the removed one
    commit = current_commit(LakePaths(str(lake)))
    assert commit is not None and commit.notes == notes


def test_rollback_publishes_an_earlier_commit_again(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for v in (1, 2, 3):
        _write(lake, v, keep=3)
    paths = LakePaths(str(lake))
    assert commit_numbers(paths) == [1, 2, 3]
    back = rollback(paths)
    assert back.number == 4 and back.layers == {"marts": 2} and _value(lake) == 2
    assert back.notes == ["rollback to commit 2 (from commit 3)"]
    forward = rollback(paths, to=3)
    assert forward.layers == {"marts": 3} and _value(lake) == 3
    # keep 3: commits 4, 5 and 3 remain; generation 1 is no longer named and is deleted
    assert commit_numbers(paths) == [3, 4, 5]
    assert sorted(p.name for p in (lake / "marts").glob("g*")) == ["g00000002", "g00000003"]
    with pytest.raises(SndslabError, match=r"commit 1 is not kept.*\[3, 4, 5\]"):
        rollback(paths, to=1)


def test_keep_is_recorded_and_inherited(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _write(lake, 1, keep=1)
    _write(lake, 2)
    paths = LakePaths(str(lake))
    assert commit_numbers(paths) == [2]  # keep 1 inherited from the first commit
    assert [p.name for p in (lake / "marts").glob("g*")] == ["g00000002"]
    with pytest.raises(SndslabError, match="nothing to roll back"):
        rollback(paths)
    with pytest.raises(SndslabError, match="at least 1"):
        publish(paths, command="test", keep=0)


def test_the_cli_rolls_back_and_lists_history(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _write(lake, 1)
    _write(lake, 2)
    run = [sys.executable, "-m", "sndslab", "lake"]
    done = subprocess.run([*run, "rollback", str(lake)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "rollback to commit 1 (from commit 2)" in " ".join(done.stdout.split())
    assert _value(lake) == 1
    listed = subprocess.run([*run, "history", str(lake)], capture_output=True, text=True)
    assert listed.returncode == 0 and "rollback" in listed.stdout


def test_a_second_writer_is_refused_while_the_first_holds_the_lock(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _write(lake, 1)
    paths = LakePaths(str(lake))
    other = (
        "import sys; from sndslab.lake import LakePaths, writer_lock\n"
        "try:\n"
        f"    with writer_lock(LakePaths({str(lake)!r})): print('got it')\n"
        "except Exception as exc: print(exc)\n"
    )
    with writer_lock(paths), writer_lock(paths):  # re-entrant in one process
        done = subprocess.run([sys.executable, "-c", other], capture_output=True, text=True)
    assert "another sndslab run is writing into" in done.stdout, done.stderr
    done = subprocess.run([sys.executable, "-c", other], capture_output=True, text=True)
    assert done.stdout.strip() == "got it"


def test_commit_files_are_json_with_the_published_state(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    _write(lake, 1)
    body = json.loads((lake / "_commits" / "00000001.json").read_text())
    assert body["layers"] == {"marts": 1} and body["command"] == "marts"
    assert body["stg"] == {} and body["keep"] == 5


def test_analyses_sharing_a_layer_keep_each_others_tables_and_rows(tmp_path: Path) -> None:
    """Two analyses write the shared ``marts`` layer in turn (as indicators, pathways, cohorts
    and signals do): each rewrites only its own keys and carries the other's tables over."""
    lake = tmp_path / "lake"

    def run(table: str, key: str, values: dict[str, int]) -> list[str]:
        rows = " UNION ALL ".join(
            f"SELECT '{k.replace(chr(39), chr(39) * 2)}' AS {key}, {v} AS v"
            for k, v in values.items()
        )
        with (
            open_lake(lake, create=True) as opened,
            write_generation(opened.paths, "marts", opened.con, validate=False) as w,
        ):
            w.write(
                table,
                " UNION ALL ".join([rows, *w.kept_rows(table, key, list(values))]),
                order_by=[key],
                internal=True,
            )
            return w.carry_rest()

    assert run("a", "name", {"x": 1, "y": 2}) == []
    assert run("b", "study", {"s": 5}) == ["a"]
    assert run("a", "name", {"y": 3, "it's": 4}) == ["b"]  # x kept, y replaced, a quote
    with open_lake(lake) as opened:
        assert opened.table("marts.a").to_arrow().to_pylist() == [
            {"name": "it's", "v": 4}, {"name": "x", "v": 1}, {"name": "y", "v": 3}
        ]  # fmt: skip
        assert opened.table("marts.b").to_arrow().to_pylist() == [{"study": "s", "v": 5}]
