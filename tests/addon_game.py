"""Random game situations for the addon tests: what the mock API returns, and the
GameSnapshot the addon must send for it (on the wire's grid, unknown where secret).

Retail games follow 12.x (shared/reference/wow-12-addon-api.md): cooldown and charge
times may be secret while isActive / isOnGCD / maxCharges stay readable, auras the
game hides are not returned at all, UnitIsUnit is secret on dungeon maps, weighted
criteria carry the percentage. Classic games have no secrets and none of the retail
APIs."""

from __future__ import annotations

import copy
import dataclasses
import math

from hypothesis import strategies as st

from portunus.addon_tables import ITEM_SLOTS
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
def games(draw, spec, retail: bool = True, max_enemies: int = 4):   # the addon's default
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

    usable = {}
    overlayed = {}
    rotation = [spell for spell in spec.ability_spell_ids if retail and draw(st.booleans())]
    cooldowns = []
    game["items"] = {}
    for spell, max_charges, item in zip(spec.ability_spell_ids, spec.tables.max_charges.tolist(), spec.ability_items):
        timing_secret = secret()
        if item in ITEM_SLOTS:
            # An on-use trinket: its slot's cooldown; usable, glow and the assistant do not apply.
            info, cooldown = _single(draw, now, None, timing_secret, retail)
            game["items"][ITEM_SLOTS[item]] = info
            # Hidden times leave it unknown: an item has no isActive flag to read instead.
            cooldowns.append(CooldownState(None, None, 1) if timing_secret else cooldown)
            continue
        flags = {"usable": draw(st.booleans()),
                 "overlayed": draw(st.booleans()) if retail else None,
                 "assisted": (spell in rotation) if retail else None}
        usable[spell] = flags["usable"]
        if retail:
            overlayed[spell] = flags["overlayed"]
        if max_charges > 1:
            game["cooldowns"][spell], game["charges"][spell], cooldown = _charged(
                draw, now, max_charges, timing_secret, secret() and retail, retail)
        else:
            game["cooldowns"][spell], cooldown = _single(draw, now, gcd, timing_secret, retail)
        cooldowns.append(dataclasses.replace(cooldown, **flags))
    game["usable"], game["overlayed"] = usable, overlayed
    pick = None
    if retail:
        pick = draw(st.sampled_from([0, *spec.ability_spell_ids]))
        game["assisted"] = {"pick": pick or None, "rotation": rotation}

    buffs = []
    secret_auras = {}
    for spell in spec.buff_spell_ids + spec.debuff_spell_ids:
        secret_auras[spell] = retail and draw(st.booleans())
    game["secretAuras"] = secret_auras
    for spell in spec.buff_spell_ids:
        if spell == 0:   # an item's buff: the addon cannot know its spell
            buffs.append(AuraState(None, None))
            continue
        kind = draw(st.sampled_from(["absent", "present", "permanent"] + (["secret"] if retail else [])))
        if secret_auras[spell]:
            # 12.x hides the aura: GetPlayerAuraBySpellID returns nothing whether it is there or
            # not, and C_Secrets says so. Unknown, never "absent".
            if kind != "absent":
                game["playerAuras"][spell] = {"spellId": spell, "applications": 1, "duration": 10.0,
                                              "expirationTime": now + 5.0}
            buffs.append(AuraState(None, None))
        elif kind == "absent":
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
    game["dungeon"] = retail and draw(st.booleans())     # UnitIsUnit secret: plates decide the target
    hostile_count = draw(st.integers(0, max_enemies))
    has_target = hostile_count > 0 and draw(st.booleans())
    plate = 0
    for index in range(hostile_count):
        enemy, expected = _enemy(draw, spec, now, secret, secret_auras)
        enemy["guid"] = f"Creature-{index}"
        if index == 0 and has_target:
            game["units"]["target"] = enemy
            plate += 1
            # The target's own nameplate, not to be counted twice. A copy: lupa turns the second
            # sight of one Python object into an empty table.
            game["units"][f"nameplate{plate}"] = copy.deepcopy(enemy)
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
        # Weighted progress: `quantity` is the percentage already (a kill can push it past 100),
        # totalQuantity the count behind it, which the addon must not divide by.
        total = draw(st.integers(1, 1000))
        percent = draw(st.integers(0, 10100)) / 100
        forces_secret = secret()
        game["keystone"] = {"mapId": map_id, "level": level, "timeLimit": time_limit, "elapsed": elapsed,
                            "criteria": [{"isWeightedProgress": False, "quantity": 1, "totalQuantity": 1},
                                         {"isWeightedProgress": True, "totalQuantity": total,
                                          "quantity": SECRET if forces_secret else percent}]}
        keystone = KeystoneState(map_id, level, None if forces_secret else _percent_on_wire(percent),
                                 float(elapsed), float(time_limit))

    expected = GameSnapshot(
        spec_id=spec.wow_spec_id, game_time=now, combat_time=combat_time, in_combat=in_combat,
        gcd_remaining=gcd, cast_spell_id=cast_spell, cast_remaining=cast_remaining, assisted_spell_id=pick,
        resources=tuple(resources), cooldowns=tuple(cooldowns), buffs=tuple(buffs),
        enemies=tuple(enemies), keystone=keystone)
    return game, expected


