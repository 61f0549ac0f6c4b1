"""Choice of practitioners: inside the patient's community first, then the region, then France."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sndslab.synth._context import Chunk
from sndslab.synth._world import SPECIALIST


@dataclass
class Picker:
    """Vectorised choice of a practitioner by integer key (community/region × specialty)."""

    keys: np.ndarray  # sorted unique keys
    start: np.ndarray
    count: np.ndarray
    members: np.ndarray  # practitioner indices sorted by key

    @classmethod
    def build(cls, key: np.ndarray, members: np.ndarray) -> Picker:
        order = np.argsort(key[members], kind="stable")
        sorted_members = members[order]
        uniq, start, count = np.unique(key[sorted_members], return_index=True, return_counts=True)
        return cls(uniq, start, count, sorted_members)

    def pick(self, rng: np.random.Generator, query: np.ndarray) -> np.ndarray:
        """One member per query key, uniformly; -1 where the key has no member."""
        pos = np.searchsorted(self.keys, query)
        pos_c = np.minimum(pos, len(self.keys) - 1)
        found = (len(self.keys) > 0) & (self.keys[pos_c] == query)
        off = self.start[pos_c] + np.floor(rng.random(len(query)) * self.count[pos_c]).astype(
            np.int64
        )
        return np.where(found, self.members[np.minimum(off, len(self.members) - 1)], -1)


class Providers:
    """Choice of providers: inside the patient's community with probability ``loyalty``."""

    def __init__(self, chunk: Chunk) -> None:
        world = chunk.world
        prac = world.practitioners
        self.loyalty = chunk.config.truth.community_loyalty
        region_codes = {r: i for i, r in enumerate(world.territories.regions)}
        self.region_idx_of_dep = np.array(
            [region_codes[r] for r in world.territories.region], np.int64
        )
        prof = np.where(
            prac.kind == SPECIALIST,
            prac.specialty.astype(np.int64),
            1000 + prac.kind.astype(np.int64),
        )
        self.prof = prof
        clinical = np.flatnonzero(prac.community >= 0)
        self.by_community = Picker.build(prac.community.astype(np.int64) * 10_000 + prof, clinical)
        everyone = np.arange(len(prac))
        self.by_region = Picker.build(self.region_idx_of_dep[prac.dep] * 10_000 + prof, everyone)
        self.national = Picker.build(prof, everyone)

    def pick(self, chunk: Chunk, person: np.ndarray, profession: np.ndarray | int) -> np.ndarray:
        rng = chunk.rng
        prof = np.broadcast_to(np.asarray(profession, np.int64), person.shape)
        comm = chunk.persons.community[person].astype(np.int64)
        region = self.region_idx_of_dep[chunk.persons.dep[person]]
        out = np.where(
            rng.random(len(person)) < self.loyalty,
            self.by_community.pick(rng, comm * 10_000 + prof),
            -1,
        )
        miss = out < 0
        out[miss] = self.by_region.pick(rng, region[miss] * 10_000 + prof[miss])
        miss = out < 0
        out[miss] = self.national.pick(rng, prof[miss])
        return out
