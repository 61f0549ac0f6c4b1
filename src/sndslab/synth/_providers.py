"""Choice of practitioners: the patient's community first, then their département, region,
France; inside each level, in proportion to the practitioners' practice-volume weights
(heavy-tailed, ``_abuse.ProviderBehaviour.volume_weight``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sndslab.synth._context import Chunk
from sndslab.synth._world import SPECIALIST


@dataclass
class Picker:
    """Vectorised weighted choice of a practitioner by integer key (community/area × specialty)."""

    keys: np.ndarray  # sorted unique keys
    start: np.ndarray
    count: np.ndarray
    members: np.ndarray  # practitioner indices sorted by key
    cum: np.ndarray  # cumulative weights of ``members`` (float64)

    @classmethod
    def build(
        cls, key: np.ndarray, members: np.ndarray, weight: np.ndarray | None = None
    ) -> Picker:
        order = np.argsort(key[members], kind="stable")
        sorted_members = members[order]
        uniq, start, count = np.unique(key[sorted_members], return_index=True, return_counts=True)
        w = np.ones(len(sorted_members)) if weight is None else weight[sorted_members]
        return cls(uniq, start, count, sorted_members, np.cumsum(w, dtype=np.float64))

    def pick(self, rng: np.random.Generator, query: np.ndarray) -> np.ndarray:
        """One member per query key, by weight; -1 where the key has no member."""
        u = rng.random(len(query))
        if len(self.keys) == 0:
            return np.full(len(query), -1, np.int64)
        pos = np.searchsorted(self.keys, query)
        pos_c = np.minimum(pos, len(self.keys) - 1)
        found = self.keys[pos_c] == query
        first = self.start[pos_c]
        last = first + self.count[pos_c] - 1
        lo = np.where(first > 0, self.cum[np.maximum(first - 1, 0)], 0.0)
        target = lo + u * (self.cum[last] - lo)
        off = np.clip(np.searchsorted(self.cum, target, side="right"), first, last)
        return np.where(found, self.members[off], -1)


#: Share of provider choices made away from home (holidays, work place, second home): the
#: provider is then drawn nationally. Keeps a little out-of-area care, as on real data.
AWAY_SHARE = 0.03


class Providers:
    """Choice of providers: inside the patient's community with probability ``loyalty``,
    otherwise (or when the community has none) in their département, region, France; a share
    ``AWAY_SHARE`` of choices is made anywhere in France."""

    def __init__(self, chunk: Chunk) -> None:
        world = chunk.world
        prac = world.practitioners
        weight = world.behaviour.volume_weight
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
        self.by_community = Picker.build(
            prac.community.astype(np.int64) * 10_000 + prof, clinical, weight
        )
        everyone = np.arange(len(prac))
        self.by_dep = Picker.build(prac.dep.astype(np.int64) * 10_000 + prof, everyone, weight)
        self.by_region = Picker.build(
            self.region_idx_of_dep[prac.dep] * 10_000 + prof, everyone, weight
        )
        self.national = Picker.build(prof, everyone, weight)

    def pick(self, chunk: Chunk, person: np.ndarray, profession: np.ndarray | int) -> np.ndarray:
        rng = chunk.rng
        prof = np.broadcast_to(np.asarray(profession, np.int64), person.shape)
        comm = chunk.persons.community[person].astype(np.int64)
        dep = chunk.persons.dep[person].astype(np.int64)
        region = self.region_idx_of_dep[dep]
        u = rng.random(len(person))
        out = np.where(u < self.loyalty, self.by_community.pick(rng, comm * 10_000 + prof), -1)
        away = rng.random(len(person)) < AWAY_SHARE
        out[away] = self.national.pick(rng, prof[away])
        for picker, area in ((self.by_dep, dep), (self.by_region, region)):
            miss = out < 0
            out[miss] = picker.pick(rng, area[miss] * 10_000 + prof[miss])
        miss = out < 0
        out[miss] = self.national.pick(rng, prof[miss])
        return out
