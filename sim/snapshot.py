"""Live game state into a simulator State: what the planner searches from.

The snapshot is the game as the addon saw it; the State is the simulator's view
at the next decision point, so every timer is first run down by the time until
the GCD or the current cast ends. Unknown fields (secret values, APIs a client
lacks) get the planner's neutral guesses, listed in docs/protocol.md.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from portunus.errors import InputError
from portunus.protocol import GameSnapshot
from sim import engine
from sim._xla import jit
from sim.env import Env
from sim.types import State


def _check_shapes(env: Env, snapshot: GameSnapshot) -> None:
    spec = env.spec
    if snapshot.spec_id and spec.wow_spec_id and snapshot.spec_id != spec.wow_spec_id:
        raise InputError(f"snapshot.spec_id: the game reports spec {snapshot.spec_id}, "
                         f"the planner runs {spec.name} ({spec.wow_spec_id})")
    expected = {"cooldowns": spec.num_abilities, "buffs": len(spec.buff_names),
                "resources": len(spec.resource_names)}
    for field, count in expected.items():
        got = len(getattr(snapshot, field))
        if got != count:
            raise InputError(f"snapshot.{field}: {got} entries, {spec.name} tracks {count}")
    for i, enemy in enumerate(snapshot.enemies):
        if len(enemy.debuffs) != len(spec.debuff_names):
            raise InputError(f"snapshot.enemies[{i}].debuffs: {len(enemy.debuffs)} entries, "
                             f"{spec.name} tracks {len(spec.debuff_names)}")


def _known(value, default):
    return default if value is None else value


def from_snapshot(env: Env, snapshot: GameSnapshot, key: jax.Array | None = None) -> State:
    """The State at the next decision point after `snapshot`, for `env`'s spec, character and enemy slots.

    Unknown values: resources -> the spec's starting amount, cooldowns -> ready,
    auras -> absent, enemy health -> full (the fight's slot health when the max is unknown),
    range -> in range. Enemies beyond the env's slots are dropped (the addon sends the target first).
    An ability the game reports not usable has no legal action.
    """
    return _assembler(env)(jax.random.key(0) if key is None else key, snapshot_fields(env, snapshot))


def from_snapshots(env: Env, fields: list[dict]) -> State:
    """A batch of States (leading axis) from `snapshot_fields` of each snapshot, in one compiled call."""
    stacked = {name: np.stack([f[name] for f in fields]) for name in fields[0]}
    keys = jax.random.split(jax.random.key(0), len(fields))
    return _batch_assembler(env)(keys, stacked)


@functools.lru_cache(maxsize=16)
def _host_tables(env: Env) -> dict:
    """The spec and fight tables `snapshot_fields` reads, as numpy, fetched once per env: reading
    device arrays per snapshot cost more than the rest of the conversion (the service parses
    every request on its event loop)."""
    tables = env.spec.tables
    slot_health = np.asarray(env.fight_tables.pull_health[0])
    return {"resource_max": np.asarray(tables.resource_max), "resource_initial": np.asarray(tables.resource_initial),
            "max_charges": np.asarray(tables.max_charges), "buff_max_stacks": np.asarray(tables.buff_max_stacks),
            "default_health": float(slot_health[slot_health > 0].mean()) if (slot_health > 0).any() else 1e6}


def snapshot_fields(env: Env, snapshot: GameSnapshot) -> dict:
    """The snapshot as the State's arrays (numpy), checked against the spec (InputError naming the field)."""
    _check_shapes(env, snapshot)
    spec, tables = env.spec, _host_tables(env)
    lead = max(_known(snapshot.gcd_remaining, 0.0), _known(snapshot.cast_remaining, 0.0))

    resources = np.array([_known(r.current, initial) for r, initial in
                          zip(snapshot.resources, tables["resource_initial"])], np.float32)
    resources = np.clip(resources, 0.0, tables["resource_max"])

    max_charges = tables["max_charges"]
    charges, recharge = max_charges.copy(), np.zeros(spec.num_abilities, np.float32)
    for i, cooldown in enumerate(snapshot.cooldowns):
        if cooldown.remaining is None and cooldown.charges is None:
            continue                                   # unknown: assume ready
        remaining = _known(cooldown.remaining, 0.0)
        ready = _known(cooldown.charges, max_charges[i] if remaining == 0 else max_charges[i] - 1)
        left = max(remaining - lead, 0.0)
        if remaining > 0 and left == 0 and ready < max_charges[i]:
            ready += 1                                 # a charge comes back before the decision
        charges[i] = min(ready, max_charges[i])
        recharge[i] = left if charges[i] < max_charges[i] else 0.0

    buff_remaining = np.array([max(_known(b.remaining, 0.0) - lead, 0.0) for b in snapshot.buffs], np.float32)
    buff_stacks = np.array([_known(b.stacks, 0) for b in snapshot.buffs], np.int32)
    buff_stacks = np.where(buff_remaining > 0, np.clip(buff_stacks, 1, tables["buff_max_stacks"]), 0)

    num_slots = env.fight.num_slots
    default_health = tables["default_health"]
    health = np.zeros(num_slots, np.float32)
    max_health = np.zeros(num_slots, np.float32)
    in_range = np.ones(num_slots, bool)
    debuffs = np.zeros((num_slots, len(spec.debuff_names)), np.float32)
    for slot, enemy in enumerate(snapshot.enemies[:num_slots]):
        maximum = _known(enemy.max_health, default_health) or default_health
        if enemy.health is not None:
            current = enemy.health
        elif enemy.health_pct is not None:
            current = enemy.health_pct / 100 * maximum
        else:
            current = maximum
        health[slot], max_health[slot] = current, maximum
        in_range[slot] = _known(enemy.in_range, True)
        debuffs[slot] = [max(_known(d.remaining, 0.0) - lead, 0.0) for d in enemy.debuffs]

    alive = health > 0
    fields = {
        "time": np.float32(_known(snapshot.combat_time, 0.0) + lead),
        "resources": resources, "charges": charges.astype(np.int32), "recharge": recharge,
        "buff_remaining": buff_remaining, "buff_stacks": buff_stacks.astype(np.int32),
        "debuff_remaining": np.where(alive[:, None], debuffs, 0.0).astype(np.float32),
        "enemy_health": health, "enemy_max_health": np.maximum(max_health, health).astype(np.float32),
        "enemy_alive": alive, "enemy_in_range": in_range,
        # C_Spell.IsSpellUsable said no (resources, a proc, a window the view cannot see):
        # the game would refuse the press, so no action of that ability is legal.
        "unusable": np.array([c.usable is False for c in snapshot.cooldowns], bool),
    }
    return fields


@functools.lru_cache(maxsize=16)
def _batch_assembler(env: Env):
    return jit(jax.vmap(_assemble_fn(env)))


@functools.lru_cache(maxsize=16)
def _assembler(env: Env):
    return jit(_assemble_fn(env))


def _assemble_fn(env: Env):
    """One compiled call from the snapshot's arrays to a State (eager JAX would cost ~15 ms)."""

    action_ability = jnp.asarray(env.spec.action_ability)

    def assemble(key, fields):
        spec, tables = env.spec, env.spec.tables
        fields = dict(fields)
        unusable = jnp.concatenate([fields.pop("unusable"), jnp.zeros(1, bool)])   # wait: never
        state = env.init(key).replace(**fields, pull_start_time=jnp.float32(0.0))
        # Periodic debuffs tick for their base value from the next full period; damage an
        # expiring debuff stored before the snapshot is not visible to the addon and starts at 0.
        haste = engine.haste_factor(state, spec)
        period = jnp.where(tables.debuff_tick_hasted, tables.debuff_tick_period / haste, tables.debuff_tick_period)
        power = jnp.where(tables.debuff_uses_spell_power, state.stats.spell_power, state.stats.attack_power)
        remaining = state.debuff_remaining
        periodic = tables.debuff_periodic[None, :] & (remaining > 0)
        state = state.replace(
            debuff_tick=jnp.where(periodic, jnp.minimum(period[None, :], remaining), 0.0),
            debuff_value=jnp.where(periodic, (tables.debuff_tick_coefficient * power)[None, :], 0.0))
        return state.replace(legal_action_mask=env.legal_action_mask(state) & ~unusable[action_ability])

    return assemble


def to_snapshot(env: Env, state: State, frame: int = 0) -> GameSnapshot:
    """What the addon would send for a simulated fight at `state` (a decision point):
    the demo draws it as a barcode so the whole path but the game itself runs."""
    from portunus.protocol import AuraState, CooldownState, EnemyState, KeystoneState, ResourceState

    s = jax.device_get(state)
    spec, tables = env.spec, env.spec.tables
    max_charges = np.asarray(tables.max_charges)
    enemies = []
    for slot in np.flatnonzero(np.asarray(s.enemy_alive)):
        health, maximum = float(s.enemy_health[slot]), float(s.enemy_max_health[slot])
        enemies.append(EnemyState(
            health=int(round(health)), max_health=int(round(maximum)),
            health_pct=100.0 * health / maximum if maximum > 0 else None,
            in_range=bool(s.enemy_in_range[slot]),
            debuffs=tuple(AuraState(float(r), int(r > 0)) for r in np.asarray(s.debuff_remaining[slot]))))
    keystone = KeystoneState()
    if int(env.fight_tables.objective) == 1:   # a timed route
        keystone = KeystoneState(elapsed=float(s.time), time_limit=float(env.fight_tables.time_limit))
    return GameSnapshot(
        spec_id=spec.wow_spec_id, frame=frame % 65536, game_time=float(s.time), combat_time=float(s.time),
        in_combat=True, gcd_remaining=0.0, cast_spell_id=0, cast_remaining=0.0,
        resources=tuple(ResourceState(int(round(float(c))), int(m))
                        for c, m in zip(np.asarray(s.resources), np.asarray(tables.resource_max))),
        cooldowns=tuple(CooldownState(float(r) if c < m else 0.0, int(c))
                        for r, c, m in zip(np.asarray(s.recharge), np.asarray(s.charges), max_charges)),
        buffs=tuple(AuraState(float(r), int(k)) for r, k in zip(np.asarray(s.buff_remaining),
                                                                np.asarray(s.buff_stacks))),
        enemies=tuple(enemies[:16]), keystone=keystone)


def live_env(spec=None, profile=None, slots: int = 8) -> Env:
    """The env live play plans in: the player's character against up to `slots` enemies
    whose health comes from the snapshot (a by-health fight, not a timed one), in
    expected-value mode. `spec` None: the character's own spec file."""
    from sim.env import make
    from sim.fights import aoe

    return make(spec, profile, fight=aoe(targets=slots), expected_value=True)


def sample_snapshots(count: int, seed: int = 0) -> list[GameSnapshot]:
    """Snapshots of successive decisions of the default APL on Patchwerk, on the wire's
    grid (as a decoder would return them): inputs for benchmarks and load tests."""
    from portunus.protocol import decode_frame, encode_frame
    from sim.apl import load_apl
    from sim.env import make

    env = make(expected_value=True)
    apl = load_apl(env)
    step = jit(lambda state: env.step(state, apl(state)))
    state, snapshots = env.init(jax.random.key(seed)), []
    for frame in range(count):
        snapshots.append(decode_frame(encode_frame(to_snapshot(env, state, frame))))
        state = step(state)
    return snapshots
