"""The spec-agnostic combat rules: one semi-Markov step of a fight.

A step is one player action at a decision point, then time advances in closed
form to the next decision point (the GCD, a cast, or a wait). Everything in
between — periodic ticks, auto attacks, cooldown recharge, buff expiry,
enemy deaths, travel to the next pull — happens inside `advance` with
fixed-shape array arithmetic, never a Python loop over events.

Documented simplifications (see docs/simulator.md): ticks and swings that fall
inside one step share one crit roll; a proc that fires inside a step takes
effect at its end; hasted periods use the haste at the start of the step.

Batch axes go last. Every function takes one fight (per-fight shapes, as under
`jax.vmap`) or a batch whose state arrays carry trailing batch axes
(`charges` [A, N], `time` [N]); the spec and fight tables get matching
trailing singleton axes (`batched`), so the same code broadcasts either way
and reductions name their leading axis. A batch laid out this way keeps the
batch as the minor, contiguous axis, which XLA:CPU vectorizes: see
`sim.rollout.make_chunk_runner` and docs/simulator.md ("Speed on CPU").
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from sim.spec import Spec
from sim.types import (
    OBJECTIVE_CLEAR_TIME, TARGET_ALL, TARGET_PRIMARY, TARGET_UP_TO, WAIT_MAX, WAIT_MIN, FightTables, State,
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


MATERIALIZE_MIN_BATCH = 16  # below this, the extra fusions cost more than they save


def materialize(tree, state: State):
    """Values XLA should compute once and store, not recompute inside every fusion
    that reads them (it duplicates cheap elementwise chains into each consumer, and
    into every element of a broadcast). A reduction is a fusion root, so a sum over
    a two-long axis with zeros stores the value. Exact: x + 0 == x. Only for batches
    in the batch-last layout: one state (or `jax.vmap`) keeps XLA's own choice."""
    if batch_rank(state) == 0 or math.prod(state.time.shape) < MATERIALIZE_MIN_BATCH:
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


# ----------------------------------------------------------------- derived quantities
def buff_active(state: State) -> jax.Array:
    return state.buff_remaining > 0


def haste_factor(state: State, spec: Spec) -> jax.Array:
    """Speed multiplier (1.2 = 20 % haste): divides hasted GCDs, cooldowns, periods."""
    bonus = jnp.sum(jnp.where(buff_active(state), spec_tables(state, spec).buff_haste_bonus, 0.0), axis=0)
    return (1.0 + state.stats.haste) * (1.0 + bonus)


def crit_chance(state: State, spec: Spec) -> jax.Array:
    bonus = jnp.sum(jnp.where(buff_active(state), spec_tables(state, spec).buff_crit_bonus, 0.0), axis=0)
    return jnp.clip(state.stats.crit + bonus, 0.0, 1.0)


def eligible_targets(state: State) -> jax.Array:
    return state.enemy_alive & state.enemy_in_range


def primary_target(state: State) -> tuple[jax.Array, jax.Array]:
    """The primary target is the lowest-index alive, in-range enemy slot (tank order)."""
    eligible = eligible_targets(state)
    index = jnp.argmax(eligible, axis=0)
    return (iota(eligible.shape[0], batch_rank(state)) == index) & eligible, index


def health_fraction(state: State, fight: FightTables) -> jax.Array:
    """Per enemy, 0..1. In fixed-time fights it falls with time, as SimC estimates it."""
    fight = fight_tables(state, fight)
    by_health = state.enemy_health / jnp.maximum(state.enemy_max_health, 1.0)
    by_time = jnp.clip(1.0 - state.time / fight.time_limit, 0.0, 1.0)
    return jnp.where(fight.fixed_time, by_time, by_health)


