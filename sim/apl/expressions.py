"""What APL names mean: each resolves, at compile time, to a function of an `AplContext`.

Names follow SimC's spelling where the meaning is the same. Everything is a
float32 scalar per state; true is 1 and false is 0. See docs/apl.md for the
full list. Like the engine, expressions also take a batch whose axis is last
(per-state scalars are then [N]): tables get trailing axes, reductions name
their leading axis.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from portunus.errors import closest
from sim import engine
from sim.apl.kit import Kit
from sim.apl.syntax import AplError, Name, Number, Unary
from sim.env import Env
from sim.types import TARGET_ALL, TARGET_NONE, TARGET_UP_TO, State

NEVER = 3600.0  # seconds: "not within this fight"
TTD_PRIOR_SECONDS = 5.0  # weight of the prior damage rate in time-to-die estimates


@dataclasses.dataclass
class AplContext:
    """Per-state values the expressions read, computed once per decision."""

    state: State
    env: Env
    primary: jax.Array          # bool [E]
    health_fraction: jax.Array  # [E]
    time_to_die: jax.Array      # [E] seconds
    charge_ready_in: jax.Array  # [A] seconds until one charge is ready (0 when ready)
    cooldown_duration: jax.Array  # [A] current (hasted) cooldown
    haste: jax.Array
    target_slot: jax.Array      # i32: the current target's slot
    variables: dict = dataclasses.field(default_factory=dict)  # APL variables, set while the list runs

    def aimed_at(self, slot) -> "AplContext":
        """The same decision with enemy `slot` (an int or a traced i32) as the target: target.*,
        debuff.* and dot.* read that enemy (`target_if=`). Variables stay shared."""
        slots = engine.iota(self.primary.shape[0], engine.batch_rank(self.state))
        return dataclasses.replace(self, primary=slots == slot, target_slot=jnp.asarray(slot, jnp.int32))


def make_context(env: Env, state: State) -> AplContext:
    t, f = engine.spec_tables(state, env.spec), engine.fight_tables(state, env.fight_tables)
    primary, target_slot = engine.primary_target(state)
    fraction = engine.health_fraction(state, env.fight_tables)
    # Damage rate per enemy since the pull, shrunk towards a prior (the group's damage plus
    # the spec's nominal DPS shared among the living) so the first seconds are not "never".
    engaged = jnp.maximum(state.time - state.pull_start_time, 0.0)
    alive = jnp.maximum(jnp.sum(state.enemy_alive, axis=0), 1)
    pull_hot = engine.iota(f.group_dps.shape[0], engine.batch_rank(state)) == state.pull_index
    group = jnp.sum(jnp.where(pull_hot, f.group_dps, 0.0), axis=0)
    prior_rate = group + env.nominal_dps / alive
    rate = (state.enemy_max_health - state.enemy_health + prior_rate * TTD_PRIOR_SECONDS) / (
        engaged + TTD_PRIOR_SECONDS)
    by_rate = jnp.where(rate > 0, state.enemy_health / jnp.maximum(rate, 1e-6), NEVER)
    time_to_die = jnp.where(f.fixed_time, jnp.maximum(f.time_limit - state.time, 0.0), jnp.minimum(by_rate, NEVER))
    time_to_die = jnp.where(state.enemy_alive, time_to_die, 0.0)
    haste = engine.haste_factor(state, env.spec)
    duration = jnp.where(t.cooldown_hasted, t.cooldown / haste, t.cooldown)
    ready_in = jnp.where(state.charges >= 1, 0.0, state.recharge)
    return AplContext(state, env, primary, fraction, time_to_die, ready_in, duration, haste, target_slot)


MELEE_YARDS = 5.0
OUT_OF_RANGE_YARDS = 40.0


def _on_primary(context: AplContext, per_enemy: jax.Array) -> jax.Array:
    return jnp.sum(jnp.where(context.primary, per_enemy, 0.0), axis=0)


def _enemies(context: AplContext) -> jax.Array:
    return jnp.sum(engine.eligible_targets(context.state), axis=0).astype(jnp.float32)


def _longest_time_to_die(context: AplContext) -> jax.Array:
    return jnp.max(context.time_to_die, axis=0)


def _pick(vector_of, index: int):
    return lambda c: vector_of(c)[index].astype(jnp.float32)


Resolver = Callable[[AplContext], jax.Array]


def _constant(value) -> Resolver:
    number = jnp.float32(value)
    return lambda c: number


def _always_down() -> dict[str, Resolver]:
    """A buff or debuff SimC has and Portunus does not model: never up (refreshable: yes)."""
    down = dict.fromkeys(("up", "ticking", "remains", "stack", "react", "max_stack", "duration", "value"),
                         _constant(0.0))
    return {**down, "down": _constant(1.0), "refreshable": _constant(1.0)}


# SimC's stat names for `trinket.N.has_buff.STAT` -> the column of `items.toml`'s `stat`
# ("primary" stands for the spec's own primary stat).
TRINKET_STATS = {"crit": "crit", "haste": "haste", "mastery": "mastery", "versatility": "versatility",
                 "strength": "strength", "agility": "agility", "intellect": "intellect",
                 "primary": "primary", "any_dps": "any_dps"}
RAID_EVENT_FIELDS = ("exists", "in", "up", "count", "remains", "duration")


class NameResolver:
    """Turns `Name`s into context functions; unknown names fail with a suggestion."""

    def __init__(self, env: Env, variables: set[str], path: str, kit: Kit | None = None):
        self.env, self.spec, self.variables, self.path = env, env.spec, variables, path
        self.kit = kit if kit is not None else Kit(env)

    def spec_name(self, name: Name, line: int, known: tuple[str, ...], kind: str, simc_known: set[str]) -> str | None:
        """The spec's buff / debuff / ability that `name.parts[1]` means (its own name or a SimC
        name mapped onto it); None for a name SimC knows but the spec does not model (recorded as
        skipped); a typo is an error with the nearest name."""
        if len(name.parts) <= 1:
            raise self.fail(name, line, f"'{name.text}' needs a {kind} name after '{name.parts[0]}.'")
        value = name.parts[1]
        ours = self.kit.named(value, known)
        if ours is not None:
            return ours
        if value in simc_known:
            self.kit.skip(f"{name.parts[0]}.{value}")
            return None
        full = [".".join(name.parts[:1] + (k,) + name.parts[2:]) for k in known]
        raise self.fail(name, line, f"unknown {kind} '{value}'", full)

    def fail(self, name: Name, line: int, message: str, known: list[str] | None = None) -> AplError:
        hint = closest(name.text, known) if known else ""
        return AplError(message + hint, self.path, line, name.column, name.text)

    def member(self, name: Name, line: int, position: int, known: list[str], what: str) -> str:
        if len(name.parts) <= position:
            raise self.fail(name, line, f"'{name.text}' needs a {what} name after '{'.'.join(name.parts)}.'")
        value = name.parts[position]
        if value not in known:
            full = [".".join(name.parts[:position] + (k,) + name.parts[position + 1:]) for k in known]
            raise self.fail(name, line, f"unknown {what} '{value}'", full)
        return value

    def attribute(self, name: Name, line: int, position: int, options: dict[str, Resolver]) -> Resolver:
        if len(name.parts) != position + 1:
            known = [".".join(name.parts[:position] + (k,)) for k in options]
            if len(name.parts) <= position:
                raise self.fail(name, line, f"'{name.text}' needs one of: {', '.join(options)}")
            raise self.fail(name, line, f"unknown expression '{name.text}'", known)
        attribute = name.parts[position]
        if attribute not in options:
            known = [".".join(name.parts[:position] + (k,)) for k in options]
            raise self.fail(name, line, f"unknown expression '{name.text}'", known)
        return options[attribute]

    def resolve(self, name: Name, line: int) -> Resolver:
        spec, parts = self.spec, name.parts
        head = parts[0]
        abilities = list(spec.ability_names)
        if head == "cooldown":
            a = self.kit.ability(parts[1]) if len(parts) > 1 else None
            if a is None:   # a typo (an error here) or a SimC action Portunus does not model
                self.spec_name(name, line, spec.ability_names, "ability", self.kit.simc_actions)
                zero = lambda c: jnp.float32(0.0)  # noqa: E731
                return self.attribute(name, line, 2, dict.fromkeys(
                    ("ready", "up", "remains", "charges", "charges_fractional", "max_charges",
                     "full_recharge_time", "duration"), zero))
            t = spec.tables

            def full_recharge(c):
                missing = (t.max_charges[a] - c.state.charges[a]).astype(jnp.float32)
                return jnp.where(missing > 0, c.state.recharge[a] + (missing - 1) * c.cooldown_duration[a], 0.0)

            return self.attribute(name, line, 2, {
                "ready": lambda c: (c.state.charges[a] >= 1).astype(jnp.float32),
                "up": lambda c: (c.state.charges[a] >= 1).astype(jnp.float32),
                "remains": lambda c: c.charge_ready_in[a],
                "charges": lambda c: c.state.charges[a].astype(jnp.float32),
                "charges_fractional": lambda c: c.state.charges[a] + jnp.where(
                    c.state.charges[a] < t.max_charges[a],
                    1.0 - c.state.recharge[a] / jnp.maximum(c.cooldown_duration[a], 1e-6), 0.0),
                "max_charges": lambda c: t.max_charges[a].astype(jnp.float32),
                "full_recharge_time": full_recharge,
                "duration": lambda c: c.cooldown_duration[a],
            })
        if head == "buff":
            buff = self.spec_name(name, line, spec.buff_names, "buff", self.kit.simc_buffs)
            if buff is None:
                return self.attribute(name, line, 2, _always_down())
            b = list(spec.buff_names).index(buff)
            t = spec.tables
            return self.attribute(name, line, 2, {
                "up": lambda c: (c.state.buff_remaining[b] > 0).astype(jnp.float32),
                "down": lambda c: (c.state.buff_remaining[b] <= 0).astype(jnp.float32),
                "react": lambda c: c.state.buff_stacks[b].astype(jnp.float32),
                "remains": lambda c: c.state.buff_remaining[b],
                "stack": lambda c: c.state.buff_stacks[b].astype(jnp.float32),
                "max_stack": lambda c: t.buff_max_stacks[b].astype(jnp.float32),
                "duration": lambda c: t.buff_duration[b],
            })
        if head in ("debuff", "dot"):
            debuff = self.spec_name(name, line, spec.debuff_names, "debuff", self.kit.simc_buffs)
            if debuff is None:
                return self.attribute(name, line, 2, _always_down())
            d = list(spec.debuff_names).index(debuff)
            t = spec.tables
            remains = lambda c: _on_primary(c, c.state.debuff_remaining[:, d])  # noqa: E731
            return self.attribute(name, line, 2, {
                "up": lambda c: (remains(c) > 0).astype(jnp.float32),
                "ticking": lambda c: (remains(c) > 0).astype(jnp.float32),
                "down": lambda c: (remains(c) <= 0).astype(jnp.float32),
                "remains": remains,
                "stack": lambda c: (remains(c) > 0).astype(jnp.float32),
                "refreshable": lambda c: (remains(c) < 0.3 * t.debuff_duration[d]).astype(jnp.float32),
                "duration": lambda c: t.debuff_duration[d],
            })
        if head in spec.resource_names:
            r = spec.resource_names.index(head)
            t = spec.tables
            current = lambda c: c.state.resources[r]  # noqa: E731
            if len(parts) == 1:
                return current
            return self.attribute(name, line, 1, {
                "current": current,
                "deficit": lambda c: t.resource_max[r] - c.state.resources[r],
                "max": lambda c: t.resource_max[r],
                "pct": lambda c: 100.0 * c.state.resources[r] / t.resource_max[r],
            })
        if head == "gcd":
            gcd = lambda c: jnp.maximum(1.5 / c.haste, spec.tables.gcd_floor)  # noqa: E731
            if len(parts) == 1:
                return gcd
            return self.attribute(name, line, 1, {"max": gcd, "remains": lambda c: jnp.float32(0.0)})
        if head == "target":
            if parts[1:] == ("health", "pct"):
                return lambda c: 100.0 * _on_primary(c, c.health_fraction)
            if parts[1:] == ("time_to_die",):
                return lambda c: _on_primary(c, c.time_to_die)
            if parts[1:] == ("distance",):
                # No positions in the simulator: a target (alive and in range) is in melee range;
                # with none (the next pull not reached), out of range.
                return lambda c: jnp.where(jnp.any(c.primary, axis=0), MELEE_YARDS, OUT_OF_RANGE_YARDS)
            raise self.fail(name, line, f"unknown expression '{name.text}'",
                            ["target.health.pct", "target.time_to_die", "target.distance"])
        if head == "spell_targets":
            a = abilities.index(self.member(name, line, 1, abilities, "ability"))
            if len(parts) != 2:
                raise self.fail(name, line, f"unknown expression '{name.text}'", [f"spell_targets.{parts[1]}"])
            t = spec.tables
            mode, cap = int(t.target_mode[a]), int(t.max_targets[a])

            def targets(c):
                alive = _enemies(c)
                if mode == TARGET_ALL:
                    return alive
                if mode == TARGET_UP_TO:
                    return jnp.minimum(alive, cap)
                return jnp.minimum(alive, 0.0 if mode == TARGET_NONE else 1.0)

            return targets
        if head in ("prev_gcd", "prev"):
            position = 2 if head == "prev_gcd" else 1
            if head == "prev_gcd" and (len(parts) < 2 or parts[1] != "1"):
                raise self.fail(name, line, "only the last action is tracked: use prev_gcd.1.NAME")
            a = abilities.index(self.member(name, line, position, abilities, "ability"))
            if len(parts) != position + 1:
                raise self.fail(name, line, f"unknown expression '{name.text}'")
            return lambda c: ((c.state.last_action >= 0)
                              & (engine.decode_action(spec, c.state.last_action)[0] == a)).astype(jnp.float32)
        if head == "talent":
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("enabled", "rank")):
                raise self.fail(name, line, f"'{name.text}': use talent.NAME (or talent.NAME.rank)")
            known_talents = self.kit.talent_tokens | set(spec.talents) | set(spec.settings.get("loadout_flags", []))
            if self.kit.talent_tokens and parts[1] not in known_talents:
                raise self.fail(name, line, f"unknown talent '{parts[1]}'",
                                [f"talent.{t}" for t in sorted(known_talents)])
            rank = jnp.float32(spec.talent(parts[1]))
            if len(parts) == 3 and parts[2] == "rank":
                return lambda c: rank
            return lambda c: jnp.float32(rank > 0)
        if head == "hero_tree":
            chosen = self.kit.hero_tree(parts[1]) if len(parts) == 2 else None
            if chosen is None:
                raise self.fail(name, line, f"unknown expression '{name.text}': use hero_tree.NAME",
                                [f"hero_tree.{t}" for t in self.kit.hero_trees])
            return _constant(chosen)
        if head == "equipped":
            if len(parts) != 2:
                raise self.fail(name, line, f"'{name.text}': use equipped.ITEM_NAME")
            return _constant(parts[1] in self.kit.equipped)
        if head == "trinket":
            return self.trinket(name, line)
        if head == "raid_event":
            return self.raid_event(name, line)
        if head in ("time", "fight_remains", "active_enemies") and len(parts) == 1:
            if head == "time":
                return lambda c: c.state.time
            if head == "active_enemies":
                return _enemies
            return _longest_time_to_die
        if head == "pull":
            return self.pull(name, line)
        if head == "variable":
            variable = self.member(name, line, 1, sorted(self.variables), "variable")
            if len(parts) != 2:
                raise self.fail(name, line, f"unknown expression '{name.text}'")
            return lambda c, v=variable: c.variables[v]
        known = (["time", "fight_remains", "active_enemies", "gcd", "gcd.max", "target.health.pct",
                  "target.time_to_die", "raid_event.adds.in", "pull.time_to_next", "equipped", "trinket.1.is",
                  "hero_tree"]
                 + [f"{kind}.{n}.up" for kind, names in (("buff", spec.buff_names), ("debuff", spec.debuff_names))
                    for n in names]
                 + [f"cooldown.{n}.ready" for n in abilities] + list(spec.resource_names)
                 + [f"variable.{v}" for v in self.variables])
        raise self.fail(name, line, f"unknown expression '{name.text}'", known)

    def route(self):
        """(of_pull, next_index, time_to_next): the pull-table helpers `pull.*` and `raid_event.*` share."""
        num_pulls = self.env.fight.num_pulls

        def of_pull(c, table, index):
            """table[index] for per-state pull indices, without a gather."""
            rank = engine.batch_rank(c.state)
            chosen = engine.iota(num_pulls, rank) == index
            return jnp.sum(jnp.where(chosen, engine.batched(table, rank), 0), axis=0)

        def next_index(c):
            return jnp.minimum(c.state.pull_index + 1, num_pulls - 1)

        def next_travel(c):
            return of_pull(c, self.env.fight_tables.pull_travel, next_index(c))

        def time_to_next(c):
            has_next = c.state.pull_index < num_pulls - 1
            return jnp.where(has_next, _longest_time_to_die(c) + next_travel(c), NEVER)

        return of_pull, next_index, next_travel, time_to_next

    def pull(self, name: Name, line: int) -> Resolver:
        """Route facts. In a fight of one pull there is no next pull: time_to_next is 3600."""
        num_pulls = self.env.fight.num_pulls
        of_pull, next_index, next_travel, time_to_next = self.route()
        is_boss = lambda c, i: of_pull(c, self.env.fight_tables.pull_is_boss, i) > 0  # noqa: E731
        return self.attribute(name, line, 1, {
            "index": lambda c: (c.state.pull_index + 1).astype(jnp.float32),
            "count": lambda c: jnp.float32(num_pulls),
            "remaining": lambda c: (num_pulls - 1 - c.state.pull_index).astype(jnp.float32),
            "enemies_left": lambda c: jnp.sum(c.state.enemy_alive, axis=0).astype(jnp.float32),
            "is_boss": lambda c: is_boss(c, c.state.pull_index).astype(jnp.float32),
            "next_is_boss": lambda c: (is_boss(c, next_index(c)) & (c.state.pull_index < num_pulls - 1)
                                       ).astype(jnp.float32),
            "next_travel": lambda c: jnp.where(c.state.pull_index < num_pulls - 1, next_travel(c), NEVER),
            "time_to_next": time_to_next,
            "remains": _longest_time_to_die,
        })


    def raid_event(self, name: Name, line: int) -> Resolver:
        """`raid_event.adds.*`: the adds are the next pull of a route (docs/apl.md); other SimC
        raid events never happen in Portunus's fights."""
        parts = name.parts
        kinds = ["adds"] + sorted(self.kit.raid_events)
        if len(parts) < 2 or parts[1] not in kinds:
            raise self.fail(name, line, f"unknown raid event in '{name.text}'",
                            [f"raid_event.{k}.{f}" for k in kinds for f in RAID_EVENT_FIELDS])
        if parts[1] != "adds":
            self.kit.skip(f"raid_event.{parts[1]}")
            return self.attribute(name, line, 2, {f: _constant(NEVER if f == "in" else 0.0)
                                                  for f in RAID_EVENT_FIELDS})
        num_pulls = self.env.fight.num_pulls
        of_pull, next_index, _, time_to_next = self.route()
        pull_enemies = jnp.sum(self.env.fight_tables.pull_health > 0, axis=1).astype(jnp.float32)
        has_next = lambda c: c.state.pull_index < num_pulls - 1  # noqa: E731
        up = lambda c: _enemies(c) > 1  # noqa: E731
        remains = lambda c: jnp.where(up(c), _longest_time_to_die(c), 0.0)  # noqa: E731
        return self.attribute(name, line, 2, {
            "exists": lambda c: has_next(c).astype(jnp.float32),
            "in": time_to_next,
            "up": lambda c: up(c).astype(jnp.float32),
            "count": lambda c: jnp.where(up(c), _enemies(c), jnp.where(
                has_next(c), of_pull(c, pull_enemies, next_index(c)), 0.0)),
            "remains": remains,
            "duration": lambda c: jnp.where(up(c), c.state.time - c.state.pull_start_time + remains(c), 0.0),
        })

    def trinket(self, name: Name, line: int) -> Resolver:
        """`trinket.N.*` for N = 1, 2: facts about the item in that slot (sim/data/items.toml);
        an empty slot or an item without data has no buff and no cooldown."""
        parts = name.parts
        if len(parts) < 3 or parts[1] not in ("1", "2"):
            raise self.fail(name, line, f"'{name.text}': use trinket.1.X or trinket.2.X",
                            ["trinket.1.has_buff.strength", "trinket.1.cooldown.remains", "trinket.1.is.NAME"])
        slot = self.kit.trinket(int(parts[1]))
        data = slot.data if slot.on_use else None
        stat = data["stat"] if data else ""
        primary = self.spec.settings.get("primary_stat", "primary")
        rest = parts[2:]

        def gives(simc_stat: str) -> bool:
            if simc_stat not in TRINKET_STATS:
                raise self.fail(name, line, f"unknown stat '{simc_stat}'",
                                [".".join(parts[:-1] + (k,)) for k in TRINKET_STATS])
            if data is None:
                return False
            return (simc_stat == "any_dps" or stat == simc_stat
                    or (stat == "primary" and simc_stat in (primary, "primary")))

        if rest[0] in ("has_buff", "has_use_buff", "has_stat") and len(rest) == 2:
            return _constant(gives(rest[1]))
        if rest == ("has_use_buff",):
            return _constant(data is not None)
        if rest == ("has_cooldown",):
            return _constant(data is not None and float(data.get("cooldown", 0)) > 0)
        if rest[0] == "is" and len(rest) == 2:
            return _constant(slot.name == rest[1])
        if rest[0] == "proc" and len(rest) == 3 and rest[2] == "duration":
            return _constant(float(data["duration"]) if gives(rest[1]) else 0.0)
        if rest[0] == "cooldown" and len(rest) == 2:
            a = slot.ability
            if rest[1] == "duration":
                return _constant(float(data.get("cooldown", 0)) if data else 0.0)
            if rest[1] == "remains":
                return (lambda c: c.charge_ready_in[a]) if data else _constant(0.0)
            if rest[1] in ("ready", "up"):
                return (lambda c: (c.state.charges[a] >= 1).astype(jnp.float32)) if data else _constant(0.0)
        known = [f"trinket.{parts[1]}.{k}" for k in (
            "has_buff.strength", "has_use_buff", "has_cooldown", "is.NAME", "proc.any_dps.duration",
            "cooldown.duration", "cooldown.remains", "cooldown.ready")]
        raise self.fail(name, line, f"unknown expression '{name.text}'", known)


