"""Coherent synthetic SNDS generator with injected ground truth.

The generator draws persons (age pyramid, residence, identity quirks), latent conditions,
care (visits, dispensings, biology, acts, stays, deaths) driven by those conditions, projects
them onto the raw CNAM tables (one CSV per table and year, SNDS column names, DCIR keys and
flows, PMSI per year) with documented data-quality artefacts, and writes the truth it
injected (drug effects, readmission model, provider communities, abusive providers) to
``truth/``.

>>> from sndslab.synth import SynthConfig
>>> SynthConfig(patients=100, first_year=2020, last_year=2021).years
[2020, 2021]
"""

from __future__ import annotations

from sndslab.synth._config import ArtefactRates, SynthConfig, TruthSettings
from sndslab.synth._generate import SynthResult, generate

__all__ = ["ArtefactRates", "SynthConfig", "SynthResult", "TruthSettings", "generate"]