def source_multiplier(state: State, spec: Spec, fight: FightTables, active: jax.Array) -> jax.Array:
    """Damage multiplier per source [S] from stats, mastery, armor and the given active
    buffs. Buff multipliers compound per stack (one exp per buff, then a masked product
    per source)."""
    t, fight = spec_tables(state, spec), fight_tables(state, fight)
    mastery = spec.hooks.mastery_multiplier(state.stats, t) if spec.hooks.mastery_multiplier else 1.0
    armor = jnp.where(t.source_physical, 1.0 - fight.armor_reduction, 1.0)
    stacks = jnp.where(active, jnp.maximum(state.buff_stacks, 1), 0).astype(jnp.float32)
    per_buff = jnp.exp(stacks * jnp.log(t.buff_damage_multiplier))  # multiplier ** stacks
    buffs = jnp.prod(jnp.where(t.buff_affects, per_buff[:, None], 1.0), axis=0)
    return t.source_multiplier * mastery * (1.0 + state.stats.versatility) * armor * buffs


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


def crit_factor(roll: jax.Array, chance: jax.Array, spec: Spec, expected_value: bool) -> jax.Array:
    """Crit damage factor: expected in expected-value mode, else 2x on a roll under the chance."""
    bonus = spec.tables.crit_damage_multiplier - 1.0
    if expected_value:
        return 1.0 + chance * bonus + 0.0 * roll
    return jnp.where(roll < chance, 1.0 + bonus, 1.0)


def proc_fires(state: State, count: jax.Array, chance: jax.Array, roll: jax.Array,
               expected_value: bool) -> tuple[jax.Array, jax.Array]:
    """Whether each proc [P] fires after `count` chances. Expected-value mode uses an
    accumulator that fires once per whole expected proc, so rates stay exact."""
    if expected_value:
        accumulator = state.proc_accumulator + count * chance
        fired = accumulator >= 1.0 - 1e-6
        return fired, accumulator - fired
    # 1 - (1 - chance) ** count, with exp/log (vectorized) rather than pow (a libm call).
    none = jnp.exp(count * jnp.log1p(-jnp.clip(chance, 0.0, 1.0)))
    return (count > 0) & (roll < 1.0 - none), state.proc_accumulator


# ----------------------------------------------------------------- legality
def legal_action_mask(state: State, spec: Spec, fight: FightTables) -> jax.Array:
    """bool[A + 1]: abilities that are ready, affordable, have a target and meet their
    condition; the wait action (last) is always legal. A finished fight allows only wait."""
    t = spec_tables(state, spec)
    active = buff_active(state)
    free = jnp.any(active[:, None] & t.buff_makes_free, axis=0)
    affordable = jnp.all(t.cost <= state.resources[None, :] + 1e-6, axis=1) | free
    ready = state.charges >= 1
    has_target = jnp.any(eligible_targets(state), axis=0)
    target_ok = (t.target_mode == 0) | has_target
    primary, _ = primary_target(state)
    below = jnp.sum(jnp.where(primary, health_fraction(state, fight), 0.0), axis=0) < t.usable_below_health
    with_buff = jnp.any(t.usable_with_buffs & active[None, :], axis=1)
    condition_ok = ~t.has_usable_condition | (has_target & below) | with_buff
    abilities = ready & affordable & target_ok & condition_ok & ~state.terminated
    mask = jnp.concatenate([abilities, jnp.ones((1,) + abilities.shape[1:], bool)])
    if spec.hooks.legal_mask is not None:
        mask = spec.hooks.legal_mask(state, t, mask).at[-1].set(True)
    return mask


