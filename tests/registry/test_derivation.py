"""The committed YAML and nomenclatures are what tools/derive_registry.py produces.

This needs a schema-snds checkout (35 MB, not vendored; users don't have it), so the test is
marked ``needs_schema_snds`` and deselected from the default run (``make test`` runs
``-m "not slow and not needs_schema_snds"``). Run it with ``make test-schema``
(``SNDSLAB_SCHEMA_SNDS`` defaults there to ``../shared/reference/schema-snds``) or
``SNDSLAB_SCHEMA_SNDS=/path/to/schema-snds pytest -m needs_schema_snds``. Selected without
``SNDSLAB_SCHEMA_SNDS`` pointing at a checkout, it fails: it is never silently skipped.
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


@pytest.mark.needs_schema_snds
def test_committed_registry_is_up_to_date(tmp_path: Path) -> None:
    assert SCHEMA and (Path(SCHEMA) / "schemas").is_dir(), (
        f"SNDSLAB_SCHEMA_SNDS={SCHEMA!r} is not a schema-snds checkout; set it, or deselect "
        "this test with -m 'not needs_schema_snds' (as make test does)"
    )
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
