"""Shared fixtures: a test character with round numbers, and env builders."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import tempfile
from pathlib import Path

# One persistent XLA compilation cache for the whole test run, shared by the xdist workers
# and the subprocesses tests start: many tests compile the same step, search and training
# programs, and on 2 CPU cores compiling is most of the suite's time. Set before JAX compiles
# anything; a cache the caller chose is left alone. Removed at the end of the run.
_RUN_ID = os.environ.get("PYTEST_XDIST_TESTRUNUID") or str(os.getpid())
COMPILE_CACHE = Path(tempfile.gettempdir()) / f"portunus-test-xla-cache-{_RUN_ID}"
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    os.environ["JAX_COMPILATION_CACHE_DIR"] = str(COMPILE_CACHE)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.2")
# Fewer XLA optimization passes: most tests run a program a few times after compiling it,
# so compiling faster wins (measured on 2 cores: 75 s -> 62 s for a training and a search
# test). Benchmarks, not tests, measure speed; subprocesses inherit the same setting.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import pytest  # noqa: E402

import sim  # noqa: E402
from portunus.profile import parse_profile  # noqa: E402

# Round numbers so expected damage can be computed by hand. The character has the baseline
# kit and a few talents that change no number (tests that need a talent add it with
# `profile_with(talents=...)`); sims built with `make_test_env` leave out raid buffs.
# Strength (base + 1800 gear) x 1.05 plus the weapon's 250 dps x 6 is attack power; spell power
# is 96 % of it; 5 % base crit; no haste, no versatility; 8 base mastery points (+10.8 %).
BASE_TALENTS = ("final_verdict,divine_storm,blade_of_justice,wake_of_ashes,avenging_wrath,divine_toll,"
                "execution_sentence,expurgation,art_of_war,divine_purpose")
TEST_PROFILE = f"""
paladin="Tester"
level=90
spec=retribution
talents={BASE_TALENTS}
gear_strength=1800
gear_crit_rating=0
gear_haste_rating=0
gear_mastery_rating=0
gear_versatility_rating=0
main_hand=,id=1,weapon=2h_3.60speed_900min_900max
"""
BASE_STRENGTH = sim.load_spec("retribution_paladin").settings["base_primary_stat"]  # an estimate: read, not typed
ATTACK_POWER = (BASE_STRENGTH + 1800.0) * 1.05 + 250.0 * 6.0
SPELL_POWER = 0.96 * ATTACK_POWER   # 1258011#1
MASTERY = 1.0 + 8 * 0.0135
EXPECTED_CRIT = 1.05          # expected-value crit factor at 5 % crit, x2 damage
ARMOR = 0.70 * 1.0            # physical damage after 30 % armor (no Mystic Touch without raid buffs)


def profile_with(talents: str = "", **gear):
    """The test character with more talents (comma-separated names) or gear ratings."""
    text = TEST_PROFILE
    if talents:
        text = text.replace(f"talents={BASE_TALENTS}", f"talents={BASE_TALENTS},{talents}")
    for key, value in gear.items():
        text = text.replace(f"gear_{key}=0", f"gear_{key}={value}")
    return parse_profile(text, "test.simc")


def make_test_env(profile, fight=None, expected_value=True, nominal_dps=None):
    """The test character in a fight without raid buffs or Bloodlust (hand-computable numbers)."""
    if fight is None:
        fight = sim.patchwerk(bloodlust_at=None)
    fight = dataclasses.replace(fight, raid_debuffs=False, bloodlust_at=None)
    return sim.make("retribution_paladin", profile, fight, expected_value=expected_value, raid_buffs=False,
                    nominal_dps=nominal_dps)


@functools.lru_cache(maxsize=None)
def character_dps() -> float:
    """The test character's damage rate under the default APL (expected-value mode, 300 s
    Patchwerk): the steady rate search should extrapolate with for this character."""
    from sim.apl import load_apl
    from sim.rollout import rollout

    env = make_test_env(profile_with())
    final = rollout(env, load_apl(env, warn=None), jax.random.key(0), 1, chunk_steps=128)
    return float(final.damage_done[0] / final.time[0])


@pytest.fixture(scope="session")
def spec():
    return sim.load_spec("retribution_paladin")


@pytest.fixture(scope="session")
def test_profile():
    return profile_with()


@functools.lru_cache(maxsize=None)
def _jitted(env):
    return jax.jit(env.step)


def jit_step(env):
    """One compiled step function per env (cached across tests)."""
    return _jitted(env)


def with_resources(env, state, holy_power):
    state = state.replace(resources=jnp.array([holy_power], jnp.float32))
    return state.replace(legal_action_mask=env.legal_action_mask(state))


def act(env, state, name):
    """Step with the named action; fails the test if it was illegal."""
    index = env.spec.action_index(name)
    assert bool(state.legal_action_mask[index]), f"{name} should be legal here"
    state = jit_step(env)(state, index)
    assert not bool(state.illegal_action)
    return state


def pytest_sessionfinish(session):
    if not hasattr(session.config, "workerinput"):  # the controller, after every worker is done
        shutil.rmtree(COMPILE_CACHE, ignore_errors=True)