# ----------------------------------------------------------------- damage bookkeeping
def deal_damage(state: State, spec: Spec, player: jax.Array, sources: jax.Array,
                group: jax.Array | None = None) -> State:
    """Apply the player's damage `player` [K, E] from the K damage sources that the
    one-hot rows `sources` [K, S] name, and the rest of the group's `group` [E].

    Overkill is removed per enemy in proportion to each source's share, so the
    player's damage plus the group's always equals the health removed. Only the
    sources that can deal damage in this phase are passed: a dense [S, E] matrix
    would be recomputed row by row in every XLA fusion that reads it.
    """
    t = spec_tables(state, spec)
    total = jnp.sum(player, axis=0)
    if group is not None:
        total = total + group
    kills = (total >= state.enemy_health) & (total > 0)
    scale = jnp.where(kills, state.enemy_health / jnp.maximum(total, 1e-30), 1.0)
    health = jnp.where(kills, 0.0, jnp.maximum(state.enemy_health - total, 0.0))
    effective = player * scale[None, :]
    by_source = materialize(jnp.sum(effective, axis=1), state)  # [K]
    # Debuffs that store a share of the player's non-physical damage (Execution Sentence).
    physical = jnp.any(sources & t.source_physical[None, :], axis=1)
    magic = jnp.sum(jnp.where(physical[:, None], 0.0, effective), axis=0)
    store = (state.debuff_remaining > 0) * t.debuff_accumulate_fraction[None, :]
    state = state.replace(
        enemy_health=health,
        enemy_alive=state.enemy_alive & (health > 0),
        damage_by_source=state.damage_by_source + jnp.sum(jnp.where(sources, by_source[:, None], 0.0), axis=0),
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
    )


# ----------------------------------------------------------------- the action
def grant(state: State, spec: Spec, buffs: jax.Array, resets: jax.Array) -> State:
    """Give buffs [B] (refresh, +1 stack) and reset cooldowns [A] (one charge back)."""
    t = spec_tables(state, spec)
    resets = resets | jnp.any(buffs[:, None] & t.buff_resets_on_gain, axis=0)
    charges = jnp.where(resets, jnp.minimum(state.charges + 1, t.max_charges), state.charges)
    return state.replace(
        buff_remaining=jnp.where(buffs, t.buff_duration, state.buff_remaining),
        buff_stacks=jnp.where(buffs, jnp.minimum(state.buff_stacks + 1, t.buff_max_stacks), state.buff_stacks),
        charges=charges,
        recharge=jnp.where(resets & (charges >= t.max_charges), 0.0, state.recharge),
    )


def ability_row(spec: Spec, action: jax.Array) -> dict[str, jax.Array]:
    """Everything about the ability `action` (zeros for the wait action), fetched with one
    one-hot masked sum over the packed rows: batched gathers (and tiny batched matrix
    products) are slow on CPU, an elementwise reduction fuses with its neighbours."""
    rank = jnp.ndim(action)
    hot = iota(spec.num_abilities, rank) == action
    packed = jnp.sum(jnp.where(hot[:, None], batched(spec.tables, rank).ability_rows, 0.0), axis=0)
    fields = {}
    for name, (start, stop) in spec.ability_layout.items():
        fields[name] = packed[start] if stop - start == 1 else packed[start:stop]
    return fields


