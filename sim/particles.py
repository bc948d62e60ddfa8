"""A belief that follows the fight: simulated copies of it replay the player's own casts.

`sample_beliefs` (sim/belief.py) fills each hidden value afresh from rules at every
decision. What rules cannot know is history: stacks that build with every Holy Power spent
(Light's Deliverance, Sanctification), a debuff the next spender consumes, a cooldown that
runs faster under haste, a reset a proc gave, the raid's Bloodlust on the fight's schedule.
The simulator knows all of that, given what the player did. `ParticleBelief` keeps
`particles` copies of the fight on the random simulator, each with its own luck, and at
every snapshot:

1. replays in each copy the player's own casts the addon saw since the last snapshot
   (`since_cast`: UNIT_SPELLCAST_SUCCEEDED, readable in combat), at the times they
   happened, waiting in between (a cast the copy cannot make is made as a wait there);
2. scores each copy against what the game shows now: ready flags, charge counts, usable
   flags, proc highlights and resources; when too few agree (the game shows a proc few
   copies rolled), the step since the last snapshot is replayed again with new luck and
   the rounds pooled; the copies with the fewest disagreements are kept and the belief is
   drawn again from them, each duplicate with new luck for what follows (a sequential
   importance resampler with 0/1 likelihoods, relaxed to "fewest" so that a copy which
   drifted still leaves a belief);
3. writes the known resources and charge counts over the copies (a reset the game shows
   that no copy rolled is given to them all).

`sample(snapshot, samples)` then hands the planner `samples` of the copies at the
snapshot's decision point, with the abilities the game reports unusable made illegal, as
`sample_beliefs` does. Nothing hidden is read: only the snapshot's readable fields and the
player's own cast times, which the addon sees.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from portunus.protocol import GameSnapshot
from sim import engine
from sim._xla import jit
from sim.env import Env
from sim.rollout import init_batch
from sim.types import State

SAME_TIME = 1e-3   # seconds: a cast time the belief has already replayed
RETRIES = 7        # new-luck replays of one step when too few copies agree with the game
LIVE_FIGHT_SECONDS = 3600.0   # the copies' fight in live play: longer than any combat they follow


@functools.lru_cache(maxsize=8)
def _compiled(env: Env) -> dict:
    """The batched steps the belief replays with, compiled once per env."""
    spec, fight = env.spec, env.fight_tables

    def one(state, action, wait_for):
        return engine.step(state, action, spec, fight, env.expected_value, wait_for)

    def legal_now(state, unusable):
        mask = engine.legal_action_mask(state, spec, fight)
        return state.replace(legal_action_mask=mask & ~unusable[jnp.asarray(spec.action_ability)])

    return {"step": jit(jax.vmap(one)), "legal": jit(jax.vmap(legal_now, in_axes=(0, None)))}


class ParticleBelief:
    """Copies of one fight that replay the player's casts (module doc). One per fight: make a
    new one when combat starts."""

    def __init__(self, env: Env, particles: int = 32, seed: int = 0):
        if particles < 1:
            raise ValueError(f"a particle belief needs at least 1 particle, got {particles}")
        if env.expected_value:
            raise ValueError("a particle belief needs the random simulator (each copy its own luck), "
                             "not the expected-value one")
        self.env = env
        self._count = particles
        self.rng = np.random.default_rng(seed)
        self.states = init_batch(env, self._fresh_key(), particles)
        self.replayed = np.full(env.spec.num_abilities, -np.inf)   # the last cast time replayed, per ability
        self.disagreements = np.zeros(particles, np.int64)          # at the last snapshot, per kept copy
        spec = env.spec
        self._owner = np.asarray(spec.action_ability)
        self._makes_free = np.asarray(spec.tables.buff_makes_free)  # [B, A]
        self._glows = self._makes_free.any(axis=0)                  # [A] buttons a proc can light
        self._max_charges = np.asarray(spec.tables.max_charges)
        self._cooldown = np.asarray(spec.tables.cooldown)

    @property
    def particles(self) -> int:
        return self._count

    def _fresh_key(self) -> jax.Array:
        return jax.random.key(int(self.rng.integers(0, 2**31 - 1)))

    def _step(self, actions: np.ndarray, wait_for: np.ndarray) -> None:
        self.states = _compiled(self.env)["step"](self.states, jnp.asarray(actions, jnp.int32),
                                                   jnp.asarray(wait_for, jnp.float32))

    def _wait_until(self, time: float) -> None:
        behind = time - np.asarray(self.states.time)
        if np.any(behind > SAME_TIME):
            self._step(np.full(self.particles, self.env.wait_action), np.maximum(behind, 0.0))

    def _cast(self, ability: int) -> None:
        """Each copy presses `ability` on its current target (a wait where it cannot)."""
        spec = self.env.spec
        first = int(spec.ability_first_action[ability])
        if spec.ability_targeted[ability] and spec.target_slots > 1:
            eligible = np.asarray(self.states.enemy_alive & self.states.enemy_in_range)[:, : spec.target_slots]
            slot = np.asarray(self.states.target)
            on_target = eligible[np.arange(self.particles), np.clip(slot, 0, spec.target_slots - 1)]
            actions = first + np.where(on_target, slot, eligible.argmax(axis=1))
        else:
            actions = np.full(self.particles, first)
        self._step(actions, np.zeros(self.particles))

    def _replay(self, snapshot: GameSnapshot) -> float:
        """Replay the casts seen since the last snapshot; returns the snapshot's time."""
        now = float(snapshot.combat_time or 0.0)
        casts = []
        for ability, cooldown in enumerate(snapshot.cooldowns[: self.env.spec.num_abilities]):
            if cooldown.since_cast is None:
                continue
            when = now - float(cooldown.since_cast)
            if when > self.replayed[ability] + SAME_TIME:
                casts.append((when, ability))
                self.replayed[ability] = when
        for when, ability in sorted(casts):
            self._wait_until(when)
            self._cast(ability)
        self._wait_until(now)
        return now

    def _on_host(self) -> State:
        """The copies as numpy arrays, without their keys (a resample gives new ones): pooling
        and resampling on the host compiles nothing, whatever the number of retry rounds."""
        return jax.device_get(self.states.replace(key=None))

    def _disagreements(self, snapshot: GameSnapshot, s: State) -> np.ndarray:
        """[K] how many readable facts of `snapshot` each copy of `s` (on the host) contradicts."""
        count = np.zeros(s.charges.shape[0], np.int64)
        charges, legal = s.charges, s.legal_action_mask
        active = s.buff_remaining > 0                                              # [K, B]
        lit = (active[:, :, None] & self._makes_free[None]).any(axis=1)            # [K, A]
        for ability, cooldown in enumerate(snapshot.cooldowns[: self.env.spec.num_abilities]):
            if cooldown.charges is not None:
                count += charges[:, ability] != int(cooldown.charges)
            elif cooldown.ready is not None:
                count += (charges[:, ability] > 0) != bool(cooldown.ready)
            if cooldown.usable is not None:
                count += legal[:, self._owner == ability].any(axis=1) != bool(cooldown.usable)
            if cooldown.overlayed is not None and self._glows[ability]:
                count += lit[:, ability] != bool(cooldown.overlayed)
        resources = s.resources
        for index, resource in enumerate(snapshot.resources[: resources.shape[1]]):
            if resource.current is not None:
                count += np.abs(resources[:, index] - float(resource.current)) > 0.5
        return count

    def _resample(self, pooled: State, disagreements: np.ndarray) -> State:
        """`particles` copies among those with the fewest disagreements (pooled over retries:
        more than `particles` may be offered), each distinct one first; on the host."""
        count = self.particles
        best = np.flatnonzero(disagreements == disagreements.min())
        chosen = self.rng.choice(best, size=count, replace=True)
        chosen[: min(best.size, count)] = self.rng.permutation(best)[:count]
        self.disagreements = disagreements[chosen]
        return jax.tree.map(lambda x: x[chosen], pooled)

    def _write_known(self, snapshot: GameSnapshot, s: State) -> State:
        """Known resources and charge counts over every copy (host arrays, written in place): a
        copy that missed a reset the game shows (no copy rolled it) gets the charge back, one
        that rolled a reset the game did not show loses it, with its recharge drawn as
        `sample_beliefs` draws a hidden one."""
        for index, resource in enumerate(snapshot.resources[: s.resources.shape[1]]):
            if resource.current is not None:
                s.resources[:, index] = float(resource.current)
        charges, recharge = s.charges, s.recharge
        max_charges, cooldown = self._max_charges, self._cooldown
        for ability, state in enumerate(snapshot.cooldowns[: self.env.spec.num_abilities]):
            maximum = int(max_charges[ability])
            known = state.charges
            if known is None and state.ready is not None and (maximum == 1 or not state.ready):
                known = int(bool(state.ready))
            if known is None or cooldown[ability] <= 0:
                continue
            wrong = charges[:, ability] != min(int(known), maximum)
            charges[wrong, ability] = min(int(known), maximum)
            if known >= maximum:
                recharge[wrong, ability] = 0.0
            else:
                draw = wrong & (recharge[:, ability] <= 0)
                recharge[draw, ability] = self.rng.uniform(0.0, cooldown[ability], int(draw.sum()))
        return s

    def update(self, snapshot: GameSnapshot) -> None:
        """Follow the fight to `snapshot` (the next decision point's view). When too few
        copies agree with the game (a proc the game shows that few copies rolled), the step
        since the last snapshot is replayed again with new luck, up to `RETRIES` times, and
        the copies of every round are pooled."""
        before, replayed = self.states, self.replayed.copy()
        pooled, scores = [], []
        for attempt in range(RETRIES + 1):
            if attempt:
                self.states = before.replace(key=jax.random.split(self._fresh_key(), self.particles))
                self.replayed = replayed.copy()
            self._replay(snapshot)
            pooled.append(self._on_host())
            scores.append(self._disagreements(snapshot, pooled[-1]))
            if np.sum(np.concatenate(scores) == 0) >= self.particles:
                break
        pool = jax.tree.map(lambda *x: np.concatenate(x), *pooled)
        kept = self._write_known(snapshot, self._resample(pool, np.concatenate(scores)))
        # Duplicates share a past, not a future: each copy gets its own luck from here. The
        # legal masks follow the written charges: a stale one would turn the player's next cast
        # of an ability a copy had just missed into a wait, and the copies would lose it.
        states = jax.tree.map(jnp.asarray, kept).replace(key=jax.random.split(self._fresh_key(), self.particles))
        self.states = _compiled(self.env)["legal"](states, jnp.zeros(self.env.spec.num_abilities + 1, bool))

    def sample(self, snapshot: GameSnapshot, samples: int) -> State:
        """`samples` copies (leading axis) at the snapshot's decision point, for search:
        the abilities the game reports unusable are illegal in every one."""
        if samples < 1:
            raise ValueError(f"samples must be at least 1, got {samples}")
        picked = np.arange(samples) % self.particles
        states = jax.tree.map(lambda x: x[picked], self.states)
        num_abilities = self.env.spec.num_abilities
        unusable = np.zeros(num_abilities + 1, bool)                 # the last: wait, always usable
        for ability, cooldown in enumerate(snapshot.cooldowns[:num_abilities]):
            unusable[ability] = cooldown.usable is False
        return _compiled(self.env)["legal"](states, jnp.asarray(unusable))

    def fill(self, snapshot: GameSnapshot, fields: list[dict]) -> list[dict]:
        """`fields` (`sim.belief.sample_belief_fields` of `snapshot`, for the planner's own env:
        its enemies are the game's) with what the snapshot hides of the player taken from the
        copies instead of the rules: a cooldown's recharge (and its charges when hidden), a
        buff with neither remaining time nor stacks, a debuff hidden on the first enemy (the
        copies fight one). Known values stay as the rules wrote them. New dicts: the rules'
        draws are cached and shared."""
        s = jax.device_get(self.states)
        lead = max(snapshot.gcd_remaining or 0.0, snapshot.cast_remaining or 0.0)
        max_charges = self._max_charges
        filled = []
        for index, base in enumerate(fields):
            k = index % self.particles
            out = {name: np.array(value, copy=True) for name, value in base.items()}
            for ability, cooldown in enumerate(snapshot.cooldowns[: self.env.spec.num_abilities]):
                if cooldown.remaining is not None:
                    continue
                charges = int(s.charges[k, ability]) if cooldown.charges is None else int(out["charges"][ability])
                left = max(float(s.recharge[k, ability]) - lead, 0.0)
                if charges < max_charges[ability] and left == 0.0:
                    charges += 1                  # the charge comes back before the decision
                out["charges"][ability] = min(charges, int(max_charges[ability]))
                out["recharge"][ability] = left if out["charges"][ability] < max_charges[ability] else 0.0
            for buff, aura in enumerate(snapshot.buffs[: out["buff_remaining"].shape[0]]):
                if aura.remaining is None and aura.stacks is None:
                    left = max(float(s.buff_remaining[k, buff]) - lead, 0.0)
                    out["buff_remaining"][buff] = left
                    out["buff_stacks"][buff] = int(s.buff_stacks[k, buff]) if left > 0 else 0
            if snapshot.enemies and out["enemy_alive"][0]:
                for debuff, aura in enumerate(snapshot.enemies[0].debuffs[: out["debuff_remaining"].shape[1]]):
                    if aura.remaining is None:
                        out["debuff_remaining"][0, debuff] = max(float(s.debuff_remaining[k, 0, debuff]) - lead, 0.0)
            filled.append(out)
        return filled


