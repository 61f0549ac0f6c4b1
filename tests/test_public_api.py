"""The public surface of every package: importable, with an exact, sorted ``__all__``.

Checked for every package of ``sndslab`` (``sndslab`` itself and every subpackage found on
disk under ``sndslab.__path__``, so a package added later is checked without editing this
file) and for the public modules in ``PUBLIC_MODULES``. Nothing is skipped: a package that
fails to import fails its test.

The rule, for each checked module:

1. it imports;
2. it defines ``__all__``;
3. ``__all__`` is in plain ``sorted()`` order (upper case first) and has no duplicates;
4. ``from <module> import *`` works, i.e. every name in ``__all__`` is importable;
5. ``__all__`` equals the module's *public names*, plus ``__version__`` if the module defines
   it (the one underscore name allowed). The public names are the keys of the module namespace
   (``vars(module)``) that do not start with ``_``, except:

   * names bound to a module object: subpackages and submodules (``sndslab.cli`` binds
     ``cli`` in ``sndslab``) and imported modules (``import csv``,
     ``from importlib import resources``);
   * ``annotations`` bound to ``__future__.annotations``;
   * names imported for typing only: a name bound to the very object ``typing.<name>`` or
     ``collections.abc.<name>`` (``TYPE_CHECKING``, ``Any``, ``Iterator``, …). Names imported
     under ``if TYPE_CHECKING:`` are not in the namespace at run time and need nothing.

   Anything else an ``__init__`` defines or imports is public and must be in ``__all__``;
   a helper that is not public takes a leading underscore.
"""

from __future__ import annotations

import collections.abc
import importlib
import pkgutil
import types
import typing
from pathlib import Path

import pytest

import sndslab

#: Public plain modules (not packages) whose ``__all__`` is checked with the same rule.
PUBLIC_MODULES = ["sndslab.errors"]

#: Packages that exist today: the on-disk walk must find at least these.
KNOWN_PACKAGES = {
    "sndslab",
    "sndslab.engines",
    "sndslab.events",
    "sndslab.ingest",
    "sndslab.opendamir",
    "sndslab.referentials",
    "sndslab.registry",
    "sndslab.synth",
}

#: Underscore names allowed in ``__all__`` (when the module defines them).
ALLOWED_DUNDERS = {"__version__"}


def _packages(prefix: str, paths: list[str]) -> list[str]:
    """Dotted names of the packages under ``paths``, found on disk (nothing is imported, so
    an import error surfaces in the test of that package, not during collection)."""
    found = []
    for info in pkgutil.iter_modules(paths):
        if info.ispkg:
            name = f"{prefix}.{info.name}"
            found.append(name)
            found.extend(_packages(name, [str(Path(p) / info.name) for p in paths]))
    return found


PACKAGES = ["sndslab", *_packages("sndslab", list(sndslab.__path__))]

_MISSING = object()


def public_names(module: types.ModuleType) -> set[str]:
    """The names ``__all__`` must list (see the module docstring for the rule)."""
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        if name == "annotations" and type(value).__module__ == "__future__":
            continue
        if any(getattr(src, name, _MISSING) is value for src in (typing, collections.abc)):
            continue
        names.add(name)
    return names | (ALLOWED_DUNDERS & set(vars(module)))


def test_every_package_is_found() -> None:
    assert set(PACKAGES) >= KNOWN_PACKAGES, sorted(KNOWN_PACKAGES - set(PACKAGES))
    assert len(PACKAGES) == len(set(PACKAGES))


@pytest.mark.parametrize("name", PACKAGES + PUBLIC_MODULES)
def test_public_api(name: str) -> None:
    module = importlib.import_module(name)
    assert hasattr(module, "__all__"), f"{name} defines no __all__"
    exported = list(module.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted: {exported}"
    duplicates = sorted({n for n in exported if exported.count(n) > 1})
    assert not duplicates, f"{name}.__all__ has duplicates: {duplicates}"
    namespace: dict[str, object] = {}
    exec(f"from {name} import *", namespace)  # AttributeError on a name that does not exist
    assert set(exported) <= set(namespace)
    expected = public_names(module)
    assert set(exported) == expected, (
        f"{name}.__all__ differs from its public names: "
        f"not exported {sorted(expected - set(exported))}, "
        f"exported but not public {sorted(set(exported) - expected)}"
    )


def test_public_names_rule() -> None:
    """The rule itself, on a synthetic module: what counts as public and what does not."""
    module = types.ModuleType("fake")
    exec(
        "from __future__ import annotations\n"
        "import csv\n"
        "from importlib import resources\n"
        "from typing import TYPE_CHECKING, Any\n"
        "from collections.abc import Iterator\n"
        "from pathlib import Path\n"
        "__version__ = '1'\n"
        "CONSTANT = 1\n"
        "def helper() -> None: ...\n"
        "def _private() -> None: ...\n",
        vars(module),
    )
    assert public_names(module) == {"CONSTANT", "Path", "__version__", "helper"}
