"""The shared vocabulary of the simulator: state, spec tables, fight tables.

Everything here is a pytree of fixed-shape arrays so that the engine can run
under `jax.jit`, `jax.vmap` and `jax.lax.scan`. Counts used in shapes:
A abilities, B buffs, D debuffs, P procs, R resources, E enemy slots,
NP pulls, S damage sources (A abilities + auto attack + D debuffs).
Times are seconds, fractions are 0..1, damage is game damage points.
"""

from __future__ import annotations

import jax
from flax import struct

# Target modes of an ability (`SpecTables.target_mode`).
TARGET_NONE = 0     # self buffs: no enemy needed
TARGET_PRIMARY = 1  # the primary target: the lowest-index alive, in-range enemy slot
TARGET_ALL = 2      # every alive, in-range enemy (with `aoe_soft_cap` reduction)
TARGET_UP_TO = 3    # the first `max_targets` alive, in-range enemies by slot index

# A wait lasts until the next charge is back, within these bounds (seconds).
WAIT_MIN, WAIT_MAX = 0.1, 1.5

# Fight objectives (`FightTables.objective`).
OBJECTIVE_DAMAGE = 0      # reward = player damage, scaled
OBJECTIVE_CLEAR_TIME = 1  # reward = -elapsed time / timer (speedrun a route)


@struct.dataclass
class PlayerStats:
    """Character stats after profile parsing, as fractions and points.

    Kept in the state (not baked into the env) so one batch can mix
    characters, which training and fine-tuning need.
    """

    attack_power: jax.Array      # f32[]
    spell_power: jax.Array       # f32[]
    crit: jax.Array              # f32[] chance, 0..1, includes base crit
    haste: jax.Array             # f32[] fraction, 0.2 = 20 % haste
    mastery_points: jax.Array    # f32[] includes base points
    versatility: jax.Array       # f32[] damage-done fraction
    weapon_dps: jax.Array        # f32[] main-hand weapon damage per second
    weapon_speed: jax.Array      # f32[] unhasted swing time, seconds


@struct.dataclass
class SpecTables:
    """A spec compiled from its data file into arrays (see sim/spec.py)."""

    # Ability [A]
    gcd: jax.Array
    gcd_hasted: jax.Array
    cast_time: jax.Array
    cooldown: jax.Array
    cooldown_hasted: jax.Array
    max_charges: jax.Array           # i32; 1 for abilities without a cooldown
    cost: jax.Array                  # [A, R]
    gain: jax.Array                  # [A, R]
    gain_per_target: jax.Array       # [A, R]
    coefficient: jax.Array
    uses_spell_power: jax.Array      # bool
    target_mode: jax.Array           # i32, TARGET_*
    max_targets: jax.Array           # i32
    aoe_soft_cap: jax.Array          # i32; 0 = no reduction
    usable_below_health: jax.Array   # f32; 0 = no health condition
    usable_with_buffs: jax.Array     # bool [A, B]
    has_usable_condition: jax.Array  # bool
    applies_buff: jax.Array          # bool [A, B]
    applies_debuff: jax.Array        # bool [A, D]
    major_cooldown: jax.Array        # bool
    # Damage source [S] = abilities, auto attack, debuffs
    source_multiplier: jax.Array
    source_physical: jax.Array       # bool: armor applies; excluded from "holy" accumulation
    source_mastery: jax.Array        # bool: the spec's mastery applies
    # Buff [B]
    buff_duration: jax.Array
    buff_max_stacks: jax.Array       # i32
    buff_damage_multiplier: jax.Array
    buff_affects: jax.Array          # bool [B, S]
    buff_crit_bonus: jax.Array
    buff_haste_bonus: jax.Array
    buff_makes_free: jax.Array       # bool [B, A]
    buff_consumed_by: jax.Array      # bool [B, A]
    buff_resets_on_gain: jax.Array   # bool [B, A]
    # Debuff [D]
    debuff_duration: jax.Array
    debuff_taken_multiplier: jax.Array
    debuff_affects: jax.Array        # bool [D, S]
    debuff_consumed_by: jax.Array    # bool [D, A]
    debuff_periodic: jax.Array       # bool
    debuff_tick_period: jax.Array
    debuff_tick_hasted: jax.Array    # bool
    debuff_tick_coefficient: jax.Array
    debuff_rolling: jax.Array        # bool
    debuff_expire_coefficient: jax.Array
    debuff_accumulate_fraction: jax.Array
    debuff_uses_spell_power: jax.Array  # bool
    # Proc [P]
    proc_trigger: jax.Array          # bool [P, A + 1]; last column = auto attack
    proc_chance: jax.Array
    proc_bonus_on_crit: jax.Array
    proc_grants_buff: jax.Array      # bool [P, B]
    proc_resets: jax.Array           # bool [P, A]
    # Resource [R]
    resource_max: jax.Array
    resource_initial: jax.Array
    resource_regen: jax.Array        # per second
    ability_rows: jax.Array          # f32 [A, K]: the ability fields above packed per ability
    # Scalars
    auto_attack_multiplier: jax.Array
    auto_attack_ap_per_dps: jax.Array
    crit_damage_multiplier: jax.Array
    gcd_floor: jax.Array
    mastery_per_point: jax.Array


