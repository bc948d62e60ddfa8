"""The environment API in the style of pgx: `env = make(...)`, `init`, `step`.

`init` and `step` are pure functions of arrays (jit, vmap and scan them).
`state.legal_action_mask`, `state.reward` and `state.terminated` are kept in
the state; the observation vector is computed on demand by
`env.observation(state)` so that plain rollouts do not pay for it.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from portunus.errors import InputError
from portunus.profile import CharacterProfile, load_profile
from sim import engine
from sim.fights import Fight, patchwerk
from sim.spec import Spec, load_spec
from sim.stats import loadout, profile_stats
from sim.types import FightTables, PlayerStats, State


@dataclasses.dataclass(frozen=True, eq=False)
class Env:
    """One spec, one character and one fight, ready to run."""

    spec: Spec
    fight: Fight
    fight_tables: FightTables
    stats: PlayerStats
    expected_value: bool = False
    notes: tuple[str, ...] = ()   # what the character's loadout could not model (items without data, ...)
    profile: CharacterProfile | None = None   # the character (APLs read its items: trinket.1.is.NAME)
    nominal_dps: float = 1.0      # the steady damage rate rewards are scaled by and search extrapolates with

    @property
    def num_actions(self) -> int:
        return self.spec.num_actions

    @property
    def wait_action(self) -> int:
        return self.spec.wait_action

    @property
    def observation_size(self) -> int:
        return int(self.observation(self.init(jax.random.key(0))).shape[0])

    def init(self, key: jax.Array, stats: PlayerStats | None = None) -> State:
        """A fresh fight at time 0 with the first pull engaged. `stats` overrides the
        env's character (for batches that mix characters)."""
        t, f = self.spec.tables, self.fight_tables
        num_slots, num_pulls = self.fight.num_slots, self.fight.num_pulls
        num_abilities, num_debuffs = self.spec.num_abilities, t.debuff_duration.shape[0]
        num_buffs, num_procs, num_spells = t.buff_duration.shape[0], t.proc_chance.shape[0], len(self.spec.spell_names)
        health = f.pull_health[0]
        state = State(
            time=jnp.float32(0.0),
            key=key,
            resources=t.resource_initial,
            charges=t.max_charges,
            recharge=jnp.zeros(num_abilities, jnp.float32),
            buff_remaining=jnp.zeros(num_buffs, jnp.float32),
            buff_stacks=jnp.zeros(num_buffs, jnp.int32),
            buff_tick=jnp.zeros(num_buffs, jnp.float32),
            debuff_remaining=jnp.zeros((num_slots, num_debuffs), jnp.float32),
            debuff_tick=jnp.zeros((num_slots, num_debuffs), jnp.float32),
            debuff_value=jnp.zeros((num_slots, num_debuffs), jnp.float32),
            debuff_stacks=jnp.zeros((num_slots, num_debuffs), jnp.int32),
            proc_accumulator=jnp.zeros(num_procs, jnp.float32),
            proc_count=jnp.zeros(num_procs, jnp.int32),
            spell_count=jnp.zeros(num_spells, jnp.int32),
            swing_count=jnp.int32(0),
            tick_count=jnp.zeros(num_debuffs, jnp.int32),
            bloodlust_used=jnp.bool_(False),
            swing_remaining=jnp.float32(0.0),
            enemy_health=health,
            enemy_max_health=health,
            enemy_alive=health > 0,
            enemy_in_range=jnp.ones(num_slots, bool),
            target=jnp.int32(0),
            pull_index=jnp.int32(0),
            pull_start_time=jnp.float32(0.0),
            pull_clear_time=-jnp.ones(num_pulls, jnp.float32),
            damage_done=jnp.float32(0.0),
            group_damage=jnp.float32(0.0),
            damage_by_source=jnp.zeros(t.source_multiplier.shape[0], jnp.float32),
            casts=jnp.zeros(num_abilities + 1, jnp.int32),
            last_action=jnp.int32(-1),
            step_count=jnp.int32(0),
            stats=self.stats if stats is None else stats,
            legal_action_mask=jnp.ones(num_abilities + 1, bool),
            reward=jnp.float32(0.0),
            terminated=jnp.bool_(False),
            illegal_action=jnp.bool_(False),
        )
        return state.replace(legal_action_mask=self.legal_action_mask(state))

    def step(self, state: State, action: jax.Array) -> State:
        """Take `action` (ability index, or `wait_action`). Illegal actions are not
        applied: a wait is done instead and `state.illegal_action` is set."""
        return engine.step(state, action, self.spec, self.fight_tables, self.expected_value)

    def legal_action_mask(self, state: State) -> jax.Array:
        return engine.legal_action_mask(state, self.spec, self.fight_tables)

    def reward(self, state: State) -> jax.Array:
        return state.reward

    def terminated(self, state: State) -> jax.Array:
        return state.terminated

    def observation_head(self, state: State) -> dict[str, jax.Array]:
        """The observation's first, named entries: the fight and the character as a whole."""
        f = self.fight_tables
        num_pulls = self.fight.num_pulls
        pull_total = jnp.maximum(jnp.sum(state.enemy_max_health), 1.0)
        next_pull = jnp.minimum(state.pull_index + 1, num_pulls - 1)
        has_next = state.pull_index < num_pulls - 1
        # What is coming, for holding cooldowns: the next pull's size against this one's, and
        # Bloodlust still to come (by time, or on a later pull). Search reads these in the model.
        next_size = jnp.where(has_next, jnp.sum(f.pull_health[next_pull]) / pull_total, 0.0)
        lust_pending = ~state.bloodlust_used & (f.bloodlust_time >= 0)
        lust_on_later_pull = ~state.bloodlust_used & jnp.any(
            f.pull_bloodlust & (jnp.arange(num_pulls) > state.pull_index))
        return {
            "time": state.time / f.time_limit,
            "time_left": 1.0 - state.time / f.time_limit,
            "enemies_alive": jnp.sum(state.enemy_alive) / state.enemy_alive.shape[0],
            "log_health": jnp.log1p(jnp.sum(state.enemy_health)) / 30.0,
            "pull_health": jnp.sum(state.enemy_health) / pull_total,
            "pull": state.pull_index / jnp.maximum(num_pulls - 1, 1),
            "next_travel": jnp.where(has_next, f.pull_travel[next_pull] / 60.0, 0.0),
            "next_pull_size": next_size / (1.0 + next_size),   # 0.5: as large as this pull
            "bloodlust_soon": jnp.where(lust_pending,
                                        jnp.exp(-jnp.maximum(f.bloodlust_time - state.time, 0.0) / 60.0), 0.0),
            "bloodlust_on_later_pull": lust_on_later_pull.astype(jnp.float32),
            "haste": engine.haste_factor(state, self.spec) - 1.0,
            "crit": engine.crit_chance(state, self.spec),
            "attack_power": state.stats.attack_power / 2000.0,
            "mastery": state.stats.mastery_points / 50.0,
            "versatility": state.stats.versatility,
            "swing": state.swing_remaining / jnp.maximum(state.stats.weapon_speed, 1e-3),
        }

    def observation(self, state: State) -> jax.Array:
        """A flat float32 vector for networks; every entry is scaled to about 0..1."""
        t, f = self.spec.tables, self.fight_tables
        cooldown = jnp.maximum(jnp.where(t.cooldown_hasted, t.cooldown / engine.haste_factor(state, self.spec),
                                         t.cooldown), 1e-3)
        health = engine.health_fraction(state, f)
        parts = [
            jnp.stack(list(self.observation_head(state).values())),
            state.resources / t.resource_max,
            state.charges / t.max_charges,
            jnp.clip(state.recharge / cooldown, 0.0, 1.0),
            state.buff_remaining / t.buff_duration,
            state.buff_stacks / t.buff_max_stacks,
            (state.debuff_stacks / t.debuff_max_stacks[None, :]).reshape(-1),
            state.enemy_alive.astype(jnp.float32),
            health * state.enemy_alive,
            (state.debuff_remaining / t.debuff_duration[None, :]).reshape(-1),
            (jnp.arange(state.enemy_alive.shape[0]) == engine.primary_target(state)[1]).astype(jnp.float32),
        ]
        return jnp.concatenate([jnp.ravel(p).astype(jnp.float32) for p in parts])


