"""The shared vocabulary of the simulator: state, spec tables, fight tables.

Everything here is a pytree of fixed-shape arrays so that the engine can run
under `jax.jit`, `jax.vmap` and `jax.lax.scan`. Counts used in shapes:
A abilities, T spells, B buffs, D debuffs, P procs, R resources, E enemy slots,
NP pulls, S damage sources (A abilities + auto attack + D debuffs + T spells).
Times are seconds, fractions are 0..1, damage is game damage points.
"""

from __future__ import annotations

import jax
from flax import struct

# Target modes of an ability (`SpecTables.target_mode`).
TARGET_NONE = 0     # self buffs: no enemy needed
TARGET_PRIMARY = 1  # one chosen enemy: the action's slot (see Spec.action_layout)
TARGET_ALL = 2      # every alive, in-range enemy (with `aoe_soft_cap` reduction)
TARGET_UP_TO = 3    # the current target, then the next alive enemies by slot index, `max_targets` in all

# Target modes of a spell (`SpecTables.spell_target_mode`): damage no button casts directly.
SPELL_TARGET = 0    # the target of what triggered it
SPELL_OTHERS = 1    # every other enemy (up to `max_targets`), not the target
SPELL_ALL = 2       # every enemy
SPELL_RANDOM = 3    # one random enemy: spread evenly over the living (its expected damage per enemy)
SPELL_UP_TO = 4     # the target, then other enemies, `max_targets` in all

# A wait lasts until the next charge is back, within these bounds (seconds).
WAIT_MIN, WAIT_MAX = 0.1, 1.5

# Fight objectives (`FightTables.objective`).
OBJECTIVE_DAMAGE = 0      # reward = player damage, scaled
OBJECTIVE_CLEAR_TIME = 1  # reward = -elapsed time / timer (speedrun a route), + the player's damage if weighted


