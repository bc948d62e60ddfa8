"""A belief over simulator states from a partial view of the game.

In retail combat the game hides remaining cooldown times and some auras (secret values),
but not everything about them: whether a spell is ready, its charge count for one or two
charges, whether it is usable, whether its proc highlight is on, and when the player last
cast it (docs/protocol.md). `from_snapshot` turns every unknown into one neutral guess;
`sample_beliefs` draws states that agree with every known fact instead, so a planner can
search several of them and choose what is good across them:

- a cooldown known *not ready* with a hidden remaining time: no charge, the next one back
  uniformly within (0, cooldown] (the cooldown the game last showed, else the spec's);
  with the player's own last cast known, exactly `cooldown - since_cast`;
- known ready with charges below the maximum: a recharge runs, uniform in (0, cooldown];
  ready with the charge count hidden (3+ charges): a uniform count 1..max;
- a hidden buff: present with its remaining time from the player's own cast of an ability
  that applies it (`since_cast < duration`), absent when every source of it is such an
  ability and none was cast within its duration; present when a button it makes free is
  highlighted (and it is that button's only such buff; with several, one of them is up),
  absent when the highlight is known off; present when an ability usable only with it is usable, absent when that ability is
  ready and affordable but not usable; otherwise present with the
  buff's prior probability (`buff_prior`: 0.5 unless given; `buff_uptime(env)` is the share
  of decisions at which the default APL has it up in the env's fight, what the overlay and
  `portunus bench retail` use), for a uniform part of its duration and a uniform stack count;
- a hidden debuff on the target: up with `duration - since_cast` left when the player cast
  an ability that applies it within its duration (else as the one guess: down);
- then every sample must allow exactly the abilities the game reports usable: one that does
  not (a drawn buff that takes a button away, a free cast drawn absent) is drawn again.

What is known is never changed: known remaining times, charges, stacks, resources, health.
"""

from __future__ import annotations

import functools

import numpy as np

from portunus.protocol import GameSnapshot
from sim.env import Env
from sim.snapshot import from_snapshots, snapshot_fields
from sim.types import State

DEFAULT_BUFF_PRIOR = 0.5   # without a better estimate, a hidden buff is as likely up as not
REDRAWS = 8                # rounds of redrawing samples that contradict the game's usable flags


@functools.lru_cache(maxsize=16)
def _host(env: Env) -> dict:
    """The spec tables the rules read, as numpy, once per env (the overlay asks every refresh)."""
    t = env.spec.tables
    grants_by_proc = np.asarray(t.proc_grants_buff).reshape(-1, len(env.spec.buff_names)).any(axis=0)
    return {"cooldown": np.asarray(t.cooldown), "max_charges": np.asarray(t.max_charges),
            "applies_buff": np.asarray(t.applies_buff), "makes_free": np.asarray(t.buff_makes_free),
            "usable_with": np.asarray(t.usable_with_buffs), "has_usable": np.asarray(t.has_usable_condition),
            "duration": np.asarray(t.buff_duration), "max_stacks": np.asarray(t.buff_max_stacks),
            "initial_stacks": np.asarray(t.buff_initial_stacks), "cost": np.asarray(t.cost),
            "applies_debuff": np.asarray(t.applies_debuff), "debuff_duration": np.asarray(t.debuff_duration),
            "granted_by_procs": grants_by_proc}


def _lead(snapshot: GameSnapshot) -> float:
    return max(snapshot.gcd_remaining or 0.0, snapshot.cast_remaining or 0.0)


def _cooldowns(fields: dict, snapshot: GameSnapshot, host: dict, rng: np.random.Generator) -> None:
    lead = _lead(snapshot)
    for index, cooldown in enumerate(snapshot.cooldowns):
        if cooldown.remaining is not None:
            continue                                     # exact or the addon's estimate: known
        maximum = int(host["max_charges"][index])
        length = cooldown.duration if cooldown.duration else float(host["cooldown"][index])
        if length <= 0:
            continue                                     # no cooldown: nothing hidden
        charges = cooldown.charges
        if charges is None:
            if cooldown.ready is False:
                charges = 0
            elif cooldown.ready is True and maximum > 1:
                charges = int(rng.integers(1, maximum + 1))
            else:
                continue                                 # nothing known, or ready with one charge
        charges = min(int(charges), maximum)
        recharge = 0.0
        if charges < maximum:
            if cooldown.since_cast is not None and maximum == 1 and cooldown.since_cast < length:
                recharge = length - cooldown.since_cast - lead
            else:
                recharge = float(rng.uniform(0.0, length)) - lead
            recharge = float(np.clip(recharge, 1e-3, length))
        fields["charges"][index] = charges
        fields["recharge"][index] = recharge


