"""Character profiles in SimulationCraft's text format (what `/simc` exports).

Only what the simulator can use is read: class, spec, level, talents, set bonuses,
the `gear_*` stat totals, the main-hand weapon, trinkets and consumables by name (their
effects come from sim/data/items.toml), and external buffs. Item stats count only
through the `gear_*` lines (SimC's gear summary): Portunus has no item database.
A profile's own action lists (`actions...=`) are skipped with a note: give an APL with --apl.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from portunus.errors import InputError
from portunus.inputs import parse_number, read_text

CLASSES = (
    "deathknight", "demonhunter", "druid", "evoker", "hunter", "mage", "monk",
    "paladin", "priest", "rogue", "shaman", "warlock", "warrior",
)
ITEM_SLOTS = (
    "head", "neck", "shoulder", "shoulders", "back", "chest", "shirt", "tabard",
    "wrist", "wrists", "hands", "waist", "legs", "feet", "finger1", "finger2",
    "trinket1", "trinket2", "main_hand", "off_hand",
)
# gear_* keys read into stats, and the stat name they fill.
GEAR_STATS = {
    "gear_strength": "strength",
    "gear_agility": "agility",
    "gear_intellect": "intellect",
    "gear_stamina": "stamina",
    "gear_crit_rating": "crit_rating",
    "gear_haste_rating": "haste_rating",
    "gear_mastery_rating": "mastery_rating",
    "gear_versatility_rating": "versatility_rating",
    "gear_hit_rating": "hit_rating",             # Mists of Pandaria Classic
    "gear_expertise_rating": "expertise_rating",  # Mists of Pandaria Classic
}
# The game a profile is for (Portunus's `game=` line; SimC profiles are retail): the spec
# data file is `<spec>_<class>` plus this suffix.
GAMES = {"retail": "", "mop_classic": "_mop"}
# The one place numbers in a profile are checked: finite and in these ranges (generous bounds:
# beyond them no character exists, and the simulator's float32 arithmetic would overflow).
STAT_RANGE = (0.0, 1_000_000.0)           # gear_* totals and ratings
WEAPON_RANGES = {"speed": (0.5, 10.0), "min": (0.0, 10_000_000.0), "max": (0.0, 10_000_000.0)}


def _number(text: str, key: str, path: str, line: int, bounds: tuple[float, float]) -> float:
    return parse_number(text, key, *bounds, path=path, line=line)


# Keys SimC profiles carry that do not change the simulation here.
IGNORED_KEYS = (
    "race", "region", "server", "role", "professions", "source", "position",
    "covenant", "soulbind", "renown", "spec_id", "talent_override", "gear_ilvl",
    "save", "gear_armor", "class_talents", "spec_talents", "hero_talents",
)
# Consumables read by name (sim/data/items.toml gives their effect).
CONSUMABLES = ("potion", "flask", "food", "augmentation", "temporary_enchant")


@dataclasses.dataclass(frozen=True)
class Item:
    slot: str
    item_id: int | None
    options: dict[str, str]
    line: int
    name: str = ""   # SimC's item name, the first field of the line


@dataclasses.dataclass(frozen=True)
class CharacterProfile:
    """One character as the simulator needs it. Ratings are game combat ratings."""

    name: str
    class_name: str
    spec: str
    level: int = 90
    talents: str = ""
    gear: dict[str, float] = dataclasses.field(default_factory=dict)
    items: tuple[Item, ...] = ()
    weapon_dps: float | None = None
    weapon_speed: float | None = None
    notes: tuple[str, ...] = ()
    source: str = "<text>"
    set_bonuses: tuple[str, ...] = ()        # e.g. midnight_season_1_2pc
    consumables: dict[str, str] = dataclasses.field(default_factory=dict)   # potion, flask, ... -> item name
    external_buffs: tuple[str, ...] = ()     # e.g. power_infusion (Portunus's `external_buffs=` line)
    key_lines: dict[str, int] = dataclasses.field(default_factory=dict)
    game: str = "retail"                     # a key of GAMES
    glyphs: tuple[str, ...] = ()             # Mists of Pandaria: glyph names (SimC tokens)

    @property
    def potion(self) -> str:
        return self.consumables.get("potion", "")

    def line_of(self, key: str) -> int | None:
        """The line a key was read from (for error messages)."""
        return self.key_lines.get(key)

    @property
    def spec_key(self) -> str:
        """The spec's data-file name, e.g. 'retribution_paladin' ('retribution_paladin_mop' for
        a `game=mop_classic` character)."""
        return f"{self.spec}_{self.class_name}{GAMES[self.game]}"


def _parse_weapon(text: str, path: str, line: int) -> tuple[float, float]:
    """SimC's `weapon=TYPE_SPEEDspeed_MINmin_MAXmax` -> (dps, speed)."""
    speed = low = high = None
    for part in text.split("_"):
        for suffix in ("speed", "min", "max"):
            if part.endswith(suffix) and part[: -len(suffix)].replace(".", "", 1).isdigit():
                value = _number(part[: -len(suffix)], f"weapon {suffix}", path, line, WEAPON_RANGES[suffix])
                if suffix == "speed":
                    speed = value
                elif suffix == "min":
                    low = value
                else:
                    high = value
    if speed is None or low is None or high is None or speed <= 0 or high < low:
        raise InputError(
            f"weapon '{text}' must look like 2h_3.60speed_500min_700max "
            "(speed > 0, max >= min)", path, line)
    return (low + high) / 2.0 / speed, speed


