"""Random GameSnapshots on the wire's grid (so a round trip is exact), for
hypothesis and for the numpy-driven fuzz test."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from portunus.protocol import AuraState, CooldownState, EnemyState, GameSnapshot, KeystoneState, ResourceState

U8, U16, U32 = 0xFE, 0xFFFE, 0xFFFFFFFE


def _maybe(strategy):
    return st.one_of(st.none(), strategy)


def _scaled(high: int, scale: int):
    return _maybe(st.integers(0, high).map(lambda raw: raw / scale if scale != 1 else raw))


centiseconds, milliseconds, percent = _scaled(U16, 100), _scaled(U32, 1000), _scaled(10000, 100)
u8, u16, u32 = _scaled(U8, 1), _scaled(U16, 1), _scaled(U32, 1)
flag = _maybe(st.booleans())
auras = st.builds(AuraState, centiseconds, u8)
cooldown_states = st.builds(CooldownState, centiseconds, u8, u8, flag, flag, flag, flag, flag, centiseconds,
                            centiseconds)


@st.composite
def snapshots(draw, abilities: int | None = None, buffs: int | None = None, debuffs: int | None = None,
              resources: int | None = None, max_enemies: int = 16):
    count = lambda fixed, high: fixed if fixed is not None else draw(st.integers(0, high))  # noqa: E731
    num_debuffs, num_resources = count(debuffs, 5), count(resources, 3)
    num_abilities, num_buffs = count(abilities, 12), count(buffs, 8)
    enemy = st.builds(EnemyState, u32, u32, percent, flag, st.tuples(*[auras] * num_debuffs))
    exactly = lambda strategy, n: st.lists(strategy, min_size=n, max_size=n).map(tuple)  # noqa: E731
    return GameSnapshot(
        spec_id=draw(st.integers(0, U16)), frame=draw(st.integers(0, 0xFFFF)),
        game_time=draw(milliseconds), combat_time=draw(milliseconds), in_combat=draw(flag),
        gcd_remaining=draw(centiseconds), cast_spell_id=draw(u32), cast_remaining=draw(centiseconds),
        resources=draw(exactly(st.builds(ResourceState, u32, u32), num_resources)),
        cooldowns=draw(exactly(st.builds(CooldownState, centiseconds, u8), num_abilities)),
        buffs=draw(exactly(auras, num_buffs)),
        enemies=tuple(draw(st.lists(enemy, max_size=max_enemies))),
        keystone=draw(st.builds(KeystoneState, u16, u8, percent, milliseconds, milliseconds)),
    )


def random_snapshot(rng: np.random.Generator) -> GameSnapshot:
    """A quick random snapshot for fuzzing (no hypothesis overhead); a quarter of fields unknown."""

    def value(high: int, scale: int = 1):
        if rng.random() < 0.25:
            return None
        raw = int(rng.integers(0, high + 1))
        return raw / scale if scale != 1 else raw

    def aura():
        return AuraState(value(U16, 100), value(U8))

    def flag():
        return None if rng.random() < 0.25 else bool(rng.random() < .5)

    def cooldown():
        return CooldownState(value(U16, 100), value(U8), value(U8), flag(), flag(), flag(), flag(), flag(),
                             value(U16, 100), value(U16, 100))

    num_debuffs = int(rng.integers(0, 4))
    enemies = tuple(
        EnemyState(value(U32), value(U32), value(10000, 100), flag(), tuple(aura() for _ in range(num_debuffs)))
        for _ in range(int(rng.integers(0, 9))))
    return GameSnapshot(
        spec_id=int(rng.integers(0, 1000)), frame=int(rng.integers(0, 65536)), game_time=value(U32, 1000),
        combat_time=value(U32, 1000), in_combat=bool(rng.random() < .5), gcd_remaining=value(U16, 100),
        cast_spell_id=value(U32), cast_remaining=value(U16, 100), assisted_spell_id=value(U32),
        resources=tuple(ResourceState(value(U32), value(U32)) for _ in range(int(rng.integers(0, 3)))),
        cooldowns=tuple(cooldown() for _ in range(int(rng.integers(0, 12)))),
        buffs=tuple(aura() for _ in range(int(rng.integers(0, 6)))),
        enemies=enemies,
        keystone=KeystoneState(value(U16), value(U8), value(10000, 100), value(U32, 1000), value(U32, 1000)),
    )