def _buff_evidence(snapshot: GameSnapshot, host: dict, buff: int) -> tuple[str, float]:
    """('present', remaining or NaN) / ('absent', 0) / ('unknown', 0) from the other fields."""
    duration = float(host["duration"][buff])
    lead = _lead(snapshot)
    casters = np.flatnonzero(host["applies_buff"][:, buff])
    since = [snapshot.cooldowns[a].since_cast for a in casters if a < len(snapshot.cooldowns)]
    recent = [s for s in since if s is not None and s < duration]
    if recent:
        return "present", max(duration - min(recent) - lead, 1e-3)
    if casters.size and not host["granted_by_procs"][buff] and since and all(s is not None for s in since):
        return "absent", 0.0                             # its only sources were cast too long ago
    highlights = [(ability, snapshot.cooldowns[ability].overlayed)
                  for ability in np.flatnonzero(host["makes_free"][buff]) if ability < len(snapshot.cooldowns)]
    if any(on is False for _, on in highlights):
        return "absent", 0.0                             # a button it would light is known dark
    if any(on is True and host["makes_free"][:, ability].sum() == 1 for ability, on in highlights):
        return "present", float("nan")
    resources = np.array([r.current if r.current is not None else np.inf for r in snapshot.resources])
    for ability in np.flatnonzero(host["usable_with"][:, buff]):
        if ability >= len(snapshot.cooldowns) or not host["has_usable"][ability] \
                or host["usable_with"][ability].sum() != 1:
            continue
        cooldown = snapshot.cooldowns[ability]
        if cooldown.usable is True:
            return "present", float("nan")
        affordable = resources.size == 0 or bool(np.all(host["cost"][ability][: resources.size] <= resources))
        if cooldown.usable is False and cooldown.ready is True and affordable:
            return "absent", 0.0                         # ready and affordable, yet not usable: the buff is down
    return "unknown", 0.0


def _buffs(fields: dict, snapshot: GameSnapshot, host: dict, prior: np.ndarray, rng: np.random.Generator) -> None:
    for buff, aura in enumerate(snapshot.buffs):
        if aura.remaining is not None or aura.stacks is not None:
            continue                                     # readable: known
        duration = float(host["duration"][buff])
        maximum = max(int(host["max_stacks"][buff]), 1)
        verdict, remaining = _buff_evidence(snapshot, host, buff)
        if verdict == "unknown":
            verdict = "present" if rng.random() < prior[buff] else "absent"
            remaining = float("nan")
        if verdict == "absent" or duration <= 0:
            fields["buff_remaining"][buff], fields["buff_stacks"][buff] = 0.0, 0
            continue
        if np.isnan(remaining):
            remaining = float(rng.uniform(0.0, duration))
            stacks = int(rng.integers(1, maximum + 1))
        else:                                            # just applied by the player's cast
            stacks = int(np.clip(host["initial_stacks"][buff], 1, maximum))
        fields["buff_remaining"][buff] = max(remaining, 1e-3)
        fields["buff_stacks"][buff] = stacks
    # A lit button means one of the buffs that make it free is up: when the draws left all
    # of its hidden ones down, one of them (by prior) is up after all.
    dark = [a for a, c in enumerate(snapshot.cooldowns) if c.overlayed is False and a < host["makes_free"].shape[1]]
    for ability, cooldown in enumerate(snapshot.cooldowns):
        lighters = np.flatnonzero(host["makes_free"][:, ability]) if ability < host["makes_free"].shape[1] else []
        hidden = [b for b in lighters if snapshot.buffs[b].remaining is None and snapshot.buffs[b].stacks is None
                  and not host["makes_free"][b, dark].any()]
        if cooldown.overlayed is not True or not hidden or (fields["buff_remaining"][lighters] > 0).any():
            continue
        weights = np.array([max(prior[b], 1e-3) for b in hidden])
        buff = hidden[int(rng.choice(len(hidden), p=weights / weights.sum()))]
        fields["buff_remaining"][buff] = max(float(rng.uniform(0.0, float(host["duration"][buff]))), 1e-3)
        fields["buff_stacks"][buff] = int(rng.integers(1, max(int(host["max_stacks"][buff]), 1) + 1))


