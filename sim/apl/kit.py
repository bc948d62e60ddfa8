"""What an APL's names stand for in one character's kit.

SimC's own APLs name things as SimC does: `templars_verdict` for whichever verdict the
character has, `debuff.execution_sentence_debuff`, racials, interrupts, trinkets by item
name. A `Kit` answers, at compile time, what each such name is here:

- the spec's abilities, buffs and debuffs, by their names or by the SimC names the spec file
  maps onto them (`[spec] apl_simc_names = { templars_verdict = "final_verdict" }`);
- the character's items: which on-use trinket sits in which slot, with its data
  (sim/data/items.toml), from the character profile when one is given, else from the items
  the spec was compiled with;
- SimC's vocabulary (simc_names.toml): names that are valid in SimC but that Portunus does
  not model. Those are skipped (or read as down / 0) and collected in `skipped`, so the
  loader can print them on one warning line; a name in neither is a typo and an error.
"""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from pathlib import Path

from portunus.errors import InputError, line_of
from portunus.profile import CharacterProfile
from sim.env import Env

SIMC_NAMES_FILE = Path(__file__).parent / "simc_names.toml"
TRINKET_SLOTS = ("trinket1", "trinket2")
ALIASES_KEY = "apl_simc_names"   # the [spec] key: SimC name -> the spec's ability, buff or debuff


@functools.lru_cache(maxsize=1)
def simc_names() -> dict:
    """simc_names.toml, read once."""
    return tomllib.loads(SIMC_NAMES_FILE.read_text(encoding="utf-8"))


@dataclasses.dataclass(frozen=True)
class TrinketSlot:
    """One trinket slot of the character."""

    slot: str               # "trinket1"
    name: str               # SimC's item name ("" for an empty slot)
    data: dict | None       # its sim/data/items.toml entry (None: no data)
    ability: int | None     # the spec ability that uses it, when the character can (on-use with data)

    @property
    def on_use(self) -> bool:
        return self.ability is not None


class Kit:
    """A character's kit as an APL sees it; collects what the APL names but Portunus skips."""

    def __init__(self, env: Env, profile: CharacterProfile | None = None):
        profile = profile if profile is not None else env.profile
        self.env, self.spec = env, env.spec
        spec = self.spec
        names = simc_names()
        klass = spec.class_name
        self.simc_actions = set(names["generic_actions"] + names["racial_actions"] + names["consumable_actions"]
                                + names.get("class_actions", {}).get(klass, []))
        self.talent_tokens, self.hero_trees = _talent_data(klass)
        self.simc_buffs = set(names.get("class_buffs", {}).get(klass, [])) | self.talent_tokens
        self.ignored_options = set(names["ignored_options"])
        self.raid_events = set(names["raid_events"])
        self.aliases = self._read_aliases()
        self.trinkets = self._read_trinkets(profile)
        self.equipped = {t.name for t in self.trinkets.values() if t.name}
        if profile is not None:
            self.equipped |= {item.name for item in profile.items if item.name}
            self.equipped |= {str(item.item_id) for item in profile.items if item.item_id}
        self.skipped: dict[str, None] = {}   # what the APL names that Portunus skips, in order

    # ------------------------------------------------------------------ warnings
    def skip(self, what: str) -> None:
        """Record a SimC-valid name that Portunus does not model (once, in order)."""
        self.skipped.setdefault(what)

    # ------------------------------------------------------------------ spec names
    def ability(self, name: str) -> int | None:
        """The spec ability an APL action name means: its own name, or a SimC name the spec maps
        onto one or more abilities (the first the character has wins)."""
        abilities = self.spec.ability_names
        if name in abilities:
            return abilities.index(name)
        targets = [t for t in self.aliases.get(name, ()) if t in abilities]
        if not targets:
            return None
        enabled = [t for t in targets if self.spec.ability_enabled[abilities.index(t)]]
        return abilities.index((enabled or targets)[0])

    def named(self, name: str, known: tuple[str, ...]) -> str | None:
        """A buff or debuff (`known` names) by its name or its SimC name."""
        if name in known:
            return name
        return next((t for t in self.aliases.get(name, ()) if t in known), None)

    def hero_tree(self, token: str) -> bool | None:
        """Whether the character's hero tree is `token` (None: not a hero tree of the class)."""
        if token not in self.hero_trees:
            return None
        counts = {tree: sum(self.spec.talent(t) > 0 for t in talents) for tree, talents in self.hero_trees.items()}
        best = max(counts.values())
        return best > 0 and counts[token] == best

    # ------------------------------------------------------------------ items
    def slot_of_item(self, name: str) -> TrinketSlot | None:
        return next((t for t in self.trinkets.values() if t.name == name), None)

    def trinket(self, number: int) -> TrinketSlot:
        return self.trinkets[f"trinket{number}"]

    def item_ability(self, slot: str) -> int | None:
        """The enabled spec ability that uses the item slot `slot` (potion, trinket1, ...)."""
        for index, item_slot in enumerate(self.spec.ability_items):
            if item_slot == slot and self.spec.ability_enabled[index]:
                return index
        return None

    # ------------------------------------------------------------------ reading
    def _read_aliases(self) -> dict[str, tuple[str, ...]]:
        raw = self.spec.settings.get(ALIASES_KEY, {})

        def error(message: str) -> InputError:
            path = Path(self.spec.path)
            line = line_of(path.read_text(encoding="utf-8"), ALIASES_KEY) if path.exists() else None
            return InputError(f"[spec] {ALIASES_KEY}: {message}", self.spec.path, line)

        if not isinstance(raw, dict):
            raise error("must be a table: SimC name = \"the spec's name\"")
        known = set(self.spec.ability_names) | set(self.spec.buff_names) | set(self.spec.debuff_names)
        aliases = {}
        for simc_name, ours in raw.items():
            targets = (ours,) if isinstance(ours, str) else tuple(ours) if isinstance(ours, list) else ()
            bad = [t for t in targets if not isinstance(t, str) or t not in known] or ([] if targets else [ours])
            if bad:
                raise error(f"'{simc_name}' maps to {bad[0]!r}, which is not an ability, buff or debuff of the spec")
            aliases[simc_name] = targets
        return aliases

    def _read_trinkets(self, profile: CharacterProfile | None) -> dict[str, TrinketSlot]:
        from sim.stats import item_table

        known = item_table()
        slots = {}
        for slot in TRINKET_SLOTS:
            ability = self.item_ability(slot)
            if profile is not None:
                name = next((item.name for item in profile.items if item.slot == slot), "")
            elif ability is not None:
                # The spec compiled for this character labels the slot's ability with the item's
                # name (sim.spec._apply_items: "algethar_puzzle_box" -> "Algethar Puzzle Box").
                name = self.spec.ability_labels[ability].lower().replace(" ", "_")
            else:
                name = ""
            data = known.get(name)
            usable = ability if data is not None and data.get("use") else None
            slots[slot] = TrinketSlot(slot, name, data, usable)
        return slots


@functools.lru_cache(maxsize=8)
def _talent_data(class_name: str) -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    """(every talent token of the class, hero tree token -> its talent tokens); empty without
    talent data for the class."""
    from portunus.talents import load_tree, tokenize

    try:
        tree = load_tree(class_name)
    except InputError:
        return frozenset(), {}
    tokens = frozenset(e.token for n in tree.nodes for e in n.entries)
    heroes = {tokenize(name): frozenset(e.token for n in tree.nodes if n.tree == "hero"
                                        for e in n.entries if e.sub_tree == sub_tree)
              for sub_tree, name in tree.hero_trees.items()}
    return tokens, heroes
