"""Reading the declarative spec files (indicators, pathways, cohorts, Open DAMIR indicators):
the one place that turns an unreadable file, invalid YAML or a top level that is not a mapping
into one line naming the file.

>>> import tempfile, pathlib
>>> from sndslab.errors import SndslabError
>>> path = pathlib.Path(tempfile.mkdtemp()) / "spec.yaml"
>>> _ = path.write_text("name: [unclosed", encoding="utf-8")
>>> try:
...     read_yaml_mapping(path, "demo spec", SndslabError)
... except SndslabError as exc:
...     print(str(exc).replace(str(path), "PATH").split(":")[:2])
['demo spec PATH', ' invalid YAML']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sndslab.errors import SndslabError

__all__ = ["read_yaml_mapping"]


def read_yaml_mapping(path: str | Path, what: str, error: type[SndslabError]) -> dict[str, Any]:
    """The top-level mapping of the YAML file ``path``, or ``error`` with one line
    ``<what> <path>: cannot be read: …`` / ``invalid YAML: …`` / ``expected a mapping at top
    level``."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"{what} {path}: cannot be read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise error(f"{what} {path}: invalid YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict):
        raise error(f"{what} {path}: expected a mapping at top level")
    return raw
