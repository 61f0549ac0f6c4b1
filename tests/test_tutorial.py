"""docs/tutorial.md runs: every example of the tutorial is executed and its output checked."""

from __future__ import annotations

import doctest
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[1] / "docs" / "tutorial.md"


def test_tutorial_runs() -> None:
    result = doctest.testfile(
        str(TUTORIAL),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        raise_on_error=False,
        verbose=False,
    )
    assert result.attempted > 15, "the tutorial lost its examples"
    assert result.failed == 0, f"{result.failed} tutorial example(s) failed (see output above)"