@struct.dataclass
class PlayerStats:
    """Character stats after profile parsing, as fractions and points.

    Kept in the state (not baked into the env) so one batch can mix
    characters, which training and fine-tuning need.
    """

    attack_power: jax.Array      # f32[] with the weapon (dps x 6) and raid buffs, as abilities use it
    spell_power: jax.Array       # f32[] the spec's share of attack power
    crit: jax.Array              # f32[] chance, 0..1, includes base crit
    haste: jax.Array             # f32[] fraction, 0.2 = 20 % haste
    mastery_points: jax.Array    # f32[] includes base points
    versatility: jax.Array       # f32[] damage-done fraction
    weapon_dps: jax.Array        # f32[] main-hand weapon damage per second
    weapon_speed: jax.Array      # f32[] unhasted swing time, seconds
    strikes_per_swing: jax.Array  # f32[] 1, or more when swings may strike again (Skyfury: 1.2)
    primary_to_attack_power: jax.Array  # f32[] attack power per point of primary stat from buffs (potion, trinket)
    crit_damage_scale: jax.Array  # f32[] every critical hit's damage multiplier times this (Eyes of the Eagle)


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
    weapon_coefficient: jax.Array    # x a normalized weapon hit (older kits: Crusader Strike in MoP)
    base_damage: jax.Array           # flat damage per hit (older kits' "x class scaling" parts)
    uses_spell_power: jax.Array      # bool
    target_mode: jax.Array           # i32, TARGET_*
    max_targets: jax.Array           # i32
    aoe_soft_cap: jax.Array          # i32; 0 = no reduction
    secondary_multiplier: jax.Array  # damage on targets other than the chosen one
    usable_below_health: jax.Array   # f32; 0 = no health condition
    usable_with_buffs: jax.Array     # bool [A, B]
    has_usable_condition: jax.Array  # bool
    unusable_with_buffs: jax.Array   # bool [A, B]
    applies_buff: jax.Array          # bool [A, B]
    applies_debuff: jax.Array        # bool [A, D]
    debuff_effectiveness: jax.Array  # how much of a full application of its debuffs a cast gives
    major_cooldown: jax.Array        # bool
    enabled: jax.Array               # bool: the character has the talent
    # Damage source [S] = abilities, auto attack, debuffs, spells
    source_multiplier: jax.Array
    source_physical: jax.Array       # bool: armor applies; excluded from "holy" accumulation
    source_mastery: jax.Array        # bool: the spec's mastery applies
    source_mastery_scale: jax.Array  # how many times the mastery bonus counts
    source_crit_bonus: jax.Array     # added crit chance
    source_crit_damage_bonus: jax.Array  # added to the crit damage multiplier
    # Spell [T]
    spell_coefficient: jax.Array
    spell_weapon_coefficient: jax.Array
    spell_base_damage: jax.Array
    spell_uses_spell_power: jax.Array
    spell_target_mode: jax.Array     # i32, SPELL_*
    spell_max_targets: jax.Array     # i32
    spell_aoe_soft_cap: jax.Array    # i32
    spell_target_multiplier: jax.Array  # extra factor on the target itself
    spell_crit_splash: jax.Array     # on a crit, this share of the hit again on every other enemy
    spell_applies_debuff: jax.Array  # bool [T, D]
    # Buff [B]
    buff_duration: jax.Array
    buff_max_stacks: jax.Array       # i32
    buff_initial_stacks: jax.Array   # i32: stacks a fresh application gives
    buff_source_multiplier: jax.Array  # [B, S]
    buff_damage_per_stack: jax.Array   # bool: the multiplier counts once per stack (compounding)
    buff_crit_bonus: jax.Array
    buff_haste_bonus: jax.Array
    buff_haste_per_stack: jax.Array
    buff_stats: jax.Array            # [B, 5] primary stat, crit, haste, mastery points, versatility (per stack)
    buff_makes_free: jax.Array       # bool [B, A]
    buff_consumed_by: jax.Array      # bool [B, A]
    buff_resets_on_gain: jax.Array   # bool [B, A]
    buff_tick_period: jax.Array      # 0 = not periodic
    buff_tick_hasted: jax.Array
    buff_tick_on_apply: jax.Array
    buff_tick_deals: jax.Array       # [B, T] spells per tick
    buff_enabled: jax.Array
    # Debuff [D]
    debuff_duration: jax.Array
    debuff_taken_multiplier: jax.Array
    debuff_affects: jax.Array        # bool [D, S]
    debuff_consumed_by: jax.Array    # bool [D, S]: each hit removes one stack
    debuff_max_stacks: jax.Array     # i32
    debuff_stacks_per_application: jax.Array  # i32
    debuff_periodic: jax.Array       # bool
    debuff_tick_period: jax.Array
    debuff_tick_hasted: jax.Array    # bool
    debuff_tick_coefficient: jax.Array
    debuff_tick_base: jax.Array      # flat damage per tick
    debuff_damage_per_stack: jax.Array  # bool: a tick deals its value once per stack (Censure)
    debuff_rolling: jax.Array        # bool
    debuff_expire_coefficient: jax.Array
    debuff_accumulate_fraction: jax.Array
    debuff_uses_spell_power: jax.Array  # bool
    debuff_tick_deals: jax.Array     # [D, T] spells each tick sets off (on the enemy it burns)
    debuff_tick_requires: jax.Array  # bool [D, B]: ... only while one of these buffs is up (none listed: always)
    # Proc [P]; trigger columns C = abilities, auto attack, resource spent, spells
    proc_trigger: jax.Array          # f32 [P, C]
    proc_on_crit: jax.Array          # bool: only the trigger's crits count
    proc_chance: jax.Array
    proc_bonus_on_crit: jax.Array
    proc_chance_per_mastery: jax.Array
    proc_requires: jax.Array         # bool [P, B]: one of these buffs must be up
    proc_has_requirement: jax.Array  # bool
    proc_unless: jax.Array           # bool [P, B]: none of these may be up
    proc_grants_buff: jax.Array      # bool [P, B]
    proc_stacks: jax.Array           # i32
    proc_refresh: jax.Array          # bool: a grant refreshes the duration
    proc_consumes_buff: jax.Array    # bool [P, B]
    proc_consumes_stacks: jax.Array  # bool: consume one stack instead of the buff
    proc_resets: jax.Array           # bool [P, A]
    proc_reduces: jax.Array          # [P, A] seconds off the cooldown
    proc_reduces_hasted: jax.Array   # bool [P]: those seconds are divided by haste (a hasted cooldown's share)
    proc_gain: jax.Array             # [P, R]
    proc_deals: jax.Array            # [P, T] spells dealt per firing
    proc_applies_debuff: jax.Array   # bool [P, D] on the trigger's target
    proc_extends: jax.Array          # [P, B] seconds added to a buff that is up
    proc_enabled: jax.Array
    # Resource [R]
    resource_max: jax.Array
    resource_initial: jax.Array
    resource_regen: jax.Array        # per second
    ability_rows: jax.Array          # f32 [A, K]: the ability fields above packed per ability
    # Scalars
    auto_attack_multiplier: jax.Array
    auto_attack_spell: jax.Array     # [T] one-hot: swings deal this spell instead of weapon damage (or zeros)
    auto_attack_speed: jax.Array     # swing time multiplier
    auto_attack_gain: jax.Array      # [R] resources per `gain_every` swings
    auto_attack_gain_every: jax.Array
    crit_damage_multiplier: jax.Array
    gcd_floor: jax.Array
    mastery_per_point: jax.Array
    primary_to_attack_power: jax.Array
    spell_power_per_attack_power: jax.Array
    attack_power_per_weapon_dps: jax.Array   # a swing is (AP / this + weapon dps outside AP) x speed
    weapon_dps_outside_attack_power: jax.Array  # 0 when attack power holds the weapon (Midnight), 1 when not (MoP)
    normalized_weapon_speed: jax.Array       # the swing time abilities' weapon hits use (3.3 s: two-hander)
    rating_per_percent: jax.Array    # [4] crit, haste, mastery, versatility


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
    physical_taken: jax.Array     # f32[]; physical damage taken multiplier (raid debuffs)
    magic_taken: jax.Array        # f32[]; non-physical damage taken multiplier (raid debuffs)
    bloodlust_time: jax.Array     # f32[]; when Bloodlust is cast (< 0: never)
    pull_bloodlust: jax.Array     # bool [NP]; Bloodlust when this pull is engaged
    objective: jax.Array          # i32[]; OBJECTIVE_*
    reward_scale: jax.Array       # f32[]; multiplies damage (or time) into reward
    own_damage_scale: jax.Array   # f32[]; clear-time fights: multiplies the player's damage into reward (0: none)


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
    buff_tick: jax.Array          # f32 [B] seconds to a periodic buff's next tick
    debuff_stacks: jax.Array      # i32 [E, D]
    proc_accumulator: jax.Array   # f32 [P] expected-value mode proc progress
    proc_count: jax.Array         # i32 [P] chances each proc has had (keys its random numbers)
    spell_count: jax.Array        # i32 [T] hits each spell has dealt (keys its crits)
    swing_count: jax.Array        # i32[] auto attacks so far
    tick_count: jax.Array         # i32 [D] periodic ticks and expiries of each debuff so far
    bloodlust_used: jax.Array     # bool[]
    swing_remaining: jax.Array    # f32[] seconds to the next auto attack
    enemy_health: jax.Array       # f32 [E]
    enemy_max_health: jax.Array   # f32 [E]
    enemy_alive: jax.Array        # bool [E]
    enemy_in_range: jax.Array     # bool [E]
    target: jax.Array             # i32[]; the player's current target slot (the last targeted action's)
    pull_index: jax.Array         # i32[]
    pull_start_time: jax.Array    # f32[] when the current pull was engaged
    pull_clear_time: jax.Array    # f32 [NP]; -1 until cleared
    damage_done: jax.Array        # f32[] the player's damage, overkill excluded
    group_damage: jax.Array       # f32[] the rest of the group's damage
    damage_by_source: jax.Array   # f32 [S]
    casts: jax.Array              # i32 [A + 1]; last = waits
    last_action: jax.Array        # i32[]; the last action taken (an action index), -1 before the first
    step_count: jax.Array         # i32[]
    stats: PlayerStats
    legal_action_mask: jax.Array  # bool [A + 1]
    reward: jax.Array             # f32[]
    terminated: jax.Array         # bool[]
    illegal_action: jax.Array     # bool[]; the last action was illegal and a wait was done instead
