"""The spec-agnostic combat rules: one semi-Markov step of a fight.

A step is one player action at a decision point, then time advances in closed
form to the next decision point (the GCD, a cast, or a wait). Everything in
between — periodic ticks, auto attacks, cooldown recharge, buff expiry,
enemy deaths, travel to the next pull — happens inside `advance` with
fixed-shape array arithmetic, never a Python loop over events.

What an action or a swing sets off is data: procs (rows of `SpecTables.proc_*`)
read a vector of event counts — each ability cast, auto attacks, resource
spent, each spell dealt — and grant buffs, reset cooldowns, give resources,
apply debuffs or deal spells (damage no button casts: a cleave, a hammer from
the sky). Procs run in two passes per phase: the first on what the action (or
the passing time) did, the second on the spells the first dealt; spells the
second pass deals set off nothing more.

Documented simplifications (see docs/simulator.md): hits of one spell, ticks and
swings that fall inside one step share one crit roll; a proc or spell set off
inside a step takes effect at its end (delays under a second, such as a
cleave's 0.6 s, are not modelled); hasted periods use the haste at the start of
the step; "a random nearby enemy" is the expected damage spread evenly.

Random numbers are keyed by the event they decide (common random numbers): the
n-th cast of ability a rolls its crits from (key, a, n), the n-th chance of proc
p from (key, p, n), the n-th swing from (key, n), so two branches from one
state that do mostly the same things see mostly the same luck.

Batch axes go last. Every function takes one fight (per-fight shapes, as under
`jax.vmap`) or a batch whose state arrays carry trailing batch axes
(`charges` [A, N], `time` [N]); the spec and fight tables get matching
trailing singleton axes (`batched`), so the same code broadcasts either way
and reductions name their leading axis. A batch laid out this way keeps the
batch as the minor, contiguous axis, which XLA:CPU vectorizes: see
`sim.rollout.make_chunk_runner` and docs/simulator.md ("Speed on CPU").
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from sim.spec import Spec
from sim.types import (
    OBJECTIVE_CLEAR_TIME, SPELL_ALL, SPELL_OTHERS, SPELL_RANDOM, SPELL_TARGET, SPELL_UP_TO, TARGET_ALL, TARGET_PRIMARY,
    TARGET_UP_TO, WAIT_MAX, WAIT_MIN, FightTables, State,
)

EPSILON = 1e-4            # seconds: timers this close to zero count as done


# ----------------------------------------------------------------- batch axes
def batch_rank(state: State) -> int:
    """Number of trailing batch axes (0 for one fight)."""
    return state.time.ndim


def batched(tables, rank: int):
    """Tables with `rank` trailing singleton axes, to broadcast against batched state."""
    if rank == 0:
        return tables
    return jax.tree.map(lambda x: jnp.reshape(x, jnp.shape(x) + (1,) * rank), tables)


def iota(size: int, rank: int) -> jax.Array:
    """0..size-1 along the leading axis, ready to compare with per-fight indices."""
    return jnp.arange(size).reshape((size,) + (1,) * rank)


MATERIALIZE_MIN_BATCH = 16  # batch-last batches below this: the extra fusions cost more than they save


def materialize(tree, state: State):
    """Values XLA should compute once and store, not recompute inside every fusion
    that reads them (it duplicates cheap elementwise chains into each consumer, and
    into every element of a broadcast: under `jax.vmap` a proc roll's hash ran ~30
    times per proc). A reduction is a fusion root, so a sum over a two-long axis with
    zeros stores the value. Exact: x + 0 == x. Per-fight code (one state, or under
    `jax.vmap`, the batched path) always stores; a batch-last batch only from
    `MATERIALIZE_MIN_BATCH` fights on. Measured in docs/simulator.md ("Speed on CPU")."""
    if 0 < batch_rank(state) and math.prod(state.time.shape) < MATERIALIZE_MIN_BATCH:
        return tree

    def cut(x):
        x = jnp.asarray(x)
        if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return x
        if x.dtype == jnp.bool_:
            return jnp.any(jnp.stack([x, jnp.zeros_like(x)]), axis=0)
        return jnp.sum(jnp.stack([x, jnp.zeros_like(x)]), axis=0, dtype=x.dtype)
    return jax.tree.map(cut, tree)


def spec_tables(state: State, spec: Spec):
    return batched(spec.tables, batch_rank(state))


def fight_tables(state: State, fight: FightTables) -> FightTables:
    return batched(fight, batch_rank(state))


# ----------------------------------------------------------------- random numbers keyed by event
STREAM_CAST, STREAM_PROC, STREAM_SPELL, STREAM_SWING, STREAM_TICK, STREAM_BLAST = range(1, 7)


def hash_uint32(x: jax.Array) -> jax.Array:
    """A fast integer mix (the 'lowbias32' hash) of uint32 values."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def keyed_uniform(state: State, stream: int, *keys: jax.Array) -> jax.Array:
    """Uniform numbers in [0, 1) that depend only on the fight's key, the stream (what they
    decide: a cast's crit, a proc's chance, ...) and the given integer keys (which ability,
    its n-th cast, which enemy), broadcast together. A counter-based hash: a few integer
    operations per number instead of a threefry split, which dominated the step on CPU."""
    seed = jax.random.key_data(state.key).astype(jnp.uint32)
    x = hash_uint32(seed[..., -1] ^ jnp.uint32(stream * 0x9E3779B9 & 0xFFFFFFFF))
    for key in keys:
        x = hash_uint32(x ^ (jnp.asarray(key).astype(jnp.uint32) * jnp.uint32(0x85EBCA6B) + jnp.uint32(0x632BE59B)))
    x = hash_uint32(x ^ seed[..., 0])
    return (x >> 8).astype(jnp.float32) * (1.0 / (1 << 24))


# ----------------------------------------------------------------- derived quantities
def buff_active(state: State) -> jax.Array:
    return state.buff_remaining > 0


def active_stacks(state: State) -> jax.Array:
    """f32 [B]: stacks of each buff that is up (0 when down)."""
    return jnp.where(buff_active(state), jnp.maximum(state.buff_stacks, 1), 0).astype(jnp.float32)


def buff_stat_bonus(state: State, spec: Spec) -> jax.Array:
    """[5] primary stat, crit, haste, mastery, versatility ratings from buffs (potion, trinket)."""
    t = spec_tables(state, spec)
    return jnp.sum(t.buff_stats * active_stacks(state)[:, None], axis=0)


def haste_factor(state: State, spec: Spec) -> jax.Array:
    """Speed multiplier (1.2 = 20 % haste): divides hasted GCDs, cooldowns, periods. Haste
    buffs multiply (as in the game); rating from buffs adds to the character's haste."""
    t = spec_tables(state, spec)
    stacks = active_stacks(state)
    per_buff = jnp.where(stacks > 0, t.buff_haste_bonus + t.buff_haste_per_stack * stacks, 0.0)
    rating = jnp.sum(t.buff_stats[:, 2] * stacks, axis=0)
    return ((1.0 + state.stats.haste + rating / t.rating_per_percent[1] / 100.0)
            * jnp.exp(jnp.sum(jnp.log1p(per_buff), axis=0)))


def crit_chance(state: State, spec: Spec) -> jax.Array:
    t = spec_tables(state, spec)
    stacks = active_stacks(state)
    bonus = jnp.sum(jnp.where(stacks > 0, t.buff_crit_bonus, 0.0), axis=0)
    rating = jnp.sum(t.buff_stats[:, 1] * stacks, axis=0)
    return jnp.clip(state.stats.crit + bonus + rating / t.rating_per_percent[0] / 100.0, 0.0, 1.0)


def attack_power(state: State, spec: Spec) -> tuple[jax.Array, jax.Array]:
    """(attack power, spell power) with stat buffs."""
    t = spec_tables(state, spec)
    primary = jnp.sum(t.buff_stats[:, 0] * active_stacks(state), axis=0)
    ap = state.stats.attack_power + primary * state.stats.primary_to_attack_power
    return ap, jnp.where(primary > 0, ap * t.spell_power_per_attack_power, state.stats.spell_power)