@functools.lru_cache(maxsize=8)
def buff_uptime(env: Env, fights: int = 16, decisions: int = 512, seed: int = 0) -> np.ndarray:
    """[B] the share of decision points at which each buff is up when the default APL plays
    `env`'s fight (its first `decisions` decisions): a prior for hidden buffs that the
    simulator's own play supports."""
    import jax
    import jax.numpy as jnp

    from sim._xla import jit
    from sim.apl import load_apl
    from sim.rollout import init_batch, play_policy

    apl = load_apl(env, warn=None)

    @jit
    def shares(states):
        def one(states, _):
            live = ~states.terminated
            up = (states.buff_remaining > 0) & live[:, None]
            return play_policy(env, apl, states, 1), (jnp.sum(up, axis=0), jnp.sum(live))
        _, (up, live) = jax.lax.scan(one, states, None, length=decisions)
        return jnp.sum(up, axis=0) / jnp.maximum(jnp.sum(live), 1)

    return np.asarray(shares(init_batch(env, jax.random.key(seed), fights)), np.float64)


def belief_votes(choices, legal) -> np.ndarray:
    """[A] how many belief samples chose each action ([K] choices, [K, A] legal masks), counting
    only actions legal in every sample: the game allows what every consistent state allows."""
    legal = np.asarray(legal).all(axis=0)
    return np.bincount(np.asarray(choices), minlength=legal.shape[0]) * legal


def has_hidden(snapshot: GameSnapshot) -> bool:
    """Whether the snapshot hides something a belief can fill in better than one guess: a
    cooldown whose remaining time is unknown while its readiness or charges are known, or an
    aura with neither remaining time nor stacks."""
    return (any(c.remaining is None and (c.ready is not None or c.charges is not None) for c in snapshot.cooldowns)
            or any(a.remaining is None and a.stacks is None for a in snapshot.buffs))


def _debuffs(fields: dict, snapshot: GameSnapshot, host: dict) -> None:
    """Hidden debuffs on the target (the addon's first enemy): up with `duration - since_cast`
    left when the player cast an ability that applies it within its duration."""
    if not snapshot.enemies or not fields["enemy_alive"][0]:
        return
    lead = _lead(snapshot)
    for debuff, aura in enumerate(snapshot.enemies[0].debuffs):
        if aura.remaining is not None:
            continue
        duration = float(host["debuff_duration"][debuff])
        since = [snapshot.cooldowns[a].since_cast for a in np.flatnonzero(host["applies_debuff"][:, debuff])
                 if a < len(snapshot.cooldowns) and snapshot.cooldowns[a].since_cast is not None]
        recent = [value for value in since if value < duration]
        if recent:
            fields["debuff_remaining"][0, debuff] = max(duration - min(recent) - lead, 1e-3)


def sample_belief_fields(env: Env, snapshot: GameSnapshot, samples: int, seed: int = 0,
                         buff_prior: np.ndarray | None = None) -> list[dict]:
    """`samples` sets of State arrays (see `snapshot_fields`) that agree with every known
    fact of `snapshot`. `buff_prior` [B]: the chance a hidden buff is up with no evidence."""
    base = snapshot_fields(env, snapshot)
    host = _host(env)
    prior = np.full(len(env.spec.buff_names), DEFAULT_BUFF_PRIOR) if buff_prior is None else np.asarray(buff_prior)
    rng = np.random.default_rng(seed)

    def draw() -> dict:
        fields = {name: np.array(value, copy=True) for name, value in base.items()}
        _cooldowns(fields, snapshot, host, rng)
        _buffs(fields, snapshot, host, prior, rng)
        _debuffs(fields, snapshot, host)
        return fields

    drawn = [draw() for _ in range(samples)]
    usable = np.array([np.nan if c.usable is None else float(c.usable) for c in snapshot.cooldowns])
    if np.isnan(usable).all():
        return drawn
    # Rejection: a sample in which an ability the game reports usable is not (or the other
    # way round) contradicts what the game said; the rules above miss combinations (a buff
    # that makes a button unusable, a free cast while Holy Power is short), so such samples
    # are drawn again, up to REDRAWS rounds (what still disagrees then is kept).
    known = ~np.isnan(usable)
    owner = np.asarray(env.spec.action_ability)
    for _ in range(REDRAWS):
        legal = np.asarray(from_snapshots(env, drawn).legal_action_mask)
        per_ability = np.stack([legal[:, owner == a].any(axis=1) for a in range(len(usable))], axis=1)
        wrong = np.flatnonzero(((per_ability != (usable == 1.0)) & known).any(axis=1))
        if wrong.size == 0:
            break
        for index in wrong:
            drawn[index] = draw()
    return drawn


def sample_beliefs(env: Env, snapshot: GameSnapshot, samples: int = 8, seed: int = 0,
                   buff_prior: np.ndarray | None = None) -> State:
    """A batch of `samples` States (leading axis) consistent with `snapshot` (module doc)."""
    return from_snapshots(env, sample_belief_fields(env, snapshot, samples, seed, buff_prior))
