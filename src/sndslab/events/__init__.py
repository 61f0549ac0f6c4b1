"""Event layer: the lake's ``int`` tables → its ``events`` layer (events, patients, codes)
and exports (MEDS, OMOP CDM 5.4).

>>> from sndslab.events import EventSchema, Vocab
>>> EventSchema.code_of(Vocab.ICD10, "S720")
'ICD10//S720'
"""

from __future__ import annotations

from sndslab.events._extract import EventsResult, ExtractorFailedError, ExtractorRun, extract_events
from sndslab.events._meds import to_meds
from sndslab.events._omop import OmopResult, to_omop
from sndslab.events._omop_cdm import OmopValidationError, validate_omop
from sndslab.events._schema import (
    Category,
    DateQuality,
    EventSchema,
    EventSchemaError,
    Vocab,
    validate,
)
from sndslab.events._spec import ExtractorSpec, ExtractorSpecError, load_extractors

__all__ = [
    "Category",
    "DateQuality",
    "EventSchema",
    "EventSchemaError",
    "EventsResult",
    "ExtractorFailedError",
    "ExtractorRun",
    "ExtractorSpec",
    "ExtractorSpecError",
    "OmopResult",
    "OmopValidationError",
    "Vocab",
    "extract_events",
    "load_extractors",
    "to_meds",
    "to_omop",
    "validate",
    "validate_omop",
]
