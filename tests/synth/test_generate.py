"""Generator runs: determinism, calibration, atomicity, bad arguments."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from sndslab.errors import SndslabError
from sndslab.synth import SynthConfig, generate
from sndslab.synth import _generate as gen_module


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix in (".csv", ".gz", ".parquet")
    }


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    cfg = SynthConfig(patients=600, first_year=2020, last_year=2020, seed=3, chunk_size=250)
    a = generate(cfg, tmp_path / "a")
    b = generate(cfg, tmp_path / "b")
    c = generate(cfg.model_copy(update={"seed": 4}), tmp_path / "c")
    da, db_, dc = _digest(a.out_dir), _digest(b.out_dir), _digest(c.out_dir)
    assert da == db_
    differing = {k for k in da if da[k] != dc.get(k)}
    assert "raw/ER_PRS_F_2020.csv" in differing


def test_gzip_output(tmp_path: Path) -> None:
    cfg = SynthConfig(patients=300, first_year=2021, last_year=2021, seed=1, compress=True)
    res = generate(cfg, tmp_path / "gz")
    assert any(name.endswith(".csv.gz") for name in res.files)
    import duckdb

    con = duckdb.connect()
    n = con.execute(
        f"SELECT count(*) FROM read_csv('{res.out_dir / 'raw' / 'ER_PRS_F_2021.csv.gz'}', "
        "delim=';', header=true, all_varchar=true)"
    ).fetchone()
    assert n is not None and n[0] == res.files["ER_PRS_F_2021.csv.gz"].rows


def test_interrupted_run_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    original = gen_module._generate_chunk

    def boom(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(gen_module, "_generate_chunk", boom)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        generate(SynthConfig(patients=500, first_year=2020, last_year=2020, chunk_size=200), out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_refused_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous run")
    cfg = SynthConfig(patients=100, first_year=2020, last_year=2020)
    with pytest.raises(SndslabError):
        generate(cfg, out)
    assert (out / "keep.txt").read_text() == "previous run"
    with pytest.raises(SndslabError, match="not created by sndslab"):
        generate(cfg, out, overwrite=True)  # a directory sndslab did not make is never replaced
    assert (out / "keep.txt").read_text() == "previous run"
    generate(cfg, tmp_path / "mine")
    (tmp_path / "mine" / "keep.txt").write_text("previous run")
    generate(cfg, tmp_path / "mine", overwrite=True)  # its own output is
    assert not (tmp_path / "mine" / "keep.txt").exists()
    assert (tmp_path / "mine" / "raw").is_dir()


def test_invalid_configuration_is_rejected() -> None:
    with pytest.raises(ValueError):
        SynthConfig(patients=0, first_year=2020, last_year=2020)
    with pytest.raises(ValueError):
        SynthConfig(patients=10, first_year=2021, last_year=2019)


@pytest.mark.slow
def test_calibration_targets(tmp_path: Path) -> None:
    """National figures of snds-data-model §5 within stated tolerances (40 000 persons).

    Slow: the largest population of the suite. The default run checks the same figures
    (except GPs per 100 000, meaningful above ~20 000 persons) on the shared 10 000-person
    extract: tests/synth/test_coherence.py::test_calibration_on_the_shared_extract."""
    res = generate(
        SynthConfig(patients=40_000, first_year=2019, last_year=2019, seed=5), tmp_path / "cal"
    )
    cal = json.loads((res.out_dir / "truth" / "manifest.json").read_text())["calibration"]
    # ~19 % of people hospitalised per year (MCO + SSR + HAD + psychiatry), DREES 2019
    assert 0.16 <= cal["hospitalised_share"] <= 0.22, cal
    # treated diabetes 5-6 % (≥ 3 dispensings a year), rising with age
    assert 0.045 <= cal["treated_diabetes_share"] <= 0.065, cal
    # about 150 GPs per 100 000 inhabitants
    assert 130 <= cal["gp_per_100k"] <= 175, cal
    # crude death rate about 9-10 per 1000
    assert 7.5 <= cal["deaths_per_1000_per_year"] <= 11.5, cal
    # all-cause 30-day readmission in the 8-20 % range
    assert 0.08 <= cal["readmission_30d_share"] <= 0.20, cal
