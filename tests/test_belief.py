"""Beliefs from a partial view: every sampled state agrees with every known fact, hidden
cooldowns known not ready never come back as ready, and search over a belief never
recommends what the game would refuse."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

import sim
from sim.apl import load_apl
from sim.belief import sample_belief_fields
from sim.snapshot import snapshot_fields

pytestmark = pytest.mark.xdist_group("belief")


@pytest.fixture(scope="module")
def env():
    return sim.live_env()


@pytest.fixture(scope="module")
def snapshots(env):
    return sim.sample_snapshots(40, seed=3)


def hide(snapshot, rng):
    """The retail-combat view of a full snapshot, at random: remaining times hidden (flags,
    charges for 1-2 charges, own-cast times and highlights kept or hidden), auras secret."""
    cooldowns = []
    for cooldown in snapshot.cooldowns:
        ready = cooldown.remaining == 0.0
        since = float(rng.uniform(0, 40)) if rng.random() < 0.3 else None
        cooldowns.append(dataclasses.replace(
            cooldown, remaining=cooldown.remaining if rng.random() < 0.3 else None,
            charges=cooldown.charges if rng.random() < 0.5 else None,
            ready=ready if rng.random() < 0.8 else None, since_cast=since,
            overlayed=None if rng.random() < 0.5 else bool(rng.random() < 0.5),
            usable=None if rng.random() < 0.5 else bool(rng.random() < 0.5)))
    buffs = [aura if rng.random() < 0.4 else dataclasses.replace(aura, remaining=None, stacks=None)
             for aura in snapshot.buffs]
    enemies = [dataclasses.replace(enemy, debuffs=tuple(
        aura if rng.random() < 0.4 else dataclasses.replace(aura, remaining=None, stacks=None)
        for aura in enemy.debuffs)) for enemy in snapshot.enemies]
    return dataclasses.replace(snapshot, cooldowns=tuple(cooldowns), buffs=tuple(buffs), enemies=tuple(enemies))


def test_every_sample_agrees_with_what_is_known(env, snapshots):
    tables = env.spec.tables
    max_charges, base_cooldown = np.asarray(tables.max_charges), np.asarray(tables.cooldown)
    duration, makes_free = np.asarray(tables.buff_duration), np.asarray(tables.buff_makes_free)
    applies = np.asarray(tables.applies_buff)
    rng = np.random.default_rng(5)
    checked = {"not_ready": 0, "recharging": 0, "own_cast": 0, "highlight_off": 0, "cast_buff": 0, "cast_debuff": 0}
    for snapshot in snapshots:
        view = hide(snapshot, rng)
        base = snapshot_fields(env, view)
        for fields in sample_belief_fields(env, view, 4, seed=int(rng.integers(1 << 30))):
            for name in ("resources", "enemy_health", "enemy_max_health", "time"):
                np.testing.assert_array_equal(fields[name], base[name], err_msg=name)
            for a, cooldown in enumerate(view.cooldowns):
                length = base_cooldown[a]
                if cooldown.remaining is not None or length <= 0:
                    assert fields["charges"][a] == base["charges"][a] and fields["recharge"][a] == base["recharge"][a]
                    continue
                if cooldown.charges is not None:
                    assert fields["charges"][a] == min(cooldown.charges, max_charges[a])
                if cooldown.ready is False and cooldown.charges is None:
                    assert fields["charges"][a] == 0 and 0 < fields["recharge"][a] <= length
                    checked["not_ready"] += 1
                if fields["charges"][a] < max_charges[a]:
                    assert 0 < fields["recharge"][a] <= length
                    checked["recharging"] += 1
                    if cooldown.since_cast is not None and max_charges[a] == 1 and cooldown.since_cast < length:
                        assert fields["recharge"][a] == pytest.approx(max(length - cooldown.since_cast, 1e-3), abs=1e-3)
                        checked["own_cast"] += 1
            for b, aura in enumerate(view.buffs):
                if aura.remaining is not None or aura.stacks is not None:
                    assert fields["buff_remaining"][b] == base["buff_remaining"][b]
                    assert fields["buff_stacks"][b] == base["buff_stacks"][b]
                    continue
                up = fields["buff_remaining"][b] > 0
                assert (fields["buff_stacks"][b] > 0) == up and fields["buff_remaining"][b] <= duration[b]
                recent = [view.cooldowns[a].since_cast for a in np.flatnonzero(applies[:, b])
                          if view.cooldowns[a].since_cast is not None and view.cooldowns[a].since_cast < duration[b]]
                if recent:
                    assert up and fields["buff_remaining"][b] == pytest.approx(duration[b] - min(recent), abs=1e-3)
                    checked["cast_buff"] += 1
                elif any(view.cooldowns[a].overlayed is False for a in np.flatnonzero(makes_free[b])):
                    assert not up
                    checked["highlight_off"] += 1
            if view.enemies and base["enemy_alive"][0]:
                debuff_duration = np.asarray(tables.debuff_duration)
                applies_debuff = np.asarray(tables.applies_debuff)
                for d, aura in enumerate(view.enemies[0].debuffs):
                    recent = [view.cooldowns[a].since_cast for a in np.flatnonzero(applies_debuff[:, d])
                              if view.cooldowns[a].since_cast is not None
                              and view.cooldowns[a].since_cast < debuff_duration[d]]
                    if aura.remaining is None and recent:
                        assert fields["debuff_remaining"][0, d] == pytest.approx(
                            debuff_duration[d] - min(recent), abs=1e-3)
                        checked["cast_debuff"] += 1
                    else:
                        assert fields["debuff_remaining"][0, d] == base["debuff_remaining"][0, d]
    assert all(count > 0 for count in checked.values()), checked   # every rule was exercised


def test_a_hidden_cooldown_known_not_ready_is_never_recommended(env, snapshots):
    """Wake of Ashes on cooldown with its remaining time secret: the one-guess state thinks it
    ready (and legal); every belief sample knows it is not, and so does the merged advice."""
    wake = env.spec.ability_names.index("wake_of_ashes")
    snapshot = snapshots[5]
    cooldowns = list(snapshot.cooldowns)
    cooldowns[wake] = dataclasses.replace(cooldowns[wake], remaining=None, charges=None, ready=False)
    view = dataclasses.replace(snapshot, cooldowns=tuple(cooldowns))
    wake_action = env.spec.action_index("wake_of_ashes")
    assert bool(sim.from_snapshot(env, view).legal_action_mask[wake_action])   # the old guess: ready
    beliefs = sim.sample_beliefs(env, view, 6, seed=1)
    assert not np.asarray(beliefs.legal_action_mask[:, wake_action]).any()
    assert len(set(np.asarray(beliefs.recharge[:, wake]).round(3))) == 6        # six different guesses
    import search

    planner = search.Planner(env, search.SearchConfig(num_simulations=8))
    advice = planner.recommend_belief(beliefs, jax.random.key(0))
    assert advice.best_action.shape == (1,) and advice.best_action[0] != wake_action
    assert advice.legal[0, advice.best_action[0]] and advice.hold_action[0] >= 0
    assert 0 < advice.visit_counts.sum() <= 6 * 8     # each sample's 8 simulations, summed


def test_the_overlay_plans_over_a_belief_when_the_game_hides_values(env, snapshots):
    """The planner thread: where the APL would open with Wake of Ashes, the game shows it not
    ready with its remaining time hidden. The one-guess state takes it as ready and advises it;
    the belief (every mode) never does. A fully readable snapshot is advised from one state."""
    from overlay.recommender import Recommender
    from overlay.sources import OK, Reading
    from overlay.worker import PlannerWorker, Settings
    from sim.belief import has_hidden

    class Fixed:
        def __init__(self, snapshot):
            self.snapshot = snapshot

        def read(self):
            return Reading(OK, self.snapshot, 0.0, 0.0)

    def advice(snapshot, **settings):
        result = PlannerWorker(env, recommender, Fixed(snapshot), Settings(**settings)).refresh()
        assert result.error == ""
        return result.advice.best

    recommender = Recommender(env)
    wake = env.spec.ability_names.index("wake_of_ashes")
    opening = next(snapshot for snapshot in snapshots
                   if recommender.advise(sim.from_snapshot(env, snapshot), "apl").best == "wake_of_ashes")
    cooldowns = list(opening.cooldowns)
    cooldowns[wake] = dataclasses.replace(cooldowns[wake], remaining=None, charges=None, ready=False)
    hidden = dataclasses.replace(opening, cooldowns=tuple(cooldowns))
    assert has_hidden(hidden) and not has_hidden(opening)
    assert advice(hidden, mode="apl", belief_samples=1) == "wake_of_ashes"      # the one guess
    for mode in ("apl", "mcts"):
        assert advice(hidden, mode=mode, simulations=8, belief_samples=4) != "wake_of_ashes", mode
    assert advice(opening, mode="apl", belief_samples=4) == "wake_of_ashes"     # readable: one state


def test_the_retail_view_hides_what_retail_combat_hides(env, snapshots):
    """Remaining times only as "not cooling down", no auras, no enemy health or debuffs; the
    readable flags (ready, usable, charges of 1-2 charge spells) as the game computes them;
    and an ability the game calls unusable has no legal action in the state built from it."""
    import jax.numpy as jnp

    from sim.retail import retail_snapshot

    from sim.apl import load_apl

    apl = load_apl(env, warn=None)
    play = jax.jit(lambda state: jax.lax.fori_loop(0, 12, lambda _, s: env.step(s, apl(s)), state))
    state = play(env.init(jax.random.key(4)))
    since = np.full(env.spec.num_abilities, np.nan)
    since[env.spec.ability_names.index("wake_of_ashes")] = 4.0
    view = retail_snapshot(env, state, since_cast=since)
    charges, maximum = np.asarray(state.charges), np.asarray(env.spec.tables.max_charges)
    wake = env.spec.ability_names.index("wake_of_ashes")
    assert charges[wake] == 0   # the opener used it: cooling down, the addon estimates from its own cast
    assert view.cooldowns[wake].remaining == pytest.approx(float(env.spec.tables.cooldown[wake]) - 4.0)
    assert view.cooldowns[wake].estimated is True
    assert view.cooldowns[wake].since_cast == 4.0
    legal = np.asarray(state.legal_action_mask)
    for a, cooldown in enumerate(view.cooldowns):
        assert cooldown.ready == (charges[a] > 0)
        if a != wake:
            assert (cooldown.remaining == 0.0) if charges[a] >= maximum[a] else cooldown.remaining is None
        assert cooldown.usable == bool(legal[np.asarray(env.spec.action_ability) == a].any())
        if maximum[a] <= 2:
            assert cooldown.charges == charges[a]
    assert all(aura.remaining is None and aura.stacks is None for aura in view.buffs)
    assert all(enemy.health is None and enemy.health_pct is None for enemy in view.enemies)
    seen = sim.from_snapshot(env, view)
    mask = np.asarray(seen.legal_action_mask)
    for a, cooldown in enumerate(view.cooldowns):
        if cooldown.usable is False:
            assert not mask[np.asarray(env.spec.action_ability) == a].any()
    assert mask[env.wait_action] and bool(jnp.any(seen.legal_action_mask))


def test_views_are_played_on_the_same_episodes():
    """The retail-view measurement in a small configuration: the full view against itself is
    exact, the one-guess and belief views are paired with it and press nothing the game refuses."""
    from train.views import default_env, play_views

    result = play_views(default_env("patchwerk:15"), "apl", episodes=2)
    views = result["views"]
    assert tuple(views) == ("full", "retail", "retail_belief", "retail_particles", "assistant")
    assert views["full"]["damage"]["n"] == 2 and views["full"]["refused_presses"] == 0
    for view in ("retail", "retail_belief", "retail_particles", "assistant"):
        assert views[view]["versus_full"]["percent"]["n"] == 2
        assert views[view]["refused_presses"] == 0        # usable flags keep every press legal
    # The game's pick is another policy: it plays these episodes differently from the APL.
    assert views["assistant"]["episode_damage"] != views["full"]["episode_damage"]
    assert views["retail_belief"]["versus_assistant"]["percent"]["n"] == 2 and "versus_assistant" in views["full"]
    again = play_views(default_env("patchwerk:15"), "apl", views=("full",), episodes=2)
    assert again["views"]["full"]["damage"]["mean"] == views["full"]["damage"]["mean"]


def test_buff_uptime_is_the_share_of_decisions_a_buff_is_up():
    """Bloodlust lasts 40 s of a 300 s Patchwerk from the pull (more decisions fall in it: it
    hastes them); a buff the character never gets is never up; shares are shares."""
    from sim.belief import buff_uptime
    from train.views import default_env

    env = default_env("patchwerk:300")
    uptime = buff_uptime(env, fights=4, decisions=400)
    names = env.spec.buff_names
    assert np.all((uptime >= 0) & (uptime <= 1))
    assert 40 / 300 < uptime[names.index("bloodlust")] < 0.25
    assert uptime[names.index("dawnlight")] == 0.0      # a Herald buff; the default character is a Templar


def test_samples_allow_exactly_what_the_game_reports_usable():
    """Along an APL fight seen as retail shows it, every sample's legal abilities are the ones the
    game reports usable (a sample that contradicts a usable flag is drawn again), and a lit
    button has one of the buffs that make it free."""
    from sim.belief import buff_uptime, sample_beliefs
    from sim.retail import retail_snapshot
    from train.views import default_env

    env = default_env("patchwerk:60")
    apl, step = jax.jit(load_apl(env, warn=None)), jax.jit(env.step)
    owner, prior = np.asarray(env.spec.action_ability), buff_uptime(env, fights=4, decisions=128)
    makes_free = np.asarray(env.spec.tables.buff_makes_free)
    state, pressed, checked = env.init(jax.random.key(5)), np.full(env.spec.num_abilities, np.nan), 0
    for decision in range(48):
        view = retail_snapshot(env, state, decision, float(state.time) - pressed)
        beliefs = sample_beliefs(env, view, 8, seed=decision, buff_prior=prior)
        legal = np.asarray(beliefs.legal_action_mask)
        for ability, cooldown in enumerate(view.cooldowns):
            assert (legal[:, owner == ability].any(axis=1) == cooldown.usable).all(), env.spec.ability_names[ability]
            if cooldown.overlayed:
                assert (np.asarray(beliefs.buff_remaining)[:, makes_free[:, ability]] > 0).any(axis=1).all()
                checked += 1
        action = int(apl(state))
        if owner[action] < env.spec.num_abilities:
            pressed[owner[action]] = float(state.time)
        state = step(state, action)
    assert checked > 0