def make(spec: Spec | str | None = None, profile: CharacterProfile | None = None,
         fight: Fight | None = None, expected_value: bool = False, raid_buffs: bool = True,
         nominal_dps: float | None = None) -> Env:
    """Build an env. Defaults: the character's spec file (`profile.spec_key`), the default
    character (the shipped Ret Paladin), 300 s Patchwerk.

    A spec given by name is compiled for the character's talents, set bonuses and items; a
    compiled `Spec` is used as it is. `raid_buffs` adds SimC's default raid buffs to the
    character (Battle Shout, Mark of the Wild; the fight carries the enemy debuffs).
    `expected_value=True` removes randomness: crits deal their expected damage and
    procs fire once per whole expected proc (for planning and exact tests). `nominal_dps` (default:
    the spec file's) is the character's steady damage rate: the reward scale, and the rate search
    extrapolates a rollout's leaf with (a rate far from the character's biases leaf values by
    depth: measured in tests/test_search.py).
    """
    profile = load_profile() if profile is None else profile
    spec = profile.spec_key if spec is None else spec   # the character's own game and spec
    notes: list[str] = []
    if isinstance(spec, str):
        base = load_spec(spec)
        talents, items, notes = loadout(base.settings, profile)
        spec = load_spec(spec, talents, items)
    fight = patchwerk() if fight is None else fight
    nominal = float(spec.settings.get("nominal_dps", 1.0) if nominal_dps is None else nominal_dps)
    if not (nominal > 0 and nominal < 1e9):
        raise InputError(f"nominal_dps must be a positive number, got {nominal_dps!r}")
    return Env(spec=spec, fight=fight, fight_tables=fight.tables(nominal, spec.settings.get("enemy")), nominal_dps=nominal,
               stats=profile_stats(spec, profile, raid_buffs), expected_value=expected_value, notes=tuple(notes),
               profile=profile)