def _single(draw, now, gcd, timing_secret, retail):
    """A spell without charges: (C_Spell.GetSpellCooldown's table, expected CooldownState)."""
    state = draw(st.sampled_from(["ready", "cooling"] + (["gcd"] if gcd is not None and gcd > 0 else [])))
    if state == "ready":
        info = {"startTime": 0, "duration": 0, "isActive": False, "isOnGCD": False}
        expected = CooldownState(0.0, 1, 1, ready=True, estimated=False)
    elif state == "gcd":
        # Only the global cooldown runs on it: ready when the GCD ends (Classic: the same start and
        # duration as the GCD; retail: isOnGCD, readable even when the times are secret).
        info = {"startTime": now - 0.25, "duration": gcd + 0.25, "isActive": True,
                "isOnGCD": True if retail else None}
        expected = CooldownState(0.0, 1, 1, ready=True, estimated=False)
    else:
        remaining = draw(positive_centiseconds)
        info = {"startTime": now - 2.0, "duration": remaining + 2.0, "isActive": True, "isOnGCD": False}
        expected = CooldownState(remaining, 0, 1, ready=False, estimated=False,
                                 duration=_centiseconds(remaining + 2.0))
        if timing_secret:      # remaining unknown: no own cast seen, so nothing to estimate from
            expected = CooldownState(None, 0, 1, ready=False)
    if timing_secret:
        info = {**info, "startTime": SECRET, "duration": SECRET}
    return info, expected


def _charged(draw, now, max_charges, timing_secret, count_secret, retail):
    """A spell with charges: (GetSpellCooldown's table, GetSpellCharges' table, expected CooldownState).
    On retail the count may be secret too: the flags then give it (0 when the cooldown is active,
    all when no recharge runs, 1 of 2 while one recharges)."""
    charges = draw(st.integers(0, max_charges))
    recharge = draw(st.integers(100, 3000)) / 100
    remaining = 0.0 if charges == max_charges else draw(st.integers(1, int(recharge * 100))) / 100
    start = 0 if charges == max_charges else now - (recharge - remaining)
    charge_info = {"currentCharges": SECRET if count_secret else charges, "maxCharges": max_charges,
                   "cooldownStartTime": SECRET if timing_secret else start,
                   "cooldownDuration": SECRET if timing_secret else recharge, "isActive": charges < max_charges}
    if charges == 0:
        info = {"startTime": now - (recharge - remaining), "duration": recharge, "isActive": True, "isOnGCD": False}
    else:
        info = {"startTime": 0, "duration": 0, "isActive": False, "isOnGCD": False}
    if timing_secret:
        info = {**info, "startTime": SECRET, "duration": SECRET}
    known_count = charges if (not count_secret or charges in (0, max_charges) or max_charges == 2) else None
    exact = not timing_secret or charges == max_charges
    expected = CooldownState(remaining if exact else None, known_count, max_charges, ready=charges > 0,
                             estimated=False if exact else None,
                             duration=None if timing_secret else _centiseconds(recharge))
    return info, charge_info, expected


def _centiseconds(value: float) -> float:
    return min(math.floor(value * 100 + 0.5), 65534) / 100


def _enemy(draw, spec, now, secret, secret_auras):
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
            elif secret_auras[spell]:
                debuffs.append(AuraState(None, None))   # not found, and the game may hide it
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