def parse_profile(text: str, source: str = "<text>") -> CharacterProfile:
    """Parse SimC profile text. Raises InputError naming the line on bad input."""
    name = class_name = spec = None
    level = 90
    talents = ""
    gear: dict[str, float] = {}
    items: list[Item] = []
    notes: list[str] = []
    weapon_dps = weapon_speed = None
    ignored: list[str] = []
    set_bonuses: list[str] = []
    consumables: dict[str, str] = {}
    external: list[str] = []
    key_lines: dict[str, int] = {}
    action_lines = 0
    game = "retail"
    glyphs: list[str] = []

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise InputError(f"expected 'key=value', got '{line[:60]}'", source, number)
        key, value = (part.strip() for part in line.split("=", 1))
        key = key.lower()
        key_lines.setdefault(key, number)
        if key in CLASSES:
            if class_name is not None:
                raise InputError(f"a second character '{key}' in one profile", source, number)
            class_name, name = key, value.strip('"') or key
        elif key == "spec":
            spec = value.lower()
        elif key == "level":
            if not value.isdigit() or not 1 <= int(value) <= 100:
                raise InputError(f"level must be a whole number 1..100, got '{value}'", source, number)
            level = int(value)
        elif key == "talents":
            talents = value
        elif key in GEAR_STATS:
            gear[GEAR_STATS[key]] = _number(value, key, source, number, STAT_RANGE)
        elif key in ITEM_SLOTS:
            options = {}
            for part in value.split(",")[1:]:
                if not part:
                    continue
                if "=" not in part:
                    raise InputError(f"item option '{part}' in {key} needs 'name=value'", source, number)
                option, option_value = part.split("=", 1)
                options[option.strip()] = option_value.strip()
            item_id = options.get("id")
            if item_id is not None and not item_id.isdigit():
                raise InputError(f"item id must be a number, got '{item_id}'", source, number)
            if key == "main_hand" and "weapon" in options:
                weapon_dps, weapon_speed = _parse_weapon(options["weapon"], source, number)
            items.append(Item(key, int(item_id) if item_id else None, options, number,
                              value.split(",")[0].strip().lower()))
        elif key == "set_bonus":
            name, _, enabled = value.partition("=")
            if not name or enabled.strip() not in ("0", "1"):
                raise InputError(f"set_bonus must look like set_bonus=midnight_season_1_2pc=1, got '{value}'",
                                 source, number)
            if enabled.strip() == "1":
                set_bonuses.append(name.strip().lower())
        elif key in CONSUMABLES:
            consumables[key] = value.split(":")[-1].strip().lower()   # temporary_enchant=main_hand:NAME
        elif key == "game":
            game = value.lower()
            if game not in GAMES:
                raise InputError(f"game must be one of {', '.join(GAMES)}, got '{value}'", source, number)
        elif key == "glyphs":
            glyphs.extend(n.strip().lower().removeprefix("glyph_of_") for n in value.replace("/", ",").split(",")
                          if n.strip())
        elif key == "external_buffs":
            external.extend(n.strip().lower() for n in value.split(",") if n.strip())
        elif key.startswith("actions"):
            action_lines += 1
        elif key in IGNORED_KEYS or key.startswith(("loot", "shadowlands", "midnight", "tww", "df")):
            ignored.append(key)
        else:
            raise InputError(f"unknown profile key '{key}'", source, number)

    if class_name is None:
        raise InputError(
            "no character line: the profile must contain e.g. paladin=\"Name\"", source, None)
    if spec is None:
        raise InputError("no 'spec=' line", source, None)
    if action_lines:
        notes.append(f"{action_lines} action list line(s) skipped: Portunus plays the APL given with --apl "
                     "(or the spec's default)")
    if items:
        notes.append(
            f"{len(items)} item line(s) read: Portunus has no item database, so item stats "
            "count only through the gear_* lines (SimC's gear summary)")
    if weapon_dps is None and any(item.slot == "main_hand" for item in items):
        notes.append("main_hand has no weapon= option: using the spec's default weapon (estimate)")
    for key, stat in GEAR_STATS.items():
        mop = game == "mop_classic"
        if (stat in ("agility", "intellect", "stamina") or (stat in ("hit_rating", "expertise_rating") and not mop)
                or (stat == "versatility_rating" and mop)):
            continue
        if stat not in gear:
            notes.append(f"no {key} line: using 0")
    return CharacterProfile(
        name=name, class_name=class_name, spec=spec, level=level, talents=talents,
        gear=gear, items=tuple(items), weapon_dps=weapon_dps, weapon_speed=weapon_speed,
        notes=tuple(notes), source=source, set_bonuses=tuple(set_bonuses), consumables=consumables,
        external_buffs=tuple(external), key_lines=key_lines, game=game, glyphs=tuple(glyphs))


