"""The committed YAML and nomenclatures are what tools/derive_registry.py produces.

Runs only when SNDSLAB_SCHEMA_SNDS points at a schema-snds checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "src" / "sndslab" / "registry"
SCHEMA = os.environ.get("SNDSLAB_SCHEMA_SNDS", "")


@pytest.mark.skipif(
    not SCHEMA or not Path(SCHEMA).is_dir(), reason="SNDSLAB_SCHEMA_SNDS not set to a directory"
)
def test_committed_registry_is_up_to_date(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "derive_registry.py"),
            SCHEMA,
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    for sub in ("tables", "nomenclatures"):
        fresh = {
            p.relative_to(tmp_path): p.read_bytes()
            for p in (tmp_path / sub).rglob("*")
            if p.is_file()
        }
        shipped = {
            p.relative_to(REGISTRY): p.read_bytes()
            for p in (REGISTRY / sub).rglob("*")
            if p.is_file()
        }
        assert sorted(fresh) == sorted(shipped), f"{sub}: file lists differ; re-run the tool"
        stale = [str(k) for k in fresh if fresh[k] != shipped[k]]
        assert not stale, f"out of date, re-run tools/derive_registry.py: {stale}"