def use_ability(state: State, action: jax.Array, spec: Spec, fight: FightTables,
                rolls: dict, expected_value: bool) -> State:
    """Apply the effects of `action` (an ability index; the wait index does nothing)."""
    t, rank = spec_tables(state, spec), batch_rank(state)
    num_abilities = spec.num_abilities
    hot = iota(num_abilities, rank) == action  # all False for the wait action
    ability = ability_row(spec, action)

    # Buffs: a free-cast buff is used one at a time (the first in file order).
    active = buff_active(state)
    makes_free = ability["makes_free"] > 0.5
    free_candidates = active & makes_free
    first_free = free_candidates & (jnp.cumsum(free_candidates, axis=0) == 1)
    is_free = jnp.any(first_free, axis=0)
    damage_buffs = active & ~(free_candidates & ~first_free)
    consumed = (active & (ability["buff_consumed_by"] > 0.5) & ~makes_free) | first_free

    # Targets.
    eligible = eligible_targets(state)
    primary, _ = primary_target(state)
    mode = jnp.round(ability["target_mode"])
    up_to = eligible & (jnp.cumsum(eligible, axis=0) <= ability["max_targets"])
    hit = jnp.where(mode == TARGET_PRIMARY, primary,
                    jnp.where(mode == TARGET_ALL, eligible,
                              jnp.where(mode == TARGET_UP_TO, up_to, False)))
    targets_hit = jnp.sum(hit, axis=0)
    soft_cap = ability["aoe_soft_cap"]
    aoe_scale = jnp.where((soft_cap > 0) & (targets_hit > soft_cap),
                          jnp.sqrt(soft_cap / jnp.maximum(targets_hit, 1)), 1.0)

    # Direct damage.
    chance = crit_chance(state, spec)
    power = jnp.where(ability["uses_spell_power"] > 0.5, state.stats.spell_power, state.stats.attack_power)
    stat_multiplier = source_multiplier(state, spec, fight, damage_buffs)[:num_abilities]
    multiplier = jnp.sum(jnp.where(hot, stat_multiplier, 0.0), axis=0)
    crits = crit_factor(rolls["cast_crit"], chance, spec, expected_value)
    direct = (hit * ability["coefficient"] * power * multiplier * aoe_scale
              * debuff_taken_multiplier(state, spec, ability["debuff_affects"]) * crits)
    source_hot = iota(t.source_multiplier.shape[0], rank) == action

    # Debuffs on the targets hit: consumed ones first, then new ones applied.
    debuff_on = state.debuff_remaining > 0
    consumed_debuffs = hit[:, None] & (ability["debuff_consumed_by"] > 0.5)[None, :] & debuff_on
    remaining = jnp.where(consumed_debuffs, 0.0, state.debuff_remaining)
    applied = hit[:, None] & (ability["applies_debuff"] > 0.5)[None, :]
    haste = haste_factor(state, spec)
    period = jnp.where(t.debuff_tick_hasted, t.debuff_tick_period / haste, t.debuff_tick_period)[None, :]
    was_on = remaining > 0
    kept_tick = jnp.where(was_on, state.debuff_tick, period)
    ticks_left = jnp.where(was_on, jnp.maximum(jnp.floor((remaining - kept_tick) / period) + 1.0, 0.0), 0.0)
    new_ticks = jnp.maximum(jnp.floor((t.debuff_duration[None, :] - kept_tick) / period) + 1.0, 1.0)
    debuff_power = jnp.where(t.debuff_uses_spell_power, state.stats.spell_power, state.stats.attack_power)
    base_tick = (t.debuff_tick_coefficient * debuff_power)[None, :]
    rolled_tick = (state.debuff_value * ticks_left + base_tick * new_ticks) / new_ticks
    fresh_value = jnp.where(t.debuff_periodic[None, :],
                            jnp.where(t.debuff_rolling[None, :] & was_on, rolled_tick, base_tick), 0.0)

    state = state.replace(
        debuff_remaining=jnp.where(applied, t.debuff_duration[None, :], remaining),
        debuff_tick=jnp.where(applied, kept_tick, state.debuff_tick),
        debuff_value=jnp.where(applied, fresh_value, state.debuff_value),
        buff_remaining=jnp.where(consumed, 0.0, state.buff_remaining),
        buff_stacks=jnp.where(consumed, 0, state.buff_stacks),
    )
    # Damage lands after the debuffs it consumed were read, and feeds accumulators.
    state = deal_damage(state, spec, direct[None, :], source_hot[None, :])

    # Resources and cooldown.
    cost = jnp.where(is_free, 0.0, ability["cost"])
    gain = ability["gain"] + ability["gain_per_target"] * targets_hit
    resources = jnp.clip(state.resources + gain - cost, 0.0, t.resource_max)
    on_cooldown = hot & (t.cooldown > 0)
    cooldown = jnp.where(t.cooldown_hasted, t.cooldown / haste, t.cooldown)
    starts_recharge = on_cooldown & (state.charges >= t.max_charges)
    state = state.replace(
        resources=resources,
        charges=state.charges - on_cooldown.astype(jnp.int32),
        recharge=jnp.where(starts_recharge, cooldown, state.recharge),
    )

    # Buffs the ability gives, then procs it triggers.
    state = grant(state, spec, ability["applies_buff"] > 0.5, jnp.zeros(hot.shape, bool))
    triggered = ability["proc_trigger"]
    primary_crit = jnp.where(expected_value, chance, jnp.sum(primary * (rolls["cast_crit"] < chance), axis=0))
    proc_chance = t.proc_chance + t.proc_bonus_on_crit * primary_crit
    fired, accumulator = proc_fires(state, triggered, proc_chance, rolls["cast_proc"], expected_value)
    state = state.replace(proc_accumulator=accumulator)
    state = grant(state, spec, jnp.any(fired[:, None] & t.proc_grants_buff, axis=0),
                  jnp.any(fired[:, None] & t.proc_resets, axis=0))
    return state.replace(
        casts=state.casts + (iota(num_abilities + 1, rank) == action).astype(jnp.int32),
        last_action=action.astype(jnp.int32),
    )


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