class FollowedBelief:
    """The live belief across refreshes: a `ParticleBelief` for each combat, its copies fighting
    a long single target with the planner's character (the copies follow the player; the game's
    enemies come from each snapshot), filled into the rule draws of `sample_belief_fields`.
    Out of combat, or when combat restarts (its clock goes back), the copies start afresh."""

    def __init__(self, env: Env, particles: int = 32, seed: int = 0, copies_env: Env | None = None):
        self.env = env
        # Beliefs that share `copies_env` (a service's sessions) share its compiled programs.
        self.copies_env = copies_env_for(env) if copies_env is None else copies_env
        self._count, self._seed, self._combats = particles, seed, 0
        self.belief: ParticleBelief | None = None
        self._last: tuple[int, float] | None = None       # (frame, combat time) the copies were brought to

    @property
    def particles(self) -> int:
        return self._count

    def states(self, snapshot: GameSnapshot, samples: int, buff_prior: np.ndarray | None = None) -> State:
        """`samples` States for the planner's env, consistent with `snapshot`."""
        from sim.snapshot import from_snapshots

        return from_snapshots(self.env, self.fields(snapshot, samples, buff_prior))

    def fields(self, snapshot: GameSnapshot, samples: int, buff_prior: np.ndarray | None = None) -> list[dict]:
        """The same as `states`, as per-sample State fields (`sim.snapshot.snapshot_fields`)."""
        from sim.belief import sample_belief_fields

        fields = sample_belief_fields(self.env, snapshot, samples, seed=snapshot.frame, buff_prior=buff_prior)
        now = snapshot.combat_time
        if not snapshot.in_combat or now is None or now >= LIVE_FIGHT_SECONDS:
            self.belief, self._last = None, None
            return fields
        if self.belief is None or (self._last is not None and now < self._last[1] - SAME_TIME):
            self._combats += 1
            self.belief = ParticleBelief(self.copies_env, self._count, seed=self._seed * 100_003 + self._combats)
        if self._last != (snapshot.frame, now):           # the same frame read again: already followed
            self.belief.update(snapshot)
            self._last = (snapshot.frame, now)
        return self.belief.fill(snapshot, fields)


def copies_env_for(env: Env) -> Env:
    """The env live copies fight in: the planner's character on a long single target, with
    the random simulator and no Bloodlust (whether the group used it is not readable)."""
    from sim.fights import patchwerk

    fight = patchwerk(LIVE_FIGHT_SECONDS, bloodlust_at=None)
    return dataclasses.replace(env, fight=fight, fight_tables=fight.tables(env.nominal_dps,
                                                                           env.spec.settings.get("enemy")),
                               expected_value=False)
