"""Random game situations for the addon tests: what the mock API returns, and the
GameSnapshot the addon must send for it (on the wire's grid, unknown where secret)."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from portunus.protocol import AuraState, CooldownState, EnemyState, GameSnapshot, KeystoneState, ResourceState
from tests.addon_harness import SECRET

GCD_SPELL = 61304


def _grid(raw_high: int, scale: int):
    return st.integers(0, raw_high).map(lambda raw: raw / scale)


centiseconds = _grid(60000, 100)        # under the wire's 655.34 s ceiling
positive_centiseconds = st.integers(1, 60000).map(lambda raw: raw / 100)


def _percent_on_wire(value: float) -> float:
    return min(math.floor(value * 100 + 0.5), 10000) / 100


@st.composite
def games(draw, spec, retail: bool = True, max_enemies: int = 8):
    """(game for MOCK, expected snapshot). With retail=False nothing is secret (Classic)."""
    secret = (lambda: draw(st.booleans())) if retail else (lambda: False)
    now = draw(st.integers(10_000_000, 4_000_000_000)) / 1000
    game = {"now": now, "specIndex": 1, "specId": spec.wow_spec_id, "cooldowns": {}, "charges": {},
            "playerAuras": {}, "power": {}, "units": {}}

    in_combat = None if secret() else draw(st.booleans())
    game["inCombat"] = SECRET if in_combat is None else in_combat
    combat_time = draw(st.integers(0, 3_600_000)).__truediv__(1000) if in_combat else None

    gcd = None if secret() else draw(centiseconds)
    game["cooldowns"][GCD_SPELL] = ({"startTime": SECRET, "duration": SECRET} if gcd is None else
                                    {"startTime": now - 0.25, "duration": gcd + 0.25} if gcd > 0 else
                                    {"startTime": 0, "duration": 0})

    cast_spell, cast_remaining = 0, 0.0
    if draw(st.booleans()):
        cast_spell = None if secret() else draw(st.integers(1, 2**31))
        cast_remaining = None if secret() else draw(centiseconds)
        game["casting"] = {"channel": draw(st.booleans()),
                           "spellId": SECRET if cast_spell is None else cast_spell,
                           "endMs": SECRET if cast_remaining is None else (now + cast_remaining) * 1000}

    resources = []
    for power in spec.resource_power_types:
        current = None if secret() else draw(st.integers(0, 10**6))
        maximum = None if secret() else draw(st.integers(0, 10**6))
        game["power"][power] = {"current": SECRET if current is None else current,
                                "maximum": SECRET if maximum is None else maximum}
        resources.append(ResourceState(current, maximum))

    cooldowns = []
    for spell, max_charges in zip(spec.ability_spell_ids, spec.tables.max_charges.tolist()):
        remaining = None if secret() else draw(centiseconds)
        if max_charges > 1:
            charges = None if secret() else draw(st.integers(0, max_charges))
            if charges is None:
                game["charges"][spell] = {"currentCharges": SECRET, "maxCharges": max_charges,
                                          "cooldownStartTime": SECRET, "cooldownDuration": SECRET}
                cooldowns.append(CooldownState(None, None))
                continue
            if charges == max_charges:
                remaining = 0.0
            start, duration = ((SECRET, SECRET) if remaining is None else
                               (now - 1.0, remaining + 1.0) if remaining > 0 else (0, 0))
            game["charges"][spell] = {"currentCharges": charges, "maxCharges": max_charges,
                                      "cooldownStartTime": start, "cooldownDuration": duration}
            cooldowns.append(CooldownState(remaining, charges))
        elif remaining is None:
            game["cooldowns"][spell] = {"startTime": SECRET, "duration": SECRET}
            cooldowns.append(CooldownState(None, None))
        elif gcd is not None and gcd > 0 and draw(st.booleans()):
            # Only the global cooldown is running on it: ready when the GCD ends.
            game["cooldowns"][spell] = {"startTime": now - 0.25, "duration": gcd + 0.25,
                                        "isOnGCD": True if retail else None}
            cooldowns.append(CooldownState(0.0, 1))
        else:
            game["cooldowns"][spell] = ({"startTime": now - 2.0, "duration": remaining + 2.0, "isOnGCD": False}
                                        if remaining > 0 else {"startTime": 0, "duration": 0})
            cooldowns.append(CooldownState(remaining, 1 if remaining == 0 else 0))

    buffs = []
    for spell in spec.buff_spell_ids:
        kind = draw(st.sampled_from(["absent", "present", "permanent"] + (["secret"] if retail else [])))
        if kind == "absent":
            buffs.append(AuraState(0.0, 0))
        elif kind == "secret":
            game["playerAuras"][spell] = SECRET
            buffs.append(AuraState(None, None))
        else:
            remaining = 655.34 if kind == "permanent" else draw(positive_centiseconds)
            applications = draw(st.integers(0, 10))
            game["playerAuras"][spell] = {
                "spellId": spell, "applications": applications,
                "duration": 0 if kind == "permanent" else remaining + 3.0,
                "expirationTime": 0 if kind == "permanent" else now + remaining}
            buffs.append(AuraState(remaining, max(applications, 1)))
    game["playerAuraList"] = list(game["playerAuras"].values()) if not retail else []

    enemies = []
    hostile_count = draw(st.integers(0, max_enemies))
    has_target = hostile_count > 0 and draw(st.booleans())
    plate = 0
    for index in range(hostile_count):
        enemy, expected = _enemy(draw, spec, now, secret)
        enemy["guid"] = f"Creature-{index}"
        if index == 0 and has_target:
            game["units"]["target"] = enemy
            plate += 1
            game["units"][f"nameplate{plate}"] = enemy     # the target's own nameplate: not twice
        else:
            plate += 1
            if draw(st.booleans()):                          # a friendly or a dead unit in between
                game["units"][f"nameplate{plate}"] = {"canAttack": draw(st.booleans()), "dead": True}
                plate += 1
            game["units"][f"nameplate{plate}"] = enemy
        enemies.append(expected)

    keystone = KeystoneState()
    if retail and draw(st.booleans()):
        map_id, level = draw(st.integers(1, 65000)), draw(st.integers(2, 40))
        time_limit, elapsed = draw(st.integers(600, 3600)), draw(st.integers(0, 5000))
        total = draw(st.integers(1, 1000))
        count = draw(st.integers(0, total))
        forces_secret = secret()
        game["keystone"] = {"mapId": map_id, "level": level, "timeLimit": time_limit, "elapsed": elapsed,
                            "criteria": [{"isWeightedProgress": False, "quantity": 1, "totalQuantity": 1},
                                         {"isWeightedProgress": True, "totalQuantity": total,
                                          "quantity": SECRET if forces_secret else count}]}
        keystone = KeystoneState(map_id, level, None if forces_secret else _percent_on_wire(count / total * 100),
                                 float(elapsed), float(time_limit))

    expected = GameSnapshot(
        spec_id=spec.wow_spec_id, game_time=now, combat_time=combat_time, in_combat=in_combat,
        gcd_remaining=gcd, cast_spell_id=cast_spell, cast_remaining=cast_remaining,
        resources=tuple(resources), cooldowns=tuple(cooldowns), buffs=tuple(buffs),
        enemies=tuple(enemies), keystone=keystone)
    return game, expected


def _enemy(draw, spec, now, secret):
    health_secret = secret()
    maximum = draw(st.integers(1, 4_000_000_000))
    health = draw(st.integers(0, maximum))
    in_range = None if secret() else draw(st.booleans())
    auras, debuffs = [], []
    if secret():
        auras.append(SECRET)
        debuffs = [AuraState(None, None)] * len(spec.debuff_spell_ids)
    else:
        for spell in spec.debuff_spell_ids:
            if draw(st.booleans()):
                remaining = draw(positive_centiseconds)
                stacks = draw(st.integers(0, 5))
                auras.append({"spellId": spell, "applications": stacks, "duration": remaining + 1.0,
                              "expirationTime": now + remaining})
                debuffs.append(AuraState(remaining, max(stacks, 1)))
            else:
                debuffs.append(AuraState(0.0, 0))
        auras.insert(draw(st.integers(0, len(auras))), {"spellId": 999999, "applications": 1,
                                                        "duration": 5.0, "expirationTime": now + 1})
    unit = {"canAttack": True, "dead": False, "maxHealth": SECRET if health_secret else maximum,
            "health": SECRET if health_secret else health, "inRange": in_range, "auras": auras}
    expected = EnemyState(
        health=None if health_secret else health, max_health=None if health_secret else maximum,
        health_pct=None if health_secret else _percent_on_wire(health / maximum * 100),
        in_range=in_range, debuffs=tuple(debuffs))
    return unit, expected