def advance(state: State, spec: Spec, fight: FightTables, dt: jax.Array, rolls: dict,
            expected_value: bool) -> State:
    """Let `dt` seconds pass: periodic damage, expiring debuffs, auto attacks,
    the group's damage, timers, deaths."""
    t, f, rank = spec_tables(state, spec), fight_tables(state, fight), batch_rank(state)
    A = spec.num_abilities
    haste = haste_factor(state, spec)
    chance = crit_chance(state, spec)
    multiplier = source_multiplier(state, spec, fight, buff_active(state))
    eligible = eligible_targets(state)
    primary, _ = primary_target(state)
    taken = debuff_taken_multiplier(state, spec, t.debuff_affects[:, A + 1:].astype(jnp.float32), columns=True)  # [E, D]
    dt, haste, chance, multiplier, eligible, primary, taken = materialize(
        (dt, haste, chance, multiplier, eligible, primary, taken), state)

    # Periodic ticks inside (0, min(dt, remaining)].
    on = (state.debuff_remaining > 0) & eligible[:, None]
    period = jnp.where(t.debuff_tick_hasted, t.debuff_tick_period / haste, t.debuff_tick_period)[None, :]
    window = jnp.minimum(dt, state.debuff_remaining)
    ticking = on & t.debuff_periodic[None, :] & (state.debuff_tick <= window + EPSILON)
    ticks = jnp.where(ticking, jnp.floor((window - state.debuff_tick + EPSILON) / period) + 1.0, 0.0)
    periodic = (ticks * state.debuff_value * multiplier[A + 1:][None, :] * taken
                * crit_factor(rolls["tick_crit"], chance, spec, expected_value))

    # Debuffs that expire now: a blast on every eligible enemy, plus the stored damage on its target.
    expiring = on & (state.debuff_remaining <= dt + EPSILON)
    debuff_power = jnp.where(t.debuff_uses_spell_power, state.stats.spell_power, state.stats.attack_power)
    blast_count = jnp.sum(expiring & (t.debuff_expire_coefficient > 0)[None, :], axis=0)  # [D]
    blast = (eligible[:, None] * blast_count[None, :] * (t.debuff_expire_coefficient * debuff_power)[None, :]
             * multiplier[A + 1:][None, :] * taken
             * crit_factor(rolls["blast_crit"], chance, spec, expected_value))
    stored = jnp.where(expiring & (t.debuff_accumulate_fraction > 0)[None, :], state.debuff_value, 0.0)
    debuff_damage = periodic + blast + stored  # [E, D]

    # Auto attacks on the primary target.
    has_target = jnp.any(eligible, axis=0)
    swing_time = state.stats.weapon_speed / haste
    swing_left = state.swing_remaining - dt
    swings = jnp.where(has_target & (swing_left <= EPSILON),
                       jnp.floor(jnp.maximum(-swing_left, 0.0) / swing_time) + 1.0, 0.0)
    swing_remaining = jnp.where(has_target, swing_left + swings * swing_time, jnp.maximum(swing_left, 0.0))
    auto_crit = rolls["auto_crit"] < chance
    per_swing = ((state.stats.weapon_dps + state.stats.attack_power / t.auto_attack_ap_per_dps)
                 * state.stats.weapon_speed * multiplier[A])
    auto_taken = debuff_taken_multiplier(state, spec, t.debuff_affects[:, A].astype(jnp.float32))
    autos = (primary * swings * per_swing * auto_taken
             * crit_factor(rolls["auto_crit"], chance, spec, expected_value))

    pull_hot = iota(fight.group_dps.shape[0], rank) == state.pull_index
    group = eligible * jnp.sum(jnp.where(pull_hot, f.group_dps, 0.0), axis=0) * dt
    player = jnp.concatenate([autos[None, :], jnp.swapaxes(debuff_damage, 0, 1)])  # sources A.. S-1
    num_sources = spec.tables.source_multiplier.shape[0]
    timed_sources = batched(jnp.asarray(np.eye(num_sources, dtype=bool)[A:]), rank)

    debuff_left = jnp.maximum(state.debuff_remaining - dt, 0.0)
    state = state.replace(
        debuff_tick=jnp.where(ticking | on, state.debuff_tick + ticks * period - dt, state.debuff_tick),
        swing_remaining=swing_remaining,
    )
    state = deal_damage(state, spec, player, timed_sources, group)
    state = state.replace(
        debuff_remaining=debuff_left,
        debuff_value=jnp.where(debuff_left > 0, state.debuff_value, 0.0),
        debuff_tick=jnp.where(debuff_left > 0, state.debuff_tick, 0.0),
    )

    # Procs from auto attacks (Art of War).
    auto_trigger = t.proc_trigger[:, A]
    crit_share = jnp.where(expected_value, chance, auto_crit.astype(jnp.float32))
    fired, accumulator = proc_fires(state, auto_trigger * swings, t.proc_chance + t.proc_bonus_on_crit * crit_share,
                                    rolls["auto_proc"], expected_value)
    state = state.replace(proc_accumulator=accumulator)
    state = grant(state, spec, jnp.any(fired[:, None] & t.proc_grants_buff, axis=0),
                  jnp.any(fired[:, None] & t.proc_resets, axis=0))
    state = tick_timers(state, spec, dt, haste, at_most_one_charge=spec.one_charge_per_step)
    return clear_dead_enemy_debuffs(state.replace(time=state.time + dt))


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
        debuff_remaining=jnp.zeros_like(state.debuff_remaining),
        debuff_tick=jnp.zeros_like(state.debuff_tick),
        debuff_value=jnp.zeros_like(state.debuff_value),
        swing_remaining=jnp.float32(0.0),
    )
    return jax.tree.map(lambda new, old: jnp.where(moving, new, old), travelled, state)