PROFILE_DIR = Path(__file__).parent / "profiles"
DEFAULT_PROFILE = PROFILE_DIR / "retribution_paladin_default.simc"


def shipped_profiles() -> list[str]:
    """Names of the shipped characters (`--profile NAME` works for these)."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.simc"))


def portable_profile(name: str) -> str:
    """A training config's profile as a model records it: a shipped character's file by its
    name ("default" for the default one), so an exported model names no machine's paths;
    any other file as given."""
    path = Path(name)
    if path.exists() and path.resolve() == DEFAULT_PROFILE.resolve():
        return "default"
    if path.exists() and path.resolve().parent == PROFILE_DIR.resolve() and path.suffix == ".simc":
        return path.stem
    return name


def profile_path(path: str | Path | None = None) -> Path:
    """A profile file, or a shipped character's file by name; None: the shipped default."""
    path = Path(path) if path is not None else DEFAULT_PROFILE
    if not path.exists() and (PROFILE_DIR / f"{path.name}.simc").exists():
        path = PROFILE_DIR / f"{path.name}.simc"
    return path


def load_profile(path: str | Path | None = None) -> CharacterProfile:
    """Read a profile file, or a shipped character by name (e.g. 'retribution_paladin_herald');
    None gives the shipped default character."""
    path = profile_path(path)
    if not path.exists():
        raise InputError(f"cannot read profile: no such file; shipped characters: {', '.join(shipped_profiles())}",
                         str(path))
    return parse_profile(read_text(path, "profile"), str(path))