def compile_expression(tree, resolver: NameResolver, line: int) -> Resolver:
    """Syntax tree -> function of the context (which carries `variables`)."""
    if isinstance(tree, Number):
        value = jnp.float32(tree.value)
        return lambda c: value
    if isinstance(tree, Name):
        return resolver.resolve(tree, line)
    if isinstance(tree, Unary):
        operand = compile_expression(tree.operand, resolver, line)
        if tree.op == "!":
            return lambda c: (operand(c) == 0).astype(jnp.float32)
        return lambda c: -operand(c)
    left = compile_expression(tree.left, resolver, line)
    right = compile_expression(tree.right, resolver, line)
    op = tree.op
    if op == "&":
        return lambda c: ((left(c) != 0) & (right(c) != 0)).astype(jnp.float32)
    if op == "|":
        return lambda c: ((left(c) != 0) | (right(c) != 0)).astype(jnp.float32)
    if op in ("%", "/"):
        def divide(c):
            denominator = right(c)
            return jnp.where(denominator == 0, 0.0, left(c) / jnp.where(denominator == 0, 1.0, denominator))
        return divide
    arithmetic = {
        "+": jnp.add, "-": jnp.subtract, "*": jnp.multiply,
        "%%": lambda a, b: jnp.where(b == 0, 0.0, jnp.mod(a, jnp.where(b == 0, 1.0, b))),
        "<": lambda a, b: (a < b).astype(jnp.float32), "<=": lambda a, b: (a <= b).astype(jnp.float32),
        "=": lambda a, b: (a == b).astype(jnp.float32), "!=": lambda a, b: (a != b).astype(jnp.float32),
        ">=": lambda a, b: (a >= b).astype(jnp.float32), ">": lambda a, b: (a > b).astype(jnp.float32),
    }[op]
    return lambda c: arithmetic(left(c), right(c))
