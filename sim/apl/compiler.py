"""Action lists -> one pure function `policy(state, key) -> action` (jit and vmap it).

The priority list is unrolled at compile time into straight-line array code:
each entry fires if nothing fired before it, no `run_action_list` above it has
taken over, its condition holds and its ability is legal. So the policy costs
the same for every state, has no Python control flow on traced values, and
runs at the simulator's speed.

SimC's own APLs run as they are (docs/apl.md): `actions.precombat` sets the
character's constant variables once and may use items at the pull; actions
SimC has but Portunus does not model are skipped and listed in `Apl.skipped`
(one warning line); `target_if=` chooses the enemy an entry acts on.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp

from portunus.inputs import read_text
from portunus.errors import InputError, closest
from portunus.profile import CharacterProfile
from sim import engine
from sim.apl.expressions import AplContext, NameResolver, Resolver, compile_expression, make_context
from sim.apl.kit import TRINKET_SLOTS, Kit
from sim.apl.syntax import ActionLists, AplError, Entry, Number, Unary, parse_apl
from sim.env import Env
from sim.types import State

PRECOMBAT = "precombat"
CONTROL = {
    "call_action_list": {"name", "if"},
    "run_action_list": {"name", "if"},
    "variable": {"name", "value", "op", "if", "value_else", "condition", "default"},
    "wait": {"if"},
}
ITEM_ACTIONS = {
    "use_item": {"name", "slot", "if", "target_if"},
    "use_items": {"if"},
    "potion": {"name", "if"},
    "invoke_external_buff": {"name", "if"},
}
ABILITY_OPTIONS = {"if", "target_if"}
# SimC's variable ops (engine/action/variable.cpp); `print` only logs in SimC.
VARIABLE_OPS = ("set", "add", "sub", "mul", "div", "pow", "mod", "min", "max", "floor", "ceil", "setif",
                "reset", "print")
NO_VALUE_OPS = ("reset", "floor", "ceil", "print")
ACCEPTED_SILENTLY = ("auto_attack",)  # auto attacks run by themselves


@dataclasses.dataclass(frozen=True)
class ActionStep:
    condition: Resolver | None
    ability: int                              # A = wait
    target_if: tuple[str, Resolver] | None    # (mode, key expression)


@dataclasses.dataclass(frozen=True)
class VariableStep:
    condition: Resolver | None
    name: str
    op: str
    value: Resolver | None
    value_else: Resolver | None               # setif
    choose: Resolver | None                   # setif's condition=
    default: float


@dataclasses.dataclass(frozen=True)
class ListStep:
    condition: Resolver | None
    steps: tuple
    run: bool                                 # run_action_list: do not come back


class _Compiler:
    def __init__(self, lists: ActionLists, env: Env, kit: Kit):
        self.lists, self.env, self.path, self.kit = lists, env, lists.path, kit
        self.variables = {e.options["name"] for entries in lists.lists.values() for e in entries
                          if e.action == "variable" and "name" in e.options}
        self.defaults = self._read_defaults()
        self.resolver = NameResolver(env, self.variables, self.path, kit)
        self.abilities = list(env.spec.ability_names)

    def fail(self, entry: Entry, message: str, column: int | None = None, token: str | None = None) -> AplError:
        return AplError(message, self.path, entry.line, column or entry.column, token or entry.action)

    def option_fail(self, entry: Entry, option: str, message: str) -> AplError:
        return self.fail(entry, message, entry.option_columns[option], entry.options[option] or option)

    def expression(self, entry: Entry, option: str) -> Resolver | None:
        tree = entry.expressions.get(option)
        return None if tree is None else compile_expression(tree, self.resolver, entry.line)

    def _read_defaults(self) -> dict[str, float]:
        """`variable,...,default=N`: the value a variable starts each decision with (first one wins)."""
        defaults: dict[str, float] = {}
        for entries in self.lists.lists.values():
            for entry in entries:
                if entry.action != "variable" or "default" not in entry.options or "name" not in entry.options:
                    continue
                tree = entry.expressions["default"]
                negative = isinstance(tree, Unary) and tree.op == "-"
                number = tree.operand if negative else tree
                if not isinstance(number, Number):
                    raise self.option_fail(entry, "default", "default= must be a number")
                defaults.setdefault(entry.options["name"], -number.value if negative else number.value)
        return defaults

    def check(self, name: str = "default", stack: tuple[str, ...] = ()) -> tuple:
        """Validate a list (recursively) and compile its entries into steps."""
        if name in stack:
            raise InputError(f"action lists call each other in a loop: {' -> '.join(stack + (name,))}", self.path)
        steps = []
        for entry in self.lists.lists[name]:
            steps.extend(self.entry(entry, name, stack))
        return tuple(steps)

    def entry(self, entry: Entry, list_name: str, stack: tuple[str, ...]) -> list:
        action = entry.action
        kind, target = self.resolve_action(entry)
        if kind != "skip":  # a skipped SimC action keeps whatever options SimC gives it
            allowed = CONTROL.get(action) or ITEM_ACTIONS.get(action) or ABILITY_OPTIONS
            ignored = self.kit.ignored_options | ({"sec"} if action == "wait" else set())
            for option in entry.options:
                if option in allowed:
                    continue
                if option in ignored:
                    self.kit.skip(f"{action},{option}=")
                    continue
                column = entry.option_columns[option] - len(option) - 1
                raise self.fail(entry, f"'{action}' takes no option '{option}' here; it takes: "
                                       f"{', '.join(sorted(allowed))}", column, option)
        condition = self.expression(entry, "if")
        target_if = None
        if entry.target_if is not None:
            mode, tree = entry.target_if
            target_if = (mode, compile_expression(tree, self.resolver, entry.line))
        if kind == "skip":
            self.kit.skip(target)
            return []
        if kind == "list":
            if target not in self.lists.lists or target == PRECOMBAT:
                known = [k for k in self.lists.lists if k not in ("default", PRECOMBAT)]
                raise self.fail(entry, f"no action list named '{target}'{closest(target or '', known)}",
                                entry.option_columns.get("name"), target or action)
            return [ListStep(condition, self.check(target, stack + (list_name,)), action == "run_action_list")]
        if kind == "variable":
            return self.variable(entry, condition)
        return [ActionStep(condition, ability, target_if) for ability in target]

    def resolve_action(self, entry: Entry) -> tuple[str, object]:
        """(kind, what): ("list", name), ("variable", None), ("abilities", [index...]) or
        ("skip", text for the warning). Unknown names are errors."""
        action, options, spec, kit = entry.action, entry.options, self.env.spec, self.kit
        if action in ("call_action_list", "run_action_list"):
            return "list", options.get("name")
        if action == "variable":
            return "variable", None
        if action == "wait":
            return "abilities", [spec.num_abilities]
        if action in ACCEPTED_SILENTLY:
            return "abilities", []
        if action == "use_item":
            return self.use_item(entry)
        if action == "use_items":
            usable = [t.ability for t in kit.trinkets.values() if t.on_use]
            return ("abilities", usable) if usable else ("skip", "use_items (no on-use item with data)")
        if action == "potion":
            ability = kit.item_ability("potion")
            return ("abilities", [ability]) if ability is not None else ("skip", "potion (the character has none)")
        if action == "invoke_external_buff":
            name = options.get("name", "")
            ability = kit.ability(name) if name else None
            if ability is None:
                if not name:
                    raise self.fail(entry, "invoke_external_buff needs name=")
                return "skip", f"invoke_external_buff,name={name}"
            return "abilities", [ability]   # never fires for a character without the external buff
        ability = kit.ability(action)
        if ability is not None:
            return "abilities", [ability]
        if action in kit.simc_actions:
            return "skip", action
        known = self.abilities + sorted(kit.aliases) + list(CONTROL) + list(ITEM_ACTIONS) + sorted(kit.simc_actions)
        raise self.fail(entry, f"unknown ability '{action}'{closest(action, known)}: "
                               f"not an ability of {spec.name} and not a SimC action")

    def use_item(self, entry: Entry) -> tuple[str, object]:
        """`use_item,name=ITEM` (the trinket slot holding ITEM) or `use_item,slot=trinket1|2`."""
        name, slot = entry.options.get("name"), entry.options.get("slot")
        if bool(name) == bool(slot):
            raise self.fail(entry, "use_item needs name=ITEM or slot=trinket1|trinket2 (one of them)")
        if name:
            trinket = self.kit.slot_of_item(name)
            if trinket is None:
                return "skip", f"use_item,name={name} (not equipped)"
        else:
            if slot not in TRINKET_SLOTS:
                return "skip", f"use_item,slot={slot}"
            trinket = self.kit.trinkets[slot]
        if not trinket.on_use:
            what = f"name={name}" if name else f"slot={slot}"
            reason = ("no on-use item" if not trinket.name else f"{trinket.name}: no item data" if trinket.data is None
                      else f"{trinket.name}: not on-use")
            return "skip", f"use_item,{what} ({reason})"
        return "abilities", [trinket.ability]

    def variable(self, entry: Entry, condition: Resolver | None) -> list:
        if "name" not in entry.options:
            raise self.fail(entry, "variable needs name=")
        name = entry.options["name"]
        op = entry.options.get("op", "set")
        if op not in VARIABLE_OPS:
            raise self.fail(entry, f"unknown variable op '{op}'{closest(op, list(VARIABLE_OPS))}",
                            entry.option_columns["op"], op)
        if op == "print":
            self.kit.skip("variable,op=print")
            return []
        if op not in NO_VALUE_OPS and entry.value is None:
            raise self.fail(entry, "variable needs value=")
        needs = {"setif": ("condition", "value_else")}.get(op, ())
        for option in needs:
            if option not in entry.options:
                raise self.fail(entry, f"op=setif needs condition=, value= and value_else= (no {option}=)")
        for option in ("condition", "value_else"):
            if option in entry.options and option not in needs:
                raise self.fail(entry, f"{option}= goes with op=setif", entry.option_columns[option] - len(option) - 1,
                                option)
        return [VariableStep(condition, name, op, self.expression(entry, "value"), self.expression(entry, "value_else"),
                             self.expression(entry, "condition"), self.defaults.get(name, 0.0))]


def _apply_variable(step: VariableStep, context: AplContext, old):
    if step.op == "reset":
        return jnp.float32(step.default)
    if step.op in ("floor", "ceil"):
        return jnp.floor(old) if step.op == "floor" else jnp.ceil(old)
    new = step.value(context)
    if step.op == "setif":
        return jnp.where(step.choose(context) != 0, new, step.value_else(context))
    safe = jnp.where(new == 0, 1.0, new)
    return {"set": lambda: new, "add": lambda: old + new, "sub": lambda: old - new, "mul": lambda: old * new,
            "div": lambda: jnp.where(new == 0, 0.0, old / safe),
            "mod": lambda: jnp.where(new == 0, 0.0, jnp.mod(old, safe)),
            "pow": lambda: jnp.power(old, new),
            "min": lambda: jnp.minimum(old, new), "max": lambda: jnp.maximum(old, new)}[step.op]()


class _Run:
    """One pass over the steps for one decision (or a batch of them)."""

    def __init__(self, env: Env, context: AplContext, mask: jax.Array, choose_actions: bool = True):
        self.env, self.spec, self.context, self.mask = env, env.spec, context, mask
        self.choose_actions = choose_actions
        self.chosen = jnp.int32(-1)
        self.stopped = jnp.bool_(False)

    def run(self, steps, guard) -> None:
        context = self.context
        for step in steps:
            live = guard & ~self.stopped & (self.chosen < 0)
            if isinstance(step, VariableStep):
                holds = live if step.condition is None else live & (step.condition(context) != 0)
                old = context.variables[step.name]
                context.variables[step.name] = jnp.where(holds, _apply_variable(step, context, old), old)
            elif isinstance(step, ListStep):
                holds = live if step.condition is None else live & (step.condition(context) != 0)
                self.run(step.steps, holds)
                if step.run:
                    self.stopped = self.stopped | holds
            elif self.choose_actions:
                self.action(step, live)

    def action(self, step: ActionStep, live) -> None:
        context, slot, found = self.context, self.context.target_slot, True
        if step.target_if is not None:
            slot, found = self.pick_target(step)
            context = context.aimed_at(slot)
        holds = live & found
        if step.condition is not None:
            holds = holds & (step.condition(context) != 0)
        action, legal = engine.action_on(self.spec, step.ability, slot, self.mask)
        self.chosen = jnp.where(holds & legal, action, self.chosen)

    def pick_target(self, step: ActionStep):
        """SimC's target_if: the key expression on every enemy the ability may act on (alive, in
        range, legal on that enemy); min / max keep the current target on a tie, first takes
        the first enemy (lowest slot) whose key is not 0. (slot, whether any enemy qualified)."""
        mode, key = step.target_if
        spec, context, state = self.spec, self.context, self.context.state
        first = int(spec.ability_first_action[step.ability])
        targeted = step.ability < spec.num_abilities and spec.ability_targeted[step.ability] and spec.target_slots > 1
        eligible = engine.eligible_targets(state)
        count = min(eligible.shape[0], spec.target_slots) if targeted else eligible.shape[0]
        ok, values = [], []
        for slot in range(count):
            legal = self.mask[first + slot] if targeted else self.mask[first]
            ok.append(eligible[slot] & legal)
            values.append(jnp.broadcast_to(key(context.aimed_at(slot)), eligible[slot].shape))
        ok, values = jnp.stack(ok), jnp.stack(values)
        if mode == "first":
            hits = ok & (values != 0)
            return jnp.argmax(hits, axis=0).astype(jnp.int32), jnp.any(hits, axis=0)
        score = jnp.where(ok, values if mode == "min" else -values, jnp.inf)
        best = jnp.argmin(score, axis=0).astype(jnp.int32)
        current = engine.iota(count, engine.batch_rank(state)) == context.target_slot
        current_ok = jnp.any(current & ok, axis=0)
        current_score = jnp.sum(jnp.where(current & ok, score, 0.0), axis=0)
        keep = current_ok & (current_score <= jnp.min(score, axis=0))
        return jnp.where(keep, context.target_slot, best).astype(jnp.int32), jnp.any(ok, axis=0)


class Apl:
    """A compiled APL: `apl(state, key=None) -> action` for one state (vmap for batches),
    or for a batch whose axis is last (`batch_last`: see sim/rollout.py).

    `skipped` lists what the text names that Portunus does not model (SimC racials,
    interrupts, items without data, buffs the spec lacks ...); `warning` is that list as one
    line, or None. `profile` (the character) tells which items sit in which trinket slot;
    without it they come from the items the spec was compiled with."""

    batch_last = True
    uses_key = False   # deterministic: sim.rollout.play_policy passes it no keys

    def __init__(self, text: str, env: Env, path: str = "<apl>", profile: CharacterProfile | None = None):
        self.lists = parse_apl(text, path)
        self.env = env
        self.text = text
        self.path = path
        kit = Kit(env, profile)
        compiler = _Compiler(self.lists, env, kit)
        precombat = compiler.check(PRECOMBAT) if PRECOMBAT in self.lists.lists else ()
        main = compiler.check()
        self.variables = sorted(compiler.variables)
        self.initial = {name: compiler.defaults.get(name, 0.0) for name in self.variables}
        self.initial.update(self._precombat_constants(precombat))
        # Precombat's actions (a pre-pot, an item used before the pull) may fire only at the
        # fight's first decision; its variables are constants, already in `initial`.
        at_pull = lambda c: (c.state.time < engine.EPSILON).astype(jnp.float32)  # noqa: E731
        pulling = tuple(step for step in precombat if not isinstance(step, VariableStep))
        self.steps = ((ListStep(at_pull, pulling, False),) if pulling else ()) + main
        self.skipped = tuple(kit.skipped)

    @property
    def warning(self) -> str | None:
        if not self.skipped:
            return None
        return f"{self.path}: skipped, not modelled by Portunus: {', '.join(self.skipped)}"

    def _precombat_constants(self, precombat) -> dict[str, float]:
        """Run the precombat list's variables once, on the fight's first state: they are
        constants of the character (its trinkets, talents, cooldowns)."""
        if not any(isinstance(s, VariableStep) or isinstance(s, ListStep) for s in precombat):
            return {}
        state = self.env.init(jax.random.key(0))
        context = make_context(self.env, state)
        context.variables = {name: jnp.float32(value) for name, value in self.initial.items()}
        _Run(self.env, context, state.legal_action_mask, choose_actions=False).run(precombat, jnp.bool_(True))
        return {name: float(value) for name, value in context.variables.items()}

    def __call__(self, state: State, key: jax.Array | None = None) -> jax.Array:
        context = make_context(self.env, state)
        context.variables = {name: jnp.float32(value) for name, value in self.initial.items()}
        run = _Run(self.env, context, state.legal_action_mask)
        run.run(self.steps, jnp.bool_(True))
        return jnp.where(run.chosen < 0, self.env.wait_action, run.chosen).astype(jnp.int32)


def _print_warning(line: str) -> None:
    print(f"warning: {line}", file=sys.stderr)


SHIPPED_APLS = {"default": "default_apl", "assisted": "assisted_combat_apl"}


def shipped_apl_path(env: Env, which: str = "default") -> Path:
    """A list the spec ships: "default" (`[spec] default_apl`) or "assisted" (the game's
    Assisted Combat pick, `[spec] assisted_combat_apl`)."""
    name = env.spec.settings.get(SHIPPED_APLS[which])
    if name is None:
        raise InputError(f"spec {env.spec.name} ships no {which} APL; give one with --apl")
    return Path(env.spec.path).parent / name


def load_apl(env: Env, path: str | Path | None = None, profile: CharacterProfile | None = None,
             warn: Callable[[str], None] | None = _print_warning) -> Apl:
    """An APL file, or the spec's default APL (`[spec] default_apl`). What the file names but
    Portunus does not model is reported once, as one line, through `warn` (stderr by default;
    None: silent, read `apl.warning`)."""
    if path is None:
        path = shipped_apl_path(env)
    path = Path(path)
    apl = Apl(read_text(path, "APL"), env, str(path), profile)
    if apl.warning and warn is not None:
        warn(apl.warning)
    return apl