def weapon_hit(state: State, spec: Spec, ap: jax.Array, speed: jax.Array | None = None) -> jax.Array:
    """One weapon hit: (AP / k + the weapon's dps where attack power does not hold it) x
    speed; abilities use the normalized speed (3.3 s for a two-hander), swings the weapon's."""
    t = spec_tables(state, spec)
    speed = t.normalized_weapon_speed if speed is None else speed
    return (ap / t.attack_power_per_weapon_dps + state.stats.weapon_dps * t.weapon_dps_outside_attack_power) * speed


def has_flat_damage(spec: Spec, *fields: str) -> bool:
    """Static: does any row of these tables deal weapon or flat damage (older kits only)?
    Midnight's kit has none, and its step stays the graph it was."""
    return any(np.any(np.asarray(getattr(spec.tables, f))) for f in fields)


def mastery_and_versatility(state: State, spec: Spec) -> tuple[jax.Array, jax.Array]:
    t = spec_tables(state, spec)
    stacks = active_stacks(state)
    mastery = state.stats.mastery_points + jnp.sum(t.buff_stats[:, 3] * stacks, axis=0) / t.rating_per_percent[2]
    versatility = state.stats.versatility + jnp.sum(t.buff_stats[:, 4] * stacks, axis=0) / t.rating_per_percent[3] / 100
    return mastery, versatility


def eligible_targets(state: State) -> jax.Array:
    return state.enemy_alive & state.enemy_in_range


def primary_target(state: State) -> tuple[jax.Array, jax.Array]:
    """The player's current target (`state.target`) while it can be hit, else the lowest-index
    alive, in-range enemy slot (the tank's next target). bool [E] one-hot, and its index."""
    eligible = eligible_targets(state)
    slots = iota(eligible.shape[0], batch_rank(state))
    current = (slots == state.target) & eligible
    index = jnp.where(jnp.any(current, axis=0), state.target, jnp.argmax(eligible, axis=0))
    return (slots == index) & eligible, index


