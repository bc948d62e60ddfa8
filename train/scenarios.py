"""The evaluation suite: fights that each put one kind of decision to the test.

`portunus evaluate --suite` plays every scenario; each states the decision it tests,
so a result can be read as "search finds better X than the APL" rather than as one
number. Fights are named as in the training config (see `train.envs.parse_fight`).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    fight: str          # a fight name for `parse_fight`
    tests: str          # the decision this scenario puts to the test


SUITE = (
    Scenario("patchwerk", "patchwerk:300",
             "single-target sequencing: spender timing around Art of War / Empyrean Power procs and "
             "lining up Wake of Ashes, Avenging Wrath and Divine Toll with Bloodlust at the pull"),
    Scenario("aoe3", "aoe:3", "target choice (Judgment, Hammer of Wrath, DoTs on the enemy that lives longest) "
                              "and single-target against AoE spenders at the breakpoint"),
    Scenario("aoe5", "aoe:5", "AoE spenders and cooldowns while enemies die one after another"),
    Scenario("aoe8", "aoe:8", "AoE beyond the soft cap of 5 targets: which hits still pay"),
    Scenario("bloodlust_late", "patchwerk:300,bloodlust=90",
             "holding cooldowns for Bloodlust that comes 90 s into the fight"),
    Scenario("hold_for_big_pull", "route:hold_for_big_pull",
             "holding Wake of Ashes / Avenging Wrath through a small pull for the larger one 12 s later"),
    Scenario("route", "route:sample_keystone,own_damage=1",
             "a whole keystone: cooldowns across pulls and travel, scored by clear time and own damage "
             "(a second of the player's damage at the nominal DPS weighs a second of the clear)"),
)
# Not in the suite yet, because the simulator cannot express them: adds that arrive mid-fight
# (SimC's DungeonSlice timings need enemies with spawn times) and an execute phase (12.0's
# Retribution kit has no execute-only decision: Hammer of Wrath is usable through Wrath).
MISSING = {
    "adds_mid_fight": "needs enemies with spawn times in the fight tables (not modelled)",
    "execute": "no execute-only decision in the 12.0 Retribution kit (Hammer of Wrath follows Wrath)",
}


def scenario_fights(names: tuple[str, ...] | None = None) -> list[Scenario]:
    """The suite, or the named scenarios of it."""
    if names is None:
        return list(SUITE)
    known = {scenario.name: scenario for scenario in SUITE}
    unknown = [name for name in names if name not in known]
    if unknown:
        from portunus.errors import InputError

        raise InputError(f"unknown scenario {', '.join(unknown)}; the suite has {', '.join(known)}")
    return [known[name] for name in names]
