"""Action lists -> one pure function `policy(state, key) -> action` (jit and vmap it).

The priority list is unrolled at compile time into straight-line array code:
each entry fires if nothing fired before it, no `run_action_list` above it has
taken over, its condition holds and its ability is legal. So the policy costs
the same for every state, has no Python control flow on traced values, and
runs at the simulator's speed.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from portunus.errors import InputError, closest
from sim import engine
from sim.apl.expressions import NameResolver, compile_expression, make_context
from sim.apl.syntax import ActionLists, AplError, Entry, parse_apl
from sim.env import Env
from sim.types import State

CONTROL = {
    "call_action_list": {"name", "if"},
    "run_action_list": {"name", "if"},
    "variable": {"name", "value", "op", "if"},
    "wait": {"if"},
}
VARIABLE_OPS = ("set", "add", "sub", "mul", "div", "min", "max", "reset")
NOT_IN_THIS_SIM = {
    "use_item": "the simulator has no items (trinkets) yet",
    "use_items": "the simulator has no items (trinkets) yet",
    "potion": "the simulator has no consumables yet",
    "auto_attack": "auto attacks run by themselves",
    "snapshot_stats": "not needed: stats are fixed per character",
    "flask": "the simulator has no consumables yet",
    "food": "the simulator has no consumables yet",
    "augmentation": "the simulator has no consumables yet",
}


class _Compiler:
    def __init__(self, lists: ActionLists, env: Env):
        self.lists, self.env, self.path = lists, env, lists.path
        self.variables = {e.options["name"] for entries in lists.lists.values() for e in entries
                          if e.action == "variable" and "name" in e.options}
        self.resolver = NameResolver(env, self.variables, self.path)
        self.abilities = list(env.spec.ability_names)

    def fail(self, entry: Entry, message: str, column: int | None = None, token: str | None = None) -> AplError:
        return AplError(message, self.path, entry.line, column or entry.column, token or entry.action)

    def check(self, name: str = "default", stack: tuple[str, ...] = ()) -> list:
        """Validate a list (recursively) and compile its entries into steps."""
        if name in stack:
            raise InputError(f"action lists call each other in a loop: {' -> '.join(stack + (name,))}", self.path)
        steps = []
        for entry in self.lists.lists[name]:
            if entry.action in NOT_IN_THIS_SIM and entry.action not in self.abilities:
                raise self.fail(entry, f"'{entry.action}': {NOT_IN_THIS_SIM[entry.action]}")
            allowed = CONTROL.get(entry.action, {"if"})
            for option in entry.options:
                if option not in allowed:
                    column = entry.option_columns[option] - len(option) - 1
                    raise self.fail(entry, f"'{entry.action}' takes no option '{option}' here; it takes: "
                                           f"{', '.join(sorted(allowed))}", column, option)
            condition = (compile_expression(entry.condition, self.resolver, entry.line)
                         if entry.condition is not None else None)
            if entry.action in ("call_action_list", "run_action_list"):
                target = entry.options.get("name")
                if target not in self.lists.lists:
                    known = [k for k in self.lists.lists if k != "default"]
                    raise self.fail(entry, f"no action list named '{target}'{closest(target or '', known)}",
                                    entry.option_columns.get("name"), target or entry.action)
                steps.append((entry.action, condition, self.check(target, stack + (name,))))
            elif entry.action == "variable":
                if "name" not in entry.options:
                    raise self.fail(entry, "variable needs name=")
                op = entry.options.get("op", "set")
                if op not in VARIABLE_OPS:
                    raise self.fail(entry, f"unknown variable op '{op}'{closest(op, list(VARIABLE_OPS))}",
                                    entry.option_columns["op"], op)
                if entry.value is None and op != "reset":
                    raise self.fail(entry, "variable needs value=")
                value = compile_expression(entry.value, self.resolver, entry.line) if entry.value else None
                steps.append(("variable", condition, (entry.options["name"], op, value)))
            elif entry.action == "wait":
                steps.append(("action", condition, self.env.spec.num_abilities))
            elif entry.action in self.abilities:
                steps.append(("action", condition, self.abilities.index(entry.action)))
            else:
                raise self.fail(entry, f"unknown ability '{entry.action}'"
                                       f"{closest(entry.action, self.abilities + list(CONTROL))}")
        return steps


def _apply_variable(op: str, old, new):
    return {"set": lambda: new, "add": lambda: old + new, "sub": lambda: old - new, "mul": lambda: old * new,
            "div": lambda: jnp.where(new == 0, 0.0, old / jnp.where(new == 0, 1.0, new)),
            "min": lambda: jnp.minimum(old, new), "max": lambda: jnp.maximum(old, new),
            "reset": lambda: jnp.float32(0.0)}[op]()


class Apl:
    """A compiled APL: `apl(state, key=None) -> action` for one state (vmap for batches),
    or for a batch whose axis is last (`batch_last`: see sim/rollout.py)."""

    batch_last = True

    def __init__(self, text: str, env: Env, path: str = "<apl>"):
        self.lists = parse_apl(text, path)
        self.env = env
        self.text = text
        self.path = path
        compiler = _Compiler(self.lists, env)
        self.steps = compiler.check()
        self.variables = sorted(compiler.variables)

    def __call__(self, state: State, key: jax.Array | None = None) -> jax.Array:
        context = make_context(self.env, state)
        context.variables = {name: jnp.float32(0.0) for name in self.variables}
        mask = state.legal_action_mask
        chosen = jnp.int32(-1)
        stopped = jnp.bool_(False)
        def run(steps, guard):
            nonlocal chosen, stopped
            for kind, condition, payload in steps:
                live = guard & ~stopped & (chosen < 0)
                holds = live if condition is None else live & (condition(context) != 0)
                if kind == "action":
                    action, legal = engine.action_on(self.env.spec, payload, context.target_slot, mask)
                    chosen = jnp.where(holds & legal, action, chosen)
                elif kind == "variable":
                    name, op, value = payload
                    new = value(context) if value is not None else jnp.float32(0.0)
                    context.variables[name] = jnp.where(holds, _apply_variable(op, context.variables[name], new),
                                                        context.variables[name])
                else:
                    run(payload, holds)
                    if kind == "run_action_list":
                        stopped = stopped | holds

        run(self.steps, jnp.bool_(True))
        return jnp.where(chosen < 0, self.env.wait_action, chosen).astype(jnp.int32)


def load_apl(env: Env, path: str | Path | None = None) -> Apl:
    """An APL file, or the spec's default APL (`[spec] default_apl`)."""
    if path is None:
        default = env.spec.settings.get("default_apl")
        if default is None:
            raise InputError(f"spec {env.spec.name} ships no default APL; give one with --apl")
        path = Path(env.spec.path).parent / default
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(f"cannot read APL: {error.strerror}", str(path)) from None
    return Apl(text, env, str(path))