def action_duration(state: State, spec: Spec, action: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(cast time, time until the next decision) for `action`, in seconds."""
    t = spec_tables(state, spec)
    haste = haste_factor(state, spec)
    ability = ability_row(spec, action)
    base_gcd = ability["gcd"]
    gcd = jnp.where(ability["gcd_hasted"] > 0.5,
                    jnp.maximum(base_gcd / haste, jnp.minimum(base_gcd, t.gcd_floor)), base_gcd)
    cast = ability["cast_time"] / haste
    busy = jnp.maximum(gcd, cast)
    recovering = (state.charges < t.max_charges) & (t.cooldown > 0)
    next_charge = jnp.min(jnp.where(recovering, state.recharge, WAIT_MAX), axis=0)
    wait = jnp.clip(next_charge, WAIT_MIN, WAIT_MAX)
    is_wait = action >= spec.num_abilities
    return jnp.where(is_wait, 0.0, cast), jnp.where(is_wait, wait, busy)


def hash_uint32(x: jax.Array) -> jax.Array:
    """A fast integer mix (the 'lowbias32' hash) of uint32 values."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def draw_rolls(state: State, spec: Spec, expected_value: bool) -> dict:
    """Uniform numbers in [0, 1) for one step's crits and procs (zeros in expected-value mode).

    They come from a counter-based hash of the state's key and step counter: the
    same key gives the same fight, and it costs a few integer operations instead
    of a threefry split per step, which dominated the step's cost on CPU.
    """
    num_slots = state.enemy_health.shape[0]
    num_procs = spec.tables.proc_chance.shape[0]
    num_debuffs = spec.tables.debuff_duration.shape[0]
    sizes = {"cast_crit": (num_slots,), "cast_proc": (num_procs,), "tick_crit": (num_slots, num_debuffs),
             "blast_crit": (num_slots, num_debuffs), "auto_crit": (), "auto_proc": (num_procs,)}
    batch = state.time.shape
    if expected_value:
        return {name: jnp.zeros(shape + (1,) * len(batch)) for name, shape in sizes.items()}
    seed = jax.random.key_data(state.key).astype(jnp.uint32)
    stream = hash_uint32(seed[..., 0] ^ hash_uint32(seed[..., -1] + state.step_count.astype(jnp.uint32)
                                                    * jnp.uint32(0x9E3779B9)))
    total = sum(math.prod(shape) for shape in sizes.values())
    counter = iota(total, len(batch)).astype(jnp.uint32)
    bits = hash_uint32(stream ^ (counter * jnp.uint32(0x85EBCA6B) + jnp.uint32(1)))
    flat = (bits >> 8).astype(jnp.float32) * (1.0 / (1 << 24))
    rolls, offset = {}, 0
    for name, shape in sizes.items():
        rolls[name] = flat[offset:offset + math.prod(shape)].reshape(shape + batch)
        offset += math.prod(shape)
    return rolls


def step(state: State, action: jax.Array, spec: Spec, fight: FightTables, expected_value: bool) -> State:
    """One decision: refuse an illegal action (a wait is done instead and flagged),
    use the ability, advance to the next decision point, move on to the next pull."""
    action = jnp.asarray(action, jnp.int32)
    legal = jnp.any(state.legal_action_mask & (iota(spec.num_actions, batch_rank(state)) == action), axis=0)
    action = jnp.where(legal, action, spec.num_abilities)
    action, rolls = materialize((action, draw_rolls(state, spec, expected_value)), state)
    before = state
    cast, busy = materialize(action_duration(state, spec, action), state)
    f = fight_tables(state, fight)
    time_left = jnp.maximum(f.time_limit - state.time, 0.0)
    cast = jnp.minimum(cast, time_left)
    if spec.has_cast_times:
        state = advance(state, spec, fight, cast, rolls, expected_value)
    state = use_ability(state, action, spec, fight, rolls, expected_value)
    rest = jnp.minimum(busy - cast, jnp.maximum(f.time_limit - state.time, 0.0))
    state = advance(state, spec, fight, rest, rolls, expected_value)
    state = record_pull_clear(state)
    if fight.pull_health.shape[0] > 1:  # static: single-pull fights never travel
        state = next_pull(state, spec, fight)

    num_pulls = fight.pull_health.shape[0]
    cleared = ~jnp.any(state.enemy_alive, axis=0) & (state.pull_index == num_pulls - 1)
    terminated = cleared | (state.time >= f.time_limit - EPSILON)
    reward = jnp.where(f.objective == OBJECTIVE_CLEAR_TIME,
                       -(state.time - before.time),
                       state.damage_done - before.damage_done) * f.reward_scale
    state = state.replace(terminated=terminated, reward=reward, illegal_action=~legal,
                          step_count=state.step_count + 1)
    state = state.replace(legal_action_mask=legal_action_mask(materialize(state, state), spec, fight))
    # A finished fight does not change any more.
    frozen = before.replace(reward=jnp.float32(0.0), illegal_action=~legal)
    return jax.tree.map(lambda new, old: jnp.where(before.terminated, old, new), state, frozen)