def decode_action(spec: Spec, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(ability index, enemy slot) of actions; slot -1 for untargeted abilities (and for every
    action when the spec has one target slot), ability A for wait. Arithmetic on the static
    layout (actions are grouped by ability), no gather."""
    rank = jnp.ndim(action)
    first = spec.ability_first_action
    starts = jnp.asarray(first[1:]).reshape((-1,) + (1,) * rank)
    ability = jnp.sum(starts <= action, axis=0).astype(jnp.int32)
    if spec.target_slots == 1 or not any(spec.ability_targeted):
        return ability, jnp.full(jnp.shape(action), -1, jnp.int32)
    targeted = np.append(np.asarray(spec.ability_targeted), False)
    hot = iota(spec.num_abilities + 1, rank) == ability
    start = jnp.sum(jnp.where(hot, jnp.asarray(first).reshape((-1,) + (1,) * rank), 0), axis=0)
    is_targeted = jnp.any(hot & jnp.asarray(targeted).reshape((-1,) + (1,) * rank), axis=0)
    return ability, jnp.where(is_targeted, action - start, -1).astype(jnp.int32)


def action_on(spec: Spec, ability: int, slot: jax.Array, mask: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(action, legal) of the static `ability` aimed at enemy `slot` (the current target, say),
    read from the legal mask [N]; untargeted abilities ignore the slot. The wait index A gives wait."""
    first = int(spec.ability_first_action[ability])
    if ability < spec.num_abilities and spec.ability_targeted[ability] and spec.target_slots > 1:
        on_slot = iota(spec.target_slots, jnp.ndim(slot)) == slot
        return (first + slot).astype(jnp.int32), jnp.any(mask[first:first + spec.target_slots] & on_slot, axis=0)
    return jnp.full(jnp.shape(slot), first, jnp.int32), mask[first]


def to_slots(per_enemy: jax.Array, slots: int) -> jax.Array:
    """[E, ...] -> [slots, ...]: cut or pad (with False / 0) the enemy axis to the action layout's slots."""
    enemies = per_enemy.shape[0]
    if enemies >= slots:
        return per_enemy[:slots]
    padding = jnp.zeros((slots - enemies,) + per_enemy.shape[1:], per_enemy.dtype)
    return jnp.concatenate([per_enemy, padding], axis=0)


def health_fraction(state: State, fight: FightTables) -> jax.Array:
    """Per enemy, 0..1. In fixed-time fights it falls with time, as SimC estimates it."""
    fight = fight_tables(state, fight)
    by_health = state.enemy_health / jnp.maximum(state.enemy_max_health, 1.0)
    by_time = jnp.clip(1.0 - state.time / fight.time_limit, 0.0, 1.0)
    return jnp.where(fight.fixed_time, by_time, by_health)


def source_multiplier(state: State, spec: Spec, fight: FightTables, active_buffs: jax.Array | None = None
                      ) -> jax.Array:
    """Damage multiplier per source [S] from mastery, versatility, armor and raid debuffs, and
    the buffs that are up (`active_buffs` [B] overrides which count: a free-cast buff that
    another one outranks, say). A buff's multiplier counts once, or once per stack when it
    says `damage_per_stack`: one sum of logs over the buffs, then one exp per source."""
    t, fight = spec_tables(state, spec), fight_tables(state, fight)
    mastery, versatility = mastery_and_versatility(state, spec)
    bonus = (spec.hooks.mastery_multiplier(mastery, t) if spec.hooks.mastery_multiplier else 1.0)
    armor = jnp.where(t.source_physical, (1.0 - fight.armor_reduction) * fight.physical_taken, fight.magic_taken)
    stacks = jnp.where(t.buff_damage_per_stack, active_stacks(state), buff_active(state).astype(jnp.float32))
    if active_buffs is not None:
        stacks = jnp.where(active_buffs, stacks, 0.0)
    return t.source_multiplier * bonus * (1.0 + versatility) * armor * buff_damage_factors(spec, stacks)


def buff_damage_factors(spec: Spec, stacks: jax.Array) -> jax.Array:
    """[S]: the product over buffs of each buff's multiplier on each source, given the stacks
    that count [B]. Sources that the same buffs change by the same amounts share one column:
    the sum of logs runs over the few distinct columns (12 for Retribution instead of 45
    sources) and only the buffs that change damage (measured: 7.5 -> ms at batch 4096)."""
    pattern_logs, buffs, columns = _damage_patterns(spec)
    if not buffs:
        return jnp.ones((len(columns),) + stacks.shape[1:])
    rank = stacks.ndim - 1
    used = jnp.stack([stacks[b] for b in buffs])  # [B']
    logs = jnp.asarray(pattern_logs).reshape(pattern_logs.shape + (1,) * rank)  # [U, B']
    per_pattern = jnp.exp(jnp.sum(logs * used[None], axis=1))  # [U]
    return jnp.concatenate([per_pattern[u][None] for u in columns])


@functools.lru_cache(maxsize=None)
def _damage_patterns(spec: Spec) -> tuple[np.ndarray, tuple[int, ...], tuple[int, ...]]:
    """(log multipliers per distinct column [U, B'], the buffs B' that change damage, the column
    of each source [S]) from the spec's static buff table."""
    table = np.log(np.asarray(spec.tables.buff_source_multiplier, np.float64))  # [B, S]
    buffs = tuple(int(b) for b in np.flatnonzero(np.any(table != 0, axis=1)))
    used = table[list(buffs)].T if buffs else np.zeros((table.shape[1], 0))  # [S, B']
    patterns, columns = np.unique(used, axis=0, return_inverse=True)
    return patterns.astype(np.float32), buffs, tuple(int(c) for c in np.ravel(columns))


def debuff_taken_multiplier(state: State, spec: Spec, affects: jax.Array, columns: bool = False) -> jax.Array:
    """Per enemy ([E]), or per enemy and column ([E, K]) when `columns`: how much more
    damage an enemy takes from a source whose `debuff_affects` column is `affects`
    ([D]), or from each of the sources `affects` [D, K], e.g. Judgment's +20 % on spenders."""
    t = spec_tables(state, spec)
    active = state.debuff_remaining > 0
    taken = t.debuff_taken_multiplier
    if columns:
        return jnp.prod(jnp.where(active[:, :, None] & (affects > 0.5)[None], taken[:, None][None], 1.0), axis=1)
    return jnp.prod(jnp.where(active & (affects > 0.5)[None, :], taken[None, :], 1.0), axis=1)


def crit_multiplier(state: State, spec: Spec, bonus: jax.Array | float = 0.0) -> jax.Array:
    """A critical hit's damage multiplier: the spec's (2.0) plus a source's `bonus`, times the
    character's own scale (Eyes of the Eagle)."""
    return (spec_tables(state, spec).crit_damage_multiplier + bonus) * state.stats.crit_damage_scale


def crit_factor(roll: jax.Array, chance: jax.Array, multiplier: jax.Array, expected_value: bool) -> jax.Array:
    """Crit damage factor: expected in expected-value mode, else `multiplier` on a roll under the chance."""
    if expected_value:
        return 1.0 + chance * (multiplier - 1.0)
    return jnp.where(roll < chance, multiplier, 1.0)


def crit_event(roll: jax.Array, chance: jax.Array, expected_value: bool) -> jax.Array:
    """1 for a crit (its probability in expected-value mode)."""
    return chance if expected_value else (roll < chance).astype(jnp.float32)


# ----------------------------------------------------------------- legality
def legal_action_mask(state: State, spec: Spec, fight: FightTables) -> jax.Array:
    """bool[N]: actions whose ability the character has and that is ready, affordable and meets
    its buff conditions, on a target that can be hit (a targeted action's own enemy slot);
    the wait action (last) is always legal. A finished fight allows only wait."""
    t = spec_tables(state, spec)
    active = buff_active(state)
    free = jnp.any(active[:, None] & t.buff_makes_free, axis=0)
    affordable = jnp.all(t.cost <= state.resources[None, :] + 1e-6, axis=1) | free
    ready = state.charges >= 1
    eligible = eligible_targets(state)
    has_target = jnp.any(eligible, axis=0)
    primary, _ = primary_target(state)
    fraction = health_fraction(state, fight)
    with_buff = jnp.any(t.usable_with_buffs & active[None, :], axis=1)
    blocked = jnp.any(t.unusable_with_buffs & active[None, :], axis=1)
    base = t.enabled & ready & affordable & ~blocked & ~state.terminated
    # Untargeted abilities: some enemy (when they need one); the health condition on the current target.
    below = jnp.sum(jnp.where(primary, fraction, 0.0), axis=0) < t.usable_below_health
    condition_ok = ~t.has_usable_condition | (has_target & below) | with_buff
    untargeted = base & ((t.target_mode == 0) | has_target) & condition_ok
    base, untargeted, with_buff = materialize((base, untargeted, with_buff), state)  # sliced per ability below
    # Targeted abilities, per enemy slot [K], one ability at a time: a [K, A] table sliced per
    # ability was recomputed whole in every slice's fusion (9.4 k -> 3.0 k flops per fight).
    slots = spec.target_slots
    slot_eligible = to_slots(eligible, slots)
    slot_fraction = to_slots(fraction, slots)
    conditional = np.asarray(spec.tables.has_usable_condition)
    parts = []
    for ability, targeted in enumerate(spec.ability_targeted):
        if not (targeted and slots > 1):  # with one slot, the one action is "on the current target"
            parts.append(untargeted[ability][None])
            continue
        ok = slot_eligible & base[ability]
        if conditional[ability]:  # static
            ok = ok & ((slot_fraction < t.usable_below_health[ability]) | with_buff[ability])
        parts.append(ok)
    parts.append(jnp.ones((1,) + base.shape[1:], bool))
    mask = jnp.concatenate(parts)
    if spec.hooks.legal_mask is not None:
        mask = spec.hooks.legal_mask(state, t, mask).at[-1].set(True)
    return mask


# ----------------------------------------------------------------- damage bookkeeping
def deal_damage(state: State, spec: Spec, player: jax.Array, sources: jax.Array | range,
                group: jax.Array | None = None) -> State:
    """Apply the player's damage `player` [K, E] from the K damage sources that the
    one-hot rows `sources` [K, S] name (or, static, the consecutive source indices of a
    `range`), and the rest of the group's `group` [E].

    Overkill is removed per enemy in proportion to each source's share, so the
    player's damage plus the group's always equals the health removed. Only the
    sources that can deal damage in this phase are passed: a dense [S, E] matrix
    would be recomputed row by row in every XLA fusion that reads it. A static range
    adds into its slice directly (a one-hot [K, S] was stored per fight under vmap).
    """
    t = spec_tables(state, spec)
    if isinstance(sources, range):
        assert sources.step == 1 and len(sources) == player.shape[0]
        sources_physical = np.asarray(spec.tables.source_physical)[sources.start:sources.stop]
        physical = jnp.asarray(sources_physical).reshape((-1,) + (1,) * batch_rank(state))
    else:
        physical = jnp.any(sources & t.source_physical[None, :], axis=1)
    total = jnp.sum(player, axis=0)
    if group is not None:
        total = total + group
    kills = (total >= state.enemy_health) & (total > 0)
    scale = jnp.where(kills, state.enemy_health / jnp.maximum(total, 1e-30), 1.0)
    health = jnp.where(kills, 0.0, jnp.maximum(state.enemy_health - total, 0.0))
    effective = player * scale[None, :]
    by_source = materialize(jnp.sum(effective, axis=1), state)  # [K]
    # Debuffs that store a share of the player's non-physical damage (Execution Sentence).
    magic = jnp.sum(jnp.where(physical[:, None], 0.0, effective), axis=0)
    store = (state.debuff_remaining > 0) * t.debuff_accumulate_fraction[None, :]
    if isinstance(sources, range):
        by_source_total = state.damage_by_source.at[sources.start:sources.stop].add(by_source)
    else:
        by_source_total = state.damage_by_source + jnp.sum(jnp.where(sources, by_source[:, None], 0.0), axis=0)
    state = state.replace(
        enemy_health=health,
        enemy_alive=state.enemy_alive & (health > 0),
        damage_by_source=by_source_total,
        damage_done=state.damage_done + jnp.sum(by_source, axis=0),
        debuff_value=state.debuff_value + store * magic[:, None],
    )
    if group is not None:
        state = state.replace(group_damage=state.group_damage + jnp.sum(group * scale, axis=0))
    return state


def clear_dead_enemy_debuffs(state: State) -> State:
    alive = state.enemy_alive[:, None]
    return state.replace(
        debuff_remaining=jnp.where(alive, state.debuff_remaining, 0.0),
        debuff_tick=jnp.where(alive, state.debuff_tick, 0.0),
        debuff_value=jnp.where(alive, state.debuff_value, 0.0),
        debuff_stacks=jnp.where(alive, state.debuff_stacks, 0),
    )


# ----------------------------------------------------------------- buffs, debuffs, cooldowns
def grant(state: State, spec: Spec, stacks: jax.Array, refresh: jax.Array, resets: jax.Array) -> State:
    """Give buffs `stacks` [B] more stacks (a buff that was down starts at its initial stacks and
    full duration; `refresh` [B] also restarts one that is up), and reset cooldowns [A] (one
    charge back). A periodic buff that starts fresh ticks now or one period from now."""
    t = spec_tables(state, spec)
    gained = (stacks > 0) & t.buff_enabled
    was_up = buff_active(state)
    start = gained & ~was_up
    resets = resets | sparse_any(np.asarray(spec.tables.buff_resets_on_gain).T, gained)
    charges = jnp.where(resets, jnp.minimum(state.charges + 1, t.max_charges), state.charges)
    new_stacks = jnp.where(was_up, state.buff_stacks + stacks.astype(jnp.int32),
                           t.buff_initial_stacks + stacks.astype(jnp.int32) - 1)
    return state.replace(
        buff_remaining=jnp.where(gained & (refresh | ~was_up), t.buff_duration, state.buff_remaining),
        buff_stacks=jnp.where(gained, jnp.clip(new_stacks, 1, t.buff_max_stacks), state.buff_stacks),
        buff_tick=jnp.where(start, jnp.where(t.buff_tick_on_apply, 0.0, t.buff_tick_period), state.buff_tick),
        charges=charges,
        recharge=jnp.where(resets & (charges >= t.max_charges), 0.0, state.recharge),
    )


def apply_debuffs(state: State, spec: Spec, targets: jax.Array, debuffs: jax.Array, effectiveness: jax.Array,
                  haste: jax.Array, ap: jax.Array, sp: jax.Array) -> State:
    """Apply `debuffs` [E, D] on enemies (`targets` [E] masks them), each at `effectiveness`
    (a share of a full application). A periodic debuff that rolls keeps its remaining damage;
    stacks add up to their maximum; the duration restarts."""
    t = spec_tables(state, spec)
    applied = targets[:, None] & debuffs
    period = jnp.where(t.debuff_tick_hasted, t.debuff_tick_period / haste, t.debuff_tick_period)[None, :]
    was_on = state.debuff_remaining > 0
    kept_tick = jnp.where(was_on, state.debuff_tick, period)
    ticks_left = jnp.where(was_on, jnp.maximum(jnp.floor((state.debuff_remaining - kept_tick) / period) + 1.0,
                                               0.0), 0.0)
    new_ticks = jnp.maximum(jnp.floor((t.debuff_duration[None, :] - kept_tick) / period) + 1.0, 1.0)
    power = jnp.where(t.debuff_uses_spell_power, sp, ap)
    base_tick = (t.debuff_tick_coefficient * power + t.debuff_tick_base)[None, :] * effectiveness
    rolled_tick = (state.debuff_value * ticks_left + base_tick * new_ticks) / new_ticks
    fresh_value = jnp.where(t.debuff_periodic[None, :],
                            jnp.where(t.debuff_rolling[None, :] & was_on, rolled_tick, base_tick),
                            jnp.where(was_on, state.debuff_value, 0.0))
    stacks = jnp.minimum(jnp.where(was_on, state.debuff_stacks, 0) + t.debuff_stacks_per_application[None, :],
                         t.debuff_max_stacks[None, :])
    return state.replace(
        debuff_remaining=jnp.where(applied, t.debuff_duration[None, :], state.debuff_remaining),
        debuff_tick=jnp.where(applied, kept_tick, state.debuff_tick),
        debuff_value=jnp.where(applied, fresh_value, state.debuff_value),
        debuff_stacks=jnp.where(applied, stacks, state.debuff_stacks),
    )


def consume_debuff_stacks(state: State, hits: jax.Array) -> State:
    """Each hit removes one stack of the debuffs it consumes: `hits` bool [E, D]."""
    stacks = state.debuff_stacks - hits.astype(jnp.int32)
    gone = hits & (stacks <= 0)
    return state.replace(
        debuff_stacks=jnp.maximum(stacks, 0),
        debuff_remaining=jnp.where(gone, 0.0, state.debuff_remaining),
    )


def ability_row(spec: Spec, ability: jax.Array) -> dict[str, jax.Array]:
    """Everything about the ability with index `ability` (zeros for the wait action): the
    packed row. Per fight (and so under `jax.vmap`) a row gather from the constant table: a
    one-hot masked sum there costs abilities x fields per fight (action_duration 3.8 -> 1.1 ms
    at batch 4096). In the batch-last layout the masked sum, which fuses with its neighbours
    where batched gathers are slow."""
    rank = jnp.ndim(ability)
    rows = spec.tables.ability_rows
    if rank == 0:
        padded = jnp.concatenate([rows, jnp.zeros((1, rows.shape[1]), rows.dtype)])  # the wait action's zeros
        packed = padded[jnp.clip(ability, 0, spec.num_abilities)]
    else:
        hot = iota(spec.num_abilities, rank) == ability
        packed = jnp.sum(jnp.where(hot[:, None], batched(spec.tables, rank).ability_rows, 0.0), axis=0)
    fields = {}
    for name, (start, stop) in spec.ability_layout.items():
        fields[name] = packed[start] if stop - start == 1 else packed[start:stop]
    return fields


def soft_cap_scale(count: jax.Array, cap: jax.Array) -> jax.Array:
    """SimC's "reduced beyond N targets": each hit x sqrt(N / targets) above N."""
    return jnp.where((cap > 0) & (count > cap), jnp.sqrt(cap / jnp.maximum(count, 1)), 1.0)


# ----------------------------------------------------------------- procs and spells
def num_trigger_columns(spec: Spec) -> int:
    return spec.num_abilities + 2 + len(spec.spell_names)


def sparse_sum(matrix: np.ndarray, vectors: jax.Array) -> jax.Array:
    """`matrix` [R, K] (a static, mostly-zero spec table) times `vectors` [K, ...]: [R, ...],
    written out term by term over the nonzero entries. A dense product over the whole
    table costs R x K per fight per step; the spec tables have a few nonzeros per row."""
    matrix = np.asarray(matrix, np.float32)
    rows = []
    for row in matrix:
        terms = [vectors[k] if value == 1.0 else vectors[k] * value for k, value in enumerate(row) if value != 0.0]
        rows.append(functools.reduce(jnp.add, terms) if terms else jnp.zeros(vectors.shape[1:], vectors.dtype))
    return jnp.stack(rows) if rows else jnp.zeros((0,) + vectors.shape[1:], vectors.dtype)


def sparse_any(mask: np.ndarray, flags: jax.Array) -> jax.Array:
    """bool: for each row of the static `mask` [R, K], whether any of its `flags` [K, ...] is set."""
    return sparse_sum(np.asarray(mask, np.float32), flags.astype(jnp.float32)) > 0


def run_procs(state: State, spec: Spec, counts: jax.Array, crits: jax.Array, expected_value: bool
              ) -> tuple[State, jax.Array, jax.Array]:
    """Fire the procs that the events `counts` [C] (with `crits` [C] of them critical) set off,
    and apply what they do. Returns the state, the debuffs [D] they apply to the events'
    target, and the spells [T] they deal (hit counts).

    A proc with chance 1 acts once per event (three hammers per cast, a stack per point of
    Holy Power); a chance proc acts at most once per phase, with probability 1 - (1 - p)^n over
    its n chances (in expected-value mode: once per whole expected proc, via an accumulator).
    The proc tables are static and sparse: every sum over procs or trigger columns is written
    out over its nonzero entries (`sparse_sum`), which made a pass 10 ms -> ms at batch 4096."""
    t, h = spec_tables(state, spec), spec.tables  # h: the same tables, unbatched, read at trace time
    # Stored, not recomputed: XLA would otherwise repeat the producers of the events (crit
    # rolls, hashes) inside every sum below (measured: 117 ms instead of 3 ms per pass).
    counts, crits = materialize((counts, crits), state)
    active = buff_active(state)
    chances = sparse_sum(h.proc_trigger, counts)
    critical = sparse_sum(h.proc_trigger, crits)
    chances = jnp.where(t.proc_on_crit, critical, chances)
    required = ~t.proc_has_requirement | sparse_any(h.proc_requires, active)
    allowed = required & ~sparse_any(h.proc_unless, active)
    chances = jnp.where(allowed, chances, 0.0)
    mastery, _ = mastery_and_versatility(state, spec)
    chance = jnp.clip(t.proc_chance + t.proc_bonus_on_crit * critical / jnp.maximum(chances, 1e-6)
                      + t.proc_chance_per_mastery * mastery, 0.0, 1.0)
    certain = chance >= 1.0 - 1e-6
    if expected_value:
        accumulator = state.proc_accumulator + jnp.where(certain, 0.0, chances * chance)
        fired = accumulator >= 1.0 - 1e-6
        state = state.replace(proc_accumulator=accumulator - fired)
    else:
        roll = keyed_uniform(state, STREAM_PROC, iota(chance.shape[0], batch_rank(state)), state.proc_count)
        none = jnp.exp(chances * jnp.log1p(-jnp.minimum(chance, 1.0 - 1e-6)))
        fired = (chances > 0) & (roll < 1.0 - none)
    # Stored once: every effect below is a sum over procs that would otherwise recompute it.
    magnitude = materialize(jnp.where(certain, chances, fired.astype(jnp.float32)), state)
    on = magnitude > 0
    state = state.replace(proc_count=state.proc_count + jnp.ceil(chances).astype(jnp.int32))

    # Buffs consumed, then granted; cooldowns reset or reduced; resources; buffs extended.
    consumes = np.asarray(h.proc_consumes_buff).T  # [B, P]
    consumed = sparse_any(consumes, on)
    one_stack = sparse_any(consumes & np.asarray(h.proc_consumes_stacks)[None, :], on)
    left = jnp.where(one_stack, state.buff_stacks - 1, 0)
    state = state.replace(
        buff_stacks=jnp.where(consumed, jnp.maximum(left, 0), state.buff_stacks),
        buff_remaining=jnp.where(consumed & (left <= 0), 0.0, state.buff_remaining),
    )
    grants = np.asarray(h.proc_grants_buff).T  # [B, P]
    stacks = sparse_sum(grants * np.asarray(h.proc_stacks)[None, :], magnitude)
    refresh = sparse_any(grants & np.asarray(h.proc_refresh)[None, :], on)
    state = grant(state, spec, stacks, refresh, sparse_any(np.asarray(h.proc_resets).T, on))
    state = state.replace(
        resources=jnp.clip(state.resources + sparse_sum(np.asarray(h.proc_gain).T, magnitude), 0.0, t.resource_max),
        buff_remaining=jnp.where(buff_active(state), state.buff_remaining
                                 + sparse_sum(np.asarray(h.proc_extends).T, on.astype(jnp.float32)),
                                 state.buff_remaining),
    )
    if np.any(np.asarray(h.proc_reduces)):  # static: cooldowns cut short; one that ran out is back now
        hasted = np.asarray(h.proc_reduces_hasted)
        if hasted.any():  # static: a share of a hasted cooldown (Sanctified Wrath halves Hammer of Wrath's)
            scale = jnp.where(jnp.asarray(hasted).reshape((-1,) + (1,) * (magnitude.ndim - 1)),
                              1.0 / haste_factor(state, spec), 1.0)
            magnitude = magnitude * scale
        reduce = sparse_sum(np.asarray(h.proc_reduces).T, magnitude)
        state = state.replace(recharge=jnp.where(state.charges < t.max_charges, state.recharge - reduce,
                                                 state.recharge))
        state = tick_timers(state, spec, jnp.zeros_like(state.time), haste_factor(state, spec),
                            at_most_one_charge=True)
    debuffs = sparse_any(np.asarray(h.proc_applies_debuff).T, on)
    spells = sparse_sum(np.asarray(h.proc_deals).T, magnitude)
    return state, debuffs, spells


def deal_spells(state: State, spec: Spec, spells: jax.Array, target: jax.Array, context: dict,
                expected_value: bool) -> tuple[State, jax.Array, jax.Array]:
    """Deal `spells` [T] hits of each spell around `target` [E] (one-hot; the current target
    when it is gone), with the phase's `context` (see `phase_context`). Returns the state, and
    the hits and crits per spell [T] (as events for the next proc pass)."""
    t, rank = spec_tables(state, spec), batch_rank(state)
    A, D = spec.num_abilities, len(spec.debuff_names)
    spells, target = materialize((spells, target), state)
    eligible = eligible_targets(state)
    target = jnp.where(jnp.any(target & eligible, axis=0), target & eligible, primary_target(state)[0])
    others = eligible & ~target
    count_others = jnp.cumsum(others, axis=0)
    mode = t.spell_target_mode[:, None]
    alive = jnp.maximum(jnp.sum(eligible, axis=0), 1)
    up_to_others = others[None, :] & (count_others[None, :] <= t.spell_max_targets[:, None]
                                      - (mode == SPELL_UP_TO))
    weights = jnp.where((mode == SPELL_TARGET) | (mode == SPELL_UP_TO), target[None, :], False)
    weights = weights | (((mode == SPELL_OTHERS) | (mode == SPELL_UP_TO)) & up_to_others)
    weights = (weights | ((mode == SPELL_ALL) & eligible[None, :])).astype(jnp.float32)
    weights = jnp.where(mode == SPELL_RANDOM, eligible[None, :] / alive, weights)  # [T, E]
    hit_count = jnp.sum(weights > 0, axis=1)
    scale = jnp.where(t.spell_target_mode == SPELL_RANDOM, 1.0, soft_cap_scale(hit_count, t.spell_aoe_soft_cap))
    on_target = jnp.where(target[None, :], t.spell_target_multiplier[:, None], 1.0)

    ap, sp = context["attack_power"], context["spell_power"]
    power = jnp.where(t.spell_uses_spell_power, sp, ap)
    base = A + 1 + D
    multiplier = context["multiplier"][base:]
    chance = jnp.clip(context["crit"] + t.source_crit_bonus[base:], 0.0, 1.0)
    crit_damage = crit_multiplier(state, spec, t.source_crit_damage_bonus[base:])
    roll = (0.0 if expected_value else
            keyed_uniform(state, STREAM_SPELL, iota(chance.shape[0], rank), state.spell_count))
    crits = crit_factor(roll, chance, crit_damage, expected_value)
    taken = debuff_taken_multiplier(state, spec, t.debuff_affects[:, base:].astype(jnp.float32), columns=True)
    raw = t.spell_coefficient * power
    if has_flat_damage(spec, "spell_weapon_coefficient", "spell_base_damage"):
        raw = raw + t.spell_weapon_coefficient * weapon_hit(state, spec, ap) + t.spell_base_damage
    per_hit = spells * raw * multiplier * scale  # [T]
    damage = per_hit[:, None] * weights * on_target * jnp.swapaxes(taken, 0, 1) * crits[:, None]  # [T, E]
    critical = spells * crit_event(roll, chance, expected_value)
    # A crit's splash: this share of the critical hit on every other enemy (Wrathful Descent).
    splash = critical * t.spell_crit_splash * raw * multiplier * crit_damage
    damage = damage + splash[:, None] * others[None, :]
    # Debuffs the spells consume (one stack per hit) and apply.
    consumes = t.debuff_consumed_by[:, base:]  # [D, T]
    hits = jnp.any((weights[None, :, :] > 0) & (spells > 0)[None, :, None] & (consumes[:, :, None] > 0.5), axis=1)
    state = consume_debuff_stacks(state, jnp.swapaxes(hits, 0, 1) & (state.debuff_stacks > 0))
    state = deal_damage(state, spec, damage, range(base, base + spells.shape[0]))
    applied = jnp.any((spells > 0)[:, None] & t.spell_applies_debuff, axis=0)  # [D]
    hit_any = jnp.any((weights > 0) & (spells > 0)[:, None], axis=0)  # [E]
    state = apply_debuffs(state, spec, hit_any, applied[None, :] & (hit_any[:, None]), 1.0,
                          context["haste"], ap, sp)
    state = state.replace(spell_count=state.spell_count + jnp.ceil(spells).astype(jnp.int32))
    return state, spells, critical


def spell_events(spec: Spec, spells: jax.Array, crits: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Trigger columns [C] for spells dealt: zeros for the ability, auto and resource columns."""
    front = jnp.zeros((spec.num_abilities + 2,) + spells.shape[1:], jnp.float32)
    return jnp.concatenate([front, spells]), jnp.concatenate([front, crits])


def phase_context(state: State, spec: Spec, fight: FightTables) -> dict:
    """Stats and multipliers computed once per phase (the action, or the time that passes)."""
    ap, sp = attack_power(state, spec)
    return materialize({"attack_power": ap, "spell_power": sp, "haste": haste_factor(state, spec),
                        "crit": crit_chance(state, spec), "multiplier": source_multiplier(state, spec, fight)},
                       state)


def chain_procs(state: State, spec: Spec, counts: jax.Array, crits: jax.Array, spells: jax.Array,
                target: jax.Array, context: dict, expected_value: bool) -> State:
    """Both proc passes of a step: procs on the events `counts` / `crits` [C], the spells they
    deal together with the step's own `spells` [T] (periodic buffs, swings that are spells),
    procs on all those spells, and the spells these deal. One `lax.scan` over the two passes,
    so the pass is compiled once."""
    ap, sp, haste = context["attack_power"], context["spell_power"], context["haste"]

    def one_pass(carry, _):
        state, counts, crits, pending = carry
        state, debuffs, dealt = run_procs(state, spec, counts, crits, expected_value)
        state = apply_debuffs(state, spec, target & eligible_targets(state), debuffs[None, :] & target[:, None],
                              1.0, haste, ap, sp)
        state, hits, critical = deal_spells(state, spec, pending + dealt, target, context, expected_value)
        counts, crits = spell_events(spec, hits, critical)
        return (state, counts, crits, jnp.zeros_like(pending)), None

    (state, _, _, _), _ = jax.lax.scan(one_pass, (state, counts, crits, spells), None, length=2)
    return state


# ----------------------------------------------------------------- the action
def use_ability(state: State, action: jax.Array, spec: Spec, fight: FightTables, expected_value: bool
                ) -> tuple[State, jax.Array, jax.Array, jax.Array]:
    """Apply the direct effects of `action` (see `decode_action`; the wait action does nothing).
    Returns the state, the events it set off (trigger columns [C]: the cast, and the resource
    it spent, a free spender counting its full cost as in the game), their crits, and the
    enemy it was aimed at (one-hot [E]); `step` runs the procs."""
    t, rank = spec_tables(state, spec), batch_rank(state)
    num_abilities = spec.num_abilities
    ability_index, slot = decode_action(spec, action)
    hot = iota(num_abilities, rank) == ability_index  # all False for the wait action
    ability = ability_row(spec, ability_index)

    # Buffs: a free-cast buff is used one at a time (the first in file order).
    active = buff_active(state)
    makes_free = ability["makes_free"] > 0.5
    free_candidates = active & makes_free
    first_free = free_candidates & (jnp.cumsum(free_candidates, axis=0) == 1)
    is_free = jnp.any(first_free, axis=0)
    damage_buffs = active & ~(free_candidates & ~first_free)
    consumed = (active & (ability["buff_consumed_by"] > 0.5) & ~makes_free) | first_free

    # Targets: a targeted action's own slot (it becomes the current target), else the current target.
    eligible = eligible_targets(state)
    chosen = (iota(eligible.shape[0], rank) == slot) & eligible
    state = state.replace(target=jnp.where(slot >= 0, slot, state.target))
    primary = jnp.where(slot >= 0, chosen, primary_target(state)[0])
    mode = jnp.round(ability["target_mode"])
    after_primary = eligible & ~primary
    up_to = primary | (after_primary & (jnp.cumsum(after_primary, axis=0) <= ability["max_targets"] - 1))
    hit = jnp.where(mode == TARGET_PRIMARY, primary,
                    jnp.where(mode == TARGET_ALL, eligible,
                              jnp.where(mode == TARGET_UP_TO, up_to, False)))
    targets_hit = jnp.sum(hit, axis=0)
    aoe_scale = soft_cap_scale(targets_hit, ability["aoe_soft_cap"])
    per_target = jnp.where(primary, 1.0, ability["secondary_multiplier"])

    # Direct damage.
    ap, sp = attack_power(state, spec)
    power = jnp.where(ability["uses_spell_power"] > 0.5, sp, ap)
    stat_multiplier = source_multiplier(state, spec, fight, damage_buffs)[:num_abilities]
    multiplier = jnp.sum(jnp.where(hot, stat_multiplier, 0.0), axis=0)
    chance = jnp.clip(crit_chance(state, spec) + ability["crit_bonus"], 0.0, 1.0)
    crit_damage = crit_multiplier(state, spec, ability["crit_damage_bonus"])
    casts_before = jnp.sum(jnp.where(hot, state.casts[:num_abilities], 0), axis=0)
    roll = (jnp.zeros(eligible.shape) if expected_value else
            keyed_uniform(state, STREAM_CAST, ability_index, casts_before, iota(eligible.shape[0], rank)))
    crits = crit_factor(roll, chance, crit_damage, expected_value)
    raw = ability["coefficient"] * power
    if "weapon_coefficient" in spec.ability_layout:  # static: older kits' weapon and flat damage
        raw = raw + ability["weapon_coefficient"] * weapon_hit(state, spec, ap) + ability["base_damage"]
    direct = (hit * raw * multiplier * aoe_scale * per_target
              * debuff_taken_multiplier(state, spec, ability["debuff_affects"]) * crits)
    source_hot = iota(t.source_multiplier.shape[0], rank) == ability_index
    primary_crit = jnp.sum(primary * crit_event(roll, chance, expected_value), axis=0)

    # Debuffs: the hit consumes a stack of those it consumes (after they raised its damage),
    # then the ability applies its own.
    consumed_hits = hit[:, None] & (ability["debuff_consumed_by"] > 0.5)[None, :] & (state.debuff_stacks > 0)
    state = state.replace(
        buff_remaining=jnp.where(consumed, 0.0, state.buff_remaining),
        buff_stacks=jnp.where(consumed, 0, state.buff_stacks),
    )
    state = deal_damage(state, spec, direct[None, :], source_hot[None, :])
    state = consume_debuff_stacks(state, consumed_hits)
    haste = haste_factor(state, spec)
    state = apply_debuffs(state, spec, hit & eligible_targets(state),
                          (ability["applies_debuff"] > 0.5)[None, :] & hit[:, None],
                          ability["debuff_effectiveness"], haste, ap, sp)

    # Resources and cooldown.
    cost = jnp.where(is_free, 0.0, ability["cost"])
    gain = ability["gain"] + ability["gain_per_target"] * targets_hit
    spent = (jnp.reshape(ability["cost"], (len(spec.resource_names),) + hot.shape[1:])[0] if spec.resource_names
             else jnp.zeros(hot.shape[1:]))
    resources = jnp.clip(state.resources + gain - cost, 0.0, t.resource_max)
    on_cooldown = hot & (t.cooldown > 0)
    cooldown = jnp.where(t.cooldown_hasted, t.cooldown / haste, t.cooldown)
    starts_recharge = on_cooldown & (state.charges >= t.max_charges)
    state = state.replace(
        resources=resources,
        charges=state.charges - on_cooldown.astype(jnp.int32),
        recharge=jnp.where(starts_recharge, cooldown, state.recharge),
        casts=state.casts + (iota(num_abilities + 1, rank) == ability_index).astype(jnp.int32),
        last_action=action.astype(jnp.int32),
    )
    applies = ability["applies_buff"]
    state = grant(state, spec, applies, applies > 0.5, jnp.zeros(hot.shape, bool))

    counts = jnp.concatenate([hot.astype(jnp.float32), jnp.zeros((1,) + hot.shape[1:]), spent[None],
                              jnp.zeros((len(spec.spell_names),) + hot.shape[1:])])
    crits_column = jnp.concatenate([hot * primary_crit, jnp.zeros((2 + len(spec.spell_names),) + hot.shape[1:])])
    return state, counts, crits_column, primary


# ----------------------------------------------------------------- time passing
def tick_timers(state: State, spec: Spec, dt: jax.Array, haste: jax.Array, at_most_one_charge: bool = False) -> State:
    """Buffs expire, charges come back, resources regenerate over `dt` seconds.

    `at_most_one_charge` (static) is the fast path for a step of play: when no hasted
    cooldown is shorter than the longest step (`Spec.one_charge_per_step`), at most one
    charge returns, and the floor/modulo of the general case (travel) is not needed.
    It made the whole step about 20 % faster on the 2-core CPU.
    """
    t = spec_tables(state, spec)
    buff_remaining = jnp.maximum(state.buff_remaining - dt, 0.0)
    cooldown = jnp.where(t.cooldown_hasted, t.cooldown / haste, t.cooldown)
    recharging = (state.charges < t.max_charges) & (t.cooldown > 0)
    left = state.recharge - dt
    done = recharging & (left <= EPSILON)
    if at_most_one_charge:
        charges = jnp.minimum(state.charges + done, t.max_charges)
        next_charge = cooldown + left
    else:
        overshoot = jnp.maximum(-left, 0.0)
        gained = jnp.where(done, 1 + jnp.floor(overshoot / cooldown).astype(jnp.int32), 0)
        charges = jnp.minimum(state.charges + gained, t.max_charges)
        next_charge = cooldown - jnp.mod(overshoot, cooldown)
    recharge = jnp.where(charges >= t.max_charges, 0.0, jnp.where(done, next_charge, jnp.maximum(left, 0.0)))
    return state.replace(
        buff_remaining=buff_remaining,
        buff_stacks=jnp.where(buff_remaining > 0, state.buff_stacks, 0),
        charges=charges,
        recharge=recharge,
        resources=jnp.minimum(state.resources + t.resource_regen * dt, t.resource_max),
    )


def advance(state: State, spec: Spec, fight: FightTables, dt: jax.Array, expected_value: bool
            ) -> tuple[State, jax.Array, jax.Array, jax.Array]:
    """Let `dt` seconds pass: periodic damage, expiring debuffs, auto attacks, the group's
    damage, timers, deaths. Returns the state, the swings as trigger columns [C] (counts and
    crits), and the spells [T] periodic buffs and spell-swings deal; `step` runs the procs."""
    t, f, rank = spec_tables(state, spec), fight_tables(state, fight), batch_rank(state)
    A = spec.num_abilities
    num_slots = state.enemy_health.shape[0]
    haste = haste_factor(state, spec)
    chance = crit_chance(state, spec)
    ap, sp = attack_power(state, spec)
    multiplier = source_multiplier(state, spec, fight)
    eligible = eligible_targets(state)
    primary, _ = primary_target(state)
    taken = debuff_taken_multiplier(state, spec, t.debuff_affects[:, A + 1:A + 1 + len(spec.debuff_names)]
                                    .astype(jnp.float32), columns=True)  # [E, D]
    dt, haste, chance, ap, sp, multiplier, eligible, primary, taken = materialize(
        (dt, haste, chance, ap, sp, multiplier, eligible, primary, taken), state)
    debuff_multiplier = multiplier[A + 1:A + 1 + len(spec.debuff_names)]

    # Periodic ticks inside (0, min(dt, remaining)].
    on = (state.debuff_remaining > 0) & eligible[:, None]
    period = jnp.where(t.debuff_tick_hasted, t.debuff_tick_period / haste, t.debuff_tick_period)[None, :]
    window = jnp.minimum(dt, state.debuff_remaining)
    ticking = on & t.debuff_periodic[None, :] & (state.debuff_tick <= window + EPSILON)
    ticks = jnp.where(ticking, jnp.floor((window - state.debuff_tick + EPSILON) / period) + 1.0, 0.0)
    slots = iota(num_slots, rank)[:, None]
    debuff_index = iota(len(spec.debuff_names), rank)[None, :]
    if expected_value:
        tick_roll = blast_roll = 0.0
    else:
        tick_roll = keyed_uniform(state, STREAM_TICK, debuff_index, state.tick_count[None, :], slots)
        blast_roll = keyed_uniform(state, STREAM_BLAST, debuff_index, state.tick_count[None, :], slots)
    tick_hits = ticks
    if has_flat_damage(spec, "debuff_damage_per_stack"):  # static: a tick per stack (Censure)
        tick_hits = ticks * jnp.where(t.debuff_damage_per_stack[None, :], state.debuff_stacks, 1)
    periodic = (tick_hits * state.debuff_value * debuff_multiplier[None, :] * taken
                * crit_factor(tick_roll, chance, crit_multiplier(state, spec), expected_value))

    # Debuffs that expire now: a blast on every eligible enemy, plus the stored damage on its target.
    expiring = on & (state.debuff_remaining <= dt + EPSILON)
    debuff_power = jnp.where(t.debuff_uses_spell_power, sp, ap)
    blast_count = jnp.sum(expiring & (t.debuff_expire_coefficient > 0)[None, :], axis=0)  # [D]
    blast = (eligible[:, None] * blast_count[None, :] * (t.debuff_expire_coefficient * debuff_power)[None, :]
             * debuff_multiplier[None, :] * taken
             * crit_factor(blast_roll, chance, crit_multiplier(state, spec), expected_value))
    stored = jnp.where(expiring & (t.debuff_accumulate_fraction > 0)[None, :], state.debuff_value, 0.0)
    debuff_damage = periodic + blast + stored  # [E, D]

    # Auto attacks on the current target: a weapon hit (`weapon_hit`: in Midnight the weapon is in
    # attack power, dps x 6, so AP / 6 per second of swing time), or a spell.
    has_target = jnp.any(eligible, axis=0)
    # Strikes that repeat a swing at once (Skyfury) are folded into a faster swing: the same
    # average rate of strikes, and of what they set off.
    swing_time = state.stats.weapon_speed * t.auto_attack_speed / (haste * state.stats.strikes_per_swing)
    swing_left = state.swing_remaining - dt
    swings = jnp.where(has_target & (swing_left <= EPSILON),
                       jnp.floor(jnp.maximum(-swing_left, 0.0) / swing_time) + 1.0, 0.0)
    swing_remaining = jnp.where(has_target, swing_left + swings * swing_time, jnp.maximum(swing_left, 0.0))
    auto_chance = jnp.clip(chance + t.source_crit_bonus[A], 0.0, 1.0)
    auto_roll = 0.0 if expected_value else keyed_uniform(state, STREAM_SWING, state.swing_count)
    auto_crit = crit_event(auto_roll, auto_chance, expected_value)
    weapon_swings = 1.0 - jnp.sum(t.auto_attack_spell, axis=0)  # 0 when swings are a spell
    per_swing = weapon_hit(state, spec, ap, state.stats.weapon_speed) * multiplier[A] * weapon_swings
    auto_taken = debuff_taken_multiplier(state, spec, t.debuff_affects[:, A].astype(jnp.float32))
    autos = (primary * swings * per_swing * auto_taken
             * crit_factor(auto_roll, auto_chance, crit_multiplier(state, spec, t.source_crit_damage_bonus[A]),
                           expected_value))
    every = t.auto_attack_gain_every
    gains = (state.swing_count + swings.astype(jnp.int32)) // every - state.swing_count // every

    pull_hot = iota(fight.group_dps.shape[0], rank) == state.pull_index
    group = eligible * jnp.sum(jnp.where(pull_hot, f.group_dps, 0.0), axis=0) * dt
    player = jnp.concatenate([autos[None, :], jnp.swapaxes(debuff_damage, 0, 1)])  # sources A..A+D

    # Periodic buffs (a hammer every 2 s while it lasts) deal spells.
    buff_on = buff_active(state)
    buff_period = jnp.where(t.buff_tick_hasted, t.buff_tick_period / haste, t.buff_tick_period)
    buff_window = jnp.minimum(dt, state.buff_remaining)
    buff_ticking = buff_on & (t.buff_tick_period > 0) & (state.buff_tick <= buff_window + EPSILON)
    buff_ticks = jnp.where(buff_ticking, jnp.floor((buff_window - state.buff_tick + EPSILON)
                                                   / jnp.maximum(buff_period, 1e-3)) + 1.0, 0.0)
    tick_spells = jnp.sum(buff_ticks[:, None] * t.buff_tick_deals, axis=0) + swings * t.auto_attack_spell  # [T]
    if np.any(np.asarray(spec.tables.debuff_tick_deals)):  # static: damage over time that sets off spells
        gate = np.asarray(spec.tables.debuff_tick_requires)
        allowed = jnp.where(jnp.asarray(gate.any(axis=1)).reshape((-1,) + (1,) * rank),
                            sparse_any(gate, buff_on), True)  # [D]
        per_debuff = jnp.where(allowed, jnp.sum(ticks, axis=0), 0.0)  # ticks of each debuff, all enemies
        tick_spells = tick_spells + sparse_sum(np.asarray(spec.tables.debuff_tick_deals).T, per_debuff)

    debuff_left = jnp.maximum(state.debuff_remaining - dt, 0.0)
    state = state.replace(
        debuff_tick=jnp.where(ticking | on, state.debuff_tick + ticks * period - dt, state.debuff_tick),
        buff_tick=jnp.where(buff_on & (t.buff_tick_period > 0), state.buff_tick + buff_ticks * buff_period - dt,
                            state.buff_tick),
        swing_remaining=swing_remaining,
        swing_count=state.swing_count + swings.astype(jnp.int32),
        tick_count=state.tick_count + jnp.sum(ticks + expiring, axis=0).astype(jnp.int32),
        resources=jnp.clip(state.resources + gains.astype(jnp.float32) * t.auto_attack_gain, 0.0, t.resource_max),
    )
    state = deal_damage(state, spec, player, range(A, A + 1 + len(spec.debuff_names)), group)
    state = state.replace(
        debuff_remaining=debuff_left,
        debuff_value=jnp.where(debuff_left > 0, state.debuff_value, 0.0),
        debuff_tick=jnp.where(debuff_left > 0, state.debuff_tick, 0.0),
        debuff_stacks=jnp.where(debuff_left > 0, state.debuff_stacks, 0),
    )

    swing_column = (iota(num_trigger_columns(spec), rank) == A).astype(jnp.float32)
    state = tick_timers(state, spec, dt, haste, at_most_one_charge=spec.one_charge_per_step)
    state = clear_dead_enemy_debuffs(state.replace(time=state.time + dt))
    return state, swing_column * swings, swing_column * swings * auto_crit, tick_spells


def record_pull_clear(state: State) -> State:
    """Note the time the current pull died (once)."""
    num_pulls = state.pull_clear_time.shape[0]
    first_clear = ~jnp.any(state.enemy_alive, axis=0) & (state.pull_clear_time < 0)
    current = iota(num_pulls, batch_rank(state)) == state.pull_index
    return state.replace(pull_clear_time=jnp.where(current & first_clear, state.time, state.pull_clear_time))


def next_pull(state: State, spec: Spec, fight: FightTables) -> State:
    """When the current pull is dead, travel and engage the next one."""
    num_pulls = fight.pull_health.shape[0]
    cleared = ~jnp.any(state.enemy_alive, axis=0)
    moving = cleared & (state.pull_index < num_pulls - 1)
    index = jnp.minimum(state.pull_index + 1, num_pulls - 1)
    f, chosen = fight_tables(state, fight), iota(num_pulls, batch_rank(state)) == index
    travel = jnp.sum(jnp.where(chosen, f.pull_travel, 0.0), axis=0)
    travelled = tick_timers(state, spec, travel, haste_factor(state, spec))
    health = jnp.sum(jnp.where(chosen[:, None], f.pull_health, 0.0), axis=0)
    travelled = travelled.replace(
        time=state.time + travel,
        pull_start_time=state.time + travel,
        pull_index=index,
        enemy_health=health,
        enemy_max_health=health,
        enemy_alive=health > 0,
        enemy_in_range=jnp.ones_like(state.enemy_in_range),
        target=jnp.zeros_like(state.target),
        debuff_remaining=jnp.zeros_like(state.debuff_remaining),
        debuff_tick=jnp.zeros_like(state.debuff_tick),
        debuff_value=jnp.zeros_like(state.debuff_value),
        debuff_stacks=jnp.zeros_like(state.debuff_stacks),
        swing_remaining=jnp.float32(0.0),
    )
    return jax.tree.map(lambda new, old: jnp.where(moving, new, old), travelled, state)


def bloodlust(state: State, spec: Spec, fight: FightTables) -> State:
    """Bloodlust (the spec's `bloodlust_buff`) once per fight: at the fight's time, or when a
    pull marked for it is engaged."""
    name = spec.settings.get("bloodlust_buff")
    if name is None:
        return state
    f, rank = fight_tables(state, fight), batch_rank(state)
    num_pulls = fight.pull_health.shape[0]
    on_pull = jnp.any((iota(num_pulls, rank) == state.pull_index) & f.pull_bloodlust, axis=0)
    at_time = (f.bloodlust_time >= 0) & (state.time >= f.bloodlust_time - EPSILON)
    now = ~state.bloodlust_used & (on_pull | at_time) & ~state.terminated
    buff = iota(len(spec.buff_names), rank) == spec.buff_names.index(name)
    lusted = grant(state, spec, (buff & now).astype(jnp.float32), buff & now, jnp.zeros_like(state.charges, bool))
    return lusted.replace(bloodlust_used=state.bloodlust_used | now)


def action_duration(state: State, spec: Spec, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(cast time, time until the next decision) for `action`, in seconds."""
    t = spec_tables(state, spec)
    haste = haste_factor(state, spec)
    ability_index, _ = decode_action(spec, action)
    ability = ability_row(spec, ability_index)
    base_gcd = ability["gcd"]
    gcd = jnp.where(ability["gcd_hasted"] > 0.5,
                    jnp.maximum(base_gcd / haste, jnp.minimum(base_gcd, t.gcd_floor)), base_gcd)
    cast = ability["cast_time"] / haste
    busy = jnp.maximum(gcd, cast)
    recovering = (state.charges < t.max_charges) & (t.cooldown > 0) & t.enabled
    next_charge = jnp.min(jnp.where(recovering, state.recharge, WAIT_MAX), axis=0)
    wait = jnp.clip(next_charge, WAIT_MIN, WAIT_MAX)
    is_wait = ability_index >= spec.num_abilities
    return jnp.where(is_wait, 0.0, cast), jnp.where(is_wait, wait, busy)


def step_reward(f: FightTables, seconds: jax.Array, damage: jax.Array) -> jax.Array:
    """The reward for `seconds` of a fight in which the player dealt `damage`: damage in
    fixed-time fights; in fights that end when enemies die, time lost (and the player's damage
    where the fight weighs it). One formula for the simulator's steps and search's rollouts."""
    return jnp.where(f.objective == OBJECTIVE_CLEAR_TIME, -seconds * f.reward_scale + damage * f.own_damage_scale,
                     damage * f.reward_scale)


def step(state: State, action: jax.Array, spec: Spec, fight: FightTables, expected_value: bool,
         wait_for: jax.Array | None = None) -> State:
    """One decision: refuse an illegal action (a wait is done instead and flagged),
    use the ability, advance to the next decision point, move on to the next pull.
    `wait_for`: a wait lasts exactly this long instead of until the next charge (a belief
    replaying the player's own timeline waits until the next thing it saw, sim/particles.py)."""
    action = jnp.asarray(action, jnp.int32)
    legal = jnp.any(state.legal_action_mask & (iota(spec.num_actions, batch_rank(state)) == action), axis=0)
    action = materialize(jnp.where(legal, action, spec.wait_action), state)
    before = state
    state = bloodlust(state, spec, fight)
    cast, busy = action_duration(state, spec, action)
    if wait_for is not None:
        busy = jnp.where(action == spec.wait_action, jnp.maximum(wait_for, 0.0), busy)
    cast, busy = materialize((cast, busy), state)
    f = fight_tables(state, fight)
    time_left = jnp.maximum(f.time_limit - state.time, 0.0)
    cast = jnp.minimum(cast, time_left)
    counts = crits = jnp.zeros((num_trigger_columns(spec),) + state.time.shape)
    spells = jnp.zeros((len(spec.spell_names),) + state.time.shape)
    if spec.has_cast_times:
        state, counts, crits, spells = advance(state, spec, fight, cast, expected_value)
    state, cast_counts, cast_crits, target = use_ability(state, action, spec, fight, expected_value)
    context = phase_context(state, spec, fight)
    rest = jnp.minimum(busy - cast, jnp.maximum(f.time_limit - state.time, 0.0))
    state, swing_counts, swing_crits, tick_spells = advance(state, spec, fight, rest, expected_value)
    # What the action and the time after it set off (documented: procs act at the step's end).
    state = chain_procs(state, spec, counts + cast_counts + swing_counts, crits + cast_crits + swing_crits,
                        spells + tick_spells, target, context, expected_value)
    if spec.hooks.after_step is not None:
        state = spec.hooks.after_step(state, spec)
    state = record_pull_clear(state)
    if fight.pull_health.shape[0] > 1:  # static: single-pull fights never travel
        state = next_pull(state, spec, fight)
        state = bloodlust(state, spec, fight)

    num_pulls = fight.pull_health.shape[0]
    cleared = ~jnp.any(state.enemy_alive, axis=0) & (state.pull_index == num_pulls - 1)
    terminated = cleared | (state.time >= f.time_limit - EPSILON)
    reward = step_reward(f, state.time - before.time, state.damage_done - before.damage_done)
    state = state.replace(terminated=terminated, reward=reward, illegal_action=~legal,
                          step_count=state.step_count + 1)
    state = state.replace(legal_action_mask=legal_action_mask(materialize(state, state), spec, fight))
    # A finished fight does not change any more.
    frozen = before.replace(reward=jnp.float32(0.0), illegal_action=~legal)
    return jax.tree.map(lambda new, old: jnp.where(before.terminated, old, new), state, frozen)