@struct.dataclass
class FightTables:
    """A fight compiled into arrays (see sim/fights.py)."""

    pull_health: jax.Array        # f32 [NP, E]; 0 = empty slot
    pull_travel: jax.Array        # f32 [NP]; travel time before each pull (0 for the first)
    pull_is_boss: jax.Array       # bool [NP]
    group_dps: jax.Array          # f32[]; damage per second the rest of the group deals to each enemy
    time_limit: jax.Array         # f32[]; fight length (fixed time) or dungeon timer
    fixed_time: jax.Array         # bool[]; health percent follows time (SimC Patchwerk)
    armor_reduction: jax.Array    # f32[]; physical damage reduction of the enemies
    objective: jax.Array          # i32[]; OBJECTIVE_*
    reward_scale: jax.Array       # f32[]; multiplies damage (or time) into reward


@struct.dataclass
class State:
    """One fight in progress. Shapes are fixed by the spec and the fight."""

    time: jax.Array               # f32[] seconds since the pull
    key: jax.Array                # PRNG key for crits and procs
    resources: jax.Array          # f32 [R]
    charges: jax.Array            # i32 [A] ready charges
    recharge: jax.Array           # f32 [A] seconds until the next charge (0 when full)
    buff_remaining: jax.Array     # f32 [B]
    buff_stacks: jax.Array        # i32 [B]
    debuff_remaining: jax.Array   # f32 [E, D]
    debuff_tick: jax.Array        # f32 [E, D] seconds to the next periodic tick
    debuff_value: jax.Array       # f32 [E, D] damage per tick before buffs, or accumulated damage
    proc_accumulator: jax.Array   # f32 [P] expected-value mode proc progress
    swing_remaining: jax.Array    # f32[] seconds to the next auto attack
    enemy_health: jax.Array       # f32 [E]
    enemy_max_health: jax.Array   # f32 [E]
    enemy_alive: jax.Array        # bool [E]
    enemy_in_range: jax.Array     # bool [E]
    pull_index: jax.Array         # i32[]
    pull_start_time: jax.Array    # f32[] when the current pull was engaged
    pull_clear_time: jax.Array    # f32 [NP]; -1 until cleared
    damage_done: jax.Array        # f32[] the player's damage, overkill excluded
    group_damage: jax.Array       # f32[] the rest of the group's damage
    damage_by_source: jax.Array   # f32 [S]
    casts: jax.Array              # i32 [A + 1]; last = waits
    last_action: jax.Array        # i32[]; -1 before the first action
    step_count: jax.Array         # i32[]
    stats: PlayerStats
    legal_action_mask: jax.Array  # bool [A + 1]
    reward: jax.Array             # f32[]
    terminated: jax.Array         # bool[]
    illegal_action: jax.Array     # bool[]; the last action was illegal and a wait was done instead
