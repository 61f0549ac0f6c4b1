"""Atomic output directory and files: complete at the final path, or absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from sndslab._atomic import (
    OUTPUT_MARKER,
    atomic_output_dir,
    atomic_write_bytes,
    atomic_write_text,
    check_disjoint,
    check_output_dir,
    is_sndslab_output,
    mark_output,
)
from sndslab.errors import InvalidArgumentError, OutputExistsError, SndslabError


def _names(root: Path) -> list[str]:
    """Entries of ``root`` apart from sndslab's output marker."""
    return sorted(p.name for p in root.iterdir() if p.name != OUTPUT_MARKER)


def test_success_creates_final_and_no_leftovers(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with atomic_output_dir(final, overwrite=False) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".out.tmp-")
        assert not final.exists()
        (tmp / "a.txt").write_text("a")
    assert (final / "a.txt").read_text() == "a"
    assert _names(tmp_path) == ["out"]


def test_creates_missing_parents(tmp_path: Path) -> None:
    final = tmp_path / "x" / "y" / "out"
    with atomic_output_dir(final, overwrite=False) as tmp:
        (tmp / "f").write_text("1")
    assert (final / "f").exists()


def test_exception_keeps_previous_output_and_removes_temp(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    mark_output(final, "test")
    (final / "old.txt").write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_output_dir(final, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("half")
        raise RuntimeError("boom")
    assert _names(final) == ["old.txt"]
    assert _names(tmp_path) == ["out"]


def test_keyboard_interrupt_removes_temp(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), atomic_output_dir(final, overwrite=False) as tmp:
        (tmp / "x").write_text("x")
        raise KeyboardInterrupt
    assert _names(tmp_path) == []


def test_overwrite_replaces_and_deletes_old(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    mark_output(final, "test")
    (final / "old.txt").write_text("old")
    with atomic_output_dir(final, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert _names(final) == ["new.txt"]
    assert _names(tmp_path) == ["out"]


def test_refuses_non_empty_without_overwrite(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "keep").write_text("k")
    with pytest.raises(OutputExistsError) as info, atomic_output_dir(final, overwrite=False):
        pytest.fail("must not be entered")  # pragma: no cover
    assert "\n" not in str(info.value)
    assert _names(tmp_path) == ["out"] and _names(final) == ["keep"]


def test_empty_existing_dir_is_replaced(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    with atomic_output_dir(final, overwrite=False) as tmp:
        (tmp / "a").write_text("a")
    assert _names(final) == ["a"]


def test_refuses_file_and_path_under_file(tmp_path: Path) -> None:
    afile = tmp_path / "f"
    afile.write_text("x")
    with pytest.raises(OutputExistsError):
        check_output_dir(afile, overwrite=True)
    with pytest.raises(SndslabError, match="not a directory"):
        check_output_dir(afile / "sub", overwrite=False)


def test_output_appearing_during_run_is_not_clobbered(tmp_path: Path) -> None:
    final = tmp_path / "out"
    with pytest.raises(OutputExistsError), atomic_output_dir(final, overwrite=False) as tmp:
        (tmp / "a").write_text("a")
        final.mkdir()
        (final / "other").write_text("o")
    assert _names(final) == ["other"]
    assert _names(tmp_path) == ["out"]


def test_atomic_write_bytes_and_text(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    atomic_write_text(path, "{}\n")
    atomic_write_bytes(path, b"[1]")
    assert path.read_bytes() == b"[1]"
    assert _names(tmp_path) == ["m.json"]


def test_atomic_write_failure_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text("before")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_text() == "before"
    assert _names(tmp_path) == ["m.txt"]


def test_outputs_carry_the_marker(tmp_path: Path) -> None:
    with atomic_output_dir(tmp_path / "out", overwrite=False, kind="synth") as tmp:
        (tmp / "a.txt").write_text("a")
    assert is_sndslab_output(tmp_path / "out")


def test_overwrite_refuses_a_directory_sndslab_did_not_make(tmp_path: Path) -> None:
    final = tmp_path / "mine"
    final.mkdir()
    (final / "thesis.tex").write_text("years of work")
    with pytest.raises(OutputExistsError, match="not created by sndslab"):
        check_output_dir(final, overwrite=True)
    with (
        pytest.raises(OutputExistsError, match="not created by sndslab"),
        atomic_output_dir(final, overwrite=True) as tmp,
    ):
        (tmp / "x").write_text("x")
    assert (final / "thesis.tex").read_text() == "years of work"


def test_overwrite_never_replaces_a_lake(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "_lake.json").write_text("{}")
    mark_output(lake, "test")  # even a marked one
    with pytest.raises(OutputExistsError, match="sndslab lake"):
        check_output_dir(lake, overwrite=True)


@pytest.mark.parametrize(
    ("out", "inp", "message"),
    [
        ("lake", "lake", "is the input"),
        ("lake/omop", "lake", "is inside the input"),
        ("lake/events", "lake", "is inside the input"),
        (".", "lake", "contains the input"),
    ],
)
def test_output_and_input_must_be_disjoint(
    tmp_path: Path, out: str, inp: str, message: str
) -> None:
    (tmp_path / "lake").mkdir()
    with pytest.raises(InvalidArgumentError, match=message):
        check_output_dir(tmp_path / out, overwrite=True, inputs=[tmp_path / inp])
    check_disjoint(tmp_path / "elsewhere", [tmp_path / inp])  # a sibling is fine
