"""The public surface: every ``__all__`` is sorted and every name in it importable."""

from __future__ import annotations

import importlib

import pytest

MODULES = ["sndslab", "sndslab.errors", "sndslab.registry", "sndslab.synth"]


@pytest.mark.parametrize("name", MODULES)
def test_all_sorted_and_importable(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - module still being written
        pytest.skip(f"{name} not importable yet: {exc}")
    exported = getattr(module, "__all__", None)
    if exported is None:
        pytest.skip(f"{name} defines no __all__")
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"
