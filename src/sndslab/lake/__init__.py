"""The lake contract: layout, table names, declared schemas and grains, generations, and the
analyst's Python API.

Every stage reads and writes the lake through this package: paths (:class:`LakePaths`),
table resolution (:func:`relation`), atomic publication of a layer (:func:`write_generation`)
and table contracts (``tables/<layer>/<name>.yaml``, :func:`contracts`). Analysts use
:func:`open_lake`.

>>> from sndslab.lake import split_name, contract
>>> split_name("int.mco_stays")
('int', 'mco_stays')
"""

from __future__ import annotations

from sndslab.lake._api import Lake, open_lake
from sndslab.lake._catalog import dataset_paths, known_tables, relation, relation_or_none
from sndslab.lake._commit import (
    LakeCommit,
    StagedFile,
    collect_garbage,
    commit_numbers,
    current_commit,
    delete_unlisted_parts,
    kept_parts,
    publish,
    read_commit,
    rollback,
    writer_lock,
)
from sndslab.lake._contract import (
    ColumnContract,
    LakeContractError,
    TableContract,
    canonical_type,
    check_dataset,
    contract,
    contracts,
)
from sndslab.lake._layout import (
    GENERATION_LAYERS,
    LAYERS,
    LAYOUT_VERSION,
    LakeLayoutError,
    LakePaths,
    part_id,
    split_name,
)
from sndslab.lake._manifest import (
    DEFAULT_KEEP,
    GenerationWriter,
    LayerManifest,
    TableEntry,
    config_hash,
    discard_generation,
    git_revision,
    has_manifest,
    published_generation,
    read_manifest,
    write_generation,
)

# Plain sorted() order (tests/test_public_api.py), not ruff's isort-style order.
__all__ = [  # noqa: RUF022
    "ColumnContract",
    "DEFAULT_KEEP",
    "GENERATION_LAYERS",
    "GenerationWriter",
    "LAYERS",
    "LAYOUT_VERSION",
    "Lake",
    "LakeCommit",
    "LakeContractError",
    "LakeLayoutError",
    "LakePaths",
    "LayerManifest",
    "StagedFile",
    "TableContract",
    "TableEntry",
    "canonical_type",
    "check_dataset",
    "collect_garbage",
    "commit_numbers",
    "config_hash",
    "contract",
    "contracts",
    "current_commit",
    "dataset_paths",
    "delete_unlisted_parts",
    "discard_generation",
    "git_revision",
    "has_manifest",
    "kept_parts",
    "known_tables",
    "open_lake",
    "part_id",
    "publish",
    "published_generation",
    "read_commit",
    "read_manifest",
    "relation",
    "relation_or_none",
    "rollback",
    "split_name",
    "write_generation",
    "writer_lock",
]
