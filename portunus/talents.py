"""Talents from a profile: the game's loadout export string, or a readable name list.

The `talents=` line of a SimC profile is the in-game "Export loadout" string
(Blizzard's `ExportUtil`, as SimC's `parse_traits_hash` reads it): base64 in
Blizzard's alphabet, read as a little-endian bit stream of 6 bits a character:

    8 bits  serialization version (2)
    16 bits specialization id
    128 bits tree hash (SimC writes zeros; ignored, as SimC does)
    then, for every trait node of the class in ascending node id:
      1 bit  selected; if set:
      1 bit  purchased (clear: a granted node, rank 1); if set:
        1 bit  partially ranked; if set, 6 bits rank
        1 bit  choice; if set, 2 bits entry index (0-based, in the node's order)

The node walk covers every node of the class (all specs, all hero trees, the
hero-tree selection nodes), so decoding needs the exact tree of the game build
that wrote the string. `portunus/data/talents/<class>.json` holds that tree,
made by `scripts/extract_talent_tree.py` from SimC's generated trait data; its
`source` names the SimC commit and game build.

Talent names are SimC's tokens (`radiant_glory`, `art_of_war`,
`lights_guidance`): what APLs write after `talent.`.

Public: `decode_talent_string`, `encode_talent_string`, `loadout_from_names`,
`read_talents` (either form, as a profile's `talents=` may hold), the
`TalentLoadout` they return, and `load_tree` for the data itself.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from portunus.errors import InputError, closest

DATA_DIR = Path(__file__).parent / "data" / "talents"

BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
SERIALIZATION_VERSION = 2
VERSION_BITS, SPEC_BITS, TREE_HASH_BITS = 8, 16, 128
RANK_BITS, CHOICE_BITS = 6, 2
HEADER_BITS = VERSION_BITS + SPEC_BITS + TREE_HASH_BITS


@dataclasses.dataclass(frozen=True)
class TalentEntry:
    """One choosable talent on a node (a choice node has several)."""

    entry: int            # trait node entry id: what the game and SimC key ranks by
    name: str
    token: str            # SimC's spelling, as in `talent.<token>`
    max_ranks: int
    spell: int
    specs: tuple[int, ...]          # specs that may take it; empty: every spec
    starter_specs: tuple[int, ...]  # specs that get it free (rank 1, not purchased)
    sub_tree: int                   # hero tree id for hero and selection entries, else 0


@dataclasses.dataclass(frozen=True)
class TalentNode:
    node: int
    tree: str     # "class", "spec", "hero" or "selection" (which hero tree)
    kind: str     # "single", "tiered" (ranks flow through the entries), "choice", "selection"
    row: int
    col: int
    entries: tuple[TalentEntry, ...]

    @property
    def is_choice(self) -> bool:
        return self.kind in ("choice", "selection")

    def max_rank(self, index: int = 0) -> int:
        if self.kind == "tiered":
            return sum(e.max_ranks for e in self.entries)
        return self.entries[index].max_ranks


@dataclasses.dataclass(frozen=True)
class TalentTree:
    """Every trait node of one class, in the order the export string walks them."""

    class_name: str
    specs: Mapping[int, str]         # spec id -> spec name
    hero_trees: Mapping[int, str]    # hero sub-tree id -> name
    nodes: tuple[TalentNode, ...]
    source: Mapping[str, str]

    def spec_id(self, spec: int | str) -> int:
        """A spec id from an id or a name ('retribution'), or a one-line error."""
        if isinstance(spec, str) and not spec.strip().isdigit():
            by_name = {name: sid for sid, name in self.specs.items()}
            if spec.strip().lower() in by_name:
                return by_name[spec.strip().lower()]
            raise InputError(f"unknown {self.class_name} spec '{spec}'"
                             f"{closest(spec.strip().lower(), list(by_name))}")
        spec_id = int(spec)
        if spec_id not in self.specs:
            known = ", ".join(f"{sid} {name}" for sid, name in self.specs.items())
            raise InputError(f"spec id {spec_id} is not a {self.class_name} specialization "
                             f"({known})")
        return spec_id

    def hero_trees_for(self, spec_id: int) -> dict[int, str]:
        """The hero trees a spec may pick: the entries of its selection node."""
        return {e.sub_tree: self.hero_trees[e.sub_tree]
                for n in self.nodes if n.tree == "selection"
                for e in n.entries if spec_id in e.specs}

    def available(self, node: TalentNode, entry: TalentEntry, spec_id: int) -> bool:
        """May the spec take it? Hero talents go by their tree, as SimC's parser does."""
        if node.tree == "hero":
            return entry.sub_tree in self.hero_trees_for(spec_id)
        return not entry.specs or spec_id in entry.specs

    def granted(self, node: TalentNode, entry: TalentEntry, spec_id: int) -> bool:
        """Free rank-1 talents, which the string marks selected but not purchased.

        A spec's starter talents, and the first-row talent of every hero tree
        the spec may pick (chosen or not: SimC's strings mark both); a hero
        tree's talents count only when it is the chosen one.
        """
        if node.tree == "hero":
            return (node.row == 1 and entry.sub_tree in self.hero_trees_for(spec_id)
                    and (not entry.specs or spec_id in entry.specs))
        if node.tree == "selection":
            return False
        return spec_id in entry.starter_specs


@dataclasses.dataclass(frozen=True)
class TalentLoadout:
    """A spec's chosen talents: SimC token -> rank, plus the hero tree.

    `talents` includes granted ones (e.g. `hammer_of_wrath` for retribution),
    as SimC's `talent.X` does; a tiered node's ranks are summed under its name.
    `entries` keeps trait node entry id -> rank for an exact round trip.
    """

    class_name: str
    spec_id: int
    spec: str
    hero_tree: str | None
    talents: Mapping[str, int]
    entries: Mapping[int, int]

    @property
    def hero_tree_token(self) -> str | None:
        """The hero tree as SimC's `hero_tree.<token>` spells it ('herald_of_the_sun')."""
        return tokenize(self.hero_tree) if self.hero_tree else None

    def rank(self, name: str) -> int:
        return self.talents.get(name, 0)

    def __contains__(self, name: object) -> bool:
        return self.talents.get(name, 0) > 0  # type: ignore[arg-type]


@functools.cache
def load_tree(class_name: str = "paladin") -> TalentTree:
    """The class's tree from `portunus/data/talents/<class>.json`, read once."""
    path = DATA_DIR / f"{class_name}.json"
    if not path.exists():
        known = sorted(p.stem for p in DATA_DIR.glob("*.json"))
        raise InputError(f"no talent tree data for class '{class_name}' (have: {', '.join(known)})")
    raw = json.loads(path.read_text(encoding="utf-8"))
    nodes = tuple(
        TalentNode(
            node=n["node"], tree=n["tree"], kind=n["type"], row=n["row"], col=n["col"],
            entries=tuple(TalentEntry(
                entry=e["entry"], name=e["name"], token=e["token"], max_ranks=e["max_ranks"],
                spell=e["spell"], specs=tuple(e["specs"]), starter_specs=tuple(e["starter_specs"]),
                sub_tree=e["sub_tree"]) for e in n["entries"]),
        )
        for n in raw["nodes"]
    )
    return TalentTree(
        class_name=raw["class"],
        specs={int(k): v for k, v in raw["specs"].items()},
        hero_trees={int(k): v for k, v in raw["hero_trees"].items()},
        nodes=nodes,
        source=raw["source"],
    )


def tokenize(name: str) -> str:
    """SimC's `util::tokenize`: "Light's Guidance" -> "lights_guidance"."""
    out = []
    for char in name.strip().lstrip("_+"):
        if ord(char) >= 0x80:
            continue
        if char.isalpha():
            out.append(char.lower())
        elif char == " ":
            out.append("_")
        elif char in "_+.%" or char.isdigit():
            out.append(char)
    return "".join(out)


# -- the export string ---------------------------------------------------------

class _BitReader:
    """Reads the string's bits, lowest bit of each character first."""

    def __init__(self, text: str):
        self.values = [BASE64.index(c) for c in text]
        self.head = 0

    @property
    def total(self) -> int:
        return 6 * len(self.values)

    def read(self, bits: int, what: str) -> int:
        if self.head + bits > self.total:
            raise InputError(f"talent string is truncated: it ends inside {what} "
                             f"({len(self.values)} characters)")
        value = 0
        for i in range(bits):
            char, bit = divmod(self.head, 6)
            value |= ((self.values[char] >> bit) & 1) << i
            self.head += 1
        return value


class _BitWriter:
    def __init__(self):
        self.bits: list[int] = []

    def write(self, bits: int, value: int) -> None:
        self.bits.extend((value >> i) & 1 for i in range(bits))

    def text(self) -> str:
        chars = []
        for start in range(0, len(self.bits), 6):
            chunk = self.bits[start:start + 6]
            chars.append(BASE64[sum(b << i for i, b in enumerate(chunk))])
        return "".join(chars)


def decode_talent_string(text: str, spec_id: int | str | None = None,
                         class_name: str = "paladin") -> TalentLoadout:
    """The loadout of an in-game export string (a SimC profile's `talents=`).

    `spec_id`, when given (an id, or a name such as 'retribution': the
    profile's `spec=`), must match the string's spec. Errors are
    one-line `InputError`s: bad characters, wrong version, another class's or
    spec's string, a truncated string, out-of-range ranks or choices, and
    strings made for a different game build (the node walk goes out of step).
    """
    tree = load_tree(class_name)
    text = text.strip()
    if not text:
        raise InputError("talent string is empty")
    bad = next((c for c in text if c not in BASE64), None)
    if bad is not None:
        raise InputError(f"talent string has a character outside the base64 alphabet: {bad!r} "
                         f"at position {text.index(bad) + 1}")
    if 6 * len(text) < HEADER_BITS:
        raise InputError(f"talent string is truncated: {len(text)} characters, the header alone "
                         f"takes {-(-HEADER_BITS // 6)}")
    reader = _BitReader(text)
    version = reader.read(VERSION_BITS, "the version")
    if version != SERIALIZATION_VERSION:
        raise InputError(f"talent string has serialization version {version}; only version "
                         f"{SERIALIZATION_VERSION} (the current game format) is understood")
    wanted = tree.spec_id(spec_id) if spec_id is not None else None
    spec_id = reader.read(SPEC_BITS, "the spec id")
    if spec_id not in tree.specs:
        known = ", ".join(f"{sid} {name}" for sid, name in tree.specs.items())
        raise InputError(f"talent string is for spec id {spec_id}, not a {tree.class_name} spec "
                         f"({known})")
    if wanted is not None and wanted != spec_id:
        raise InputError(f"talent string is for {tree.specs[spec_id]} ({spec_id}), "
                         f"but the profile is {tree.specs[wanted]} ({wanted})")
    reader.read(TREE_HASH_BITS, "the tree hash")

    chosen: list[_Pick] = []
    for node in tree.nodes:
        where = f"node {node.node} ({node.entries[0].name})"
        if not reader.read(1, where):
            continue
        index, rank = 0, 1
        purchased = bool(reader.read(1, where))
        if purchased:
            partial = reader.read(1, where)
            if partial:
                rank = reader.read(RANK_BITS, where)
            if reader.read(1, where):  # choice
                if not node.is_choice:
                    raise InputError(f"talent string picks a choice on {where}, which is not a "
                                     f"choice node{_build_hint(tree)}")
                index = reader.read(CHOICE_BITS, where)
                if index >= len(node.entries):
                    raise InputError(f"talent string picks choice {index} on {where}, which has "
                                     f"{len(node.entries)} choices{_build_hint(tree)}")
            max_rank = node.max_rank(index)
            if not partial:
                rank = max_rank
            elif not 0 < rank < max_rank:
                raise InputError(f"talent string gives {where} a partial rank of {rank}, "
                                 f"max {max_rank}{_build_hint(tree)}")
        chosen.append(_Pick(node, index, rank, purchased))

    left = reader.total - reader.head
    if left >= 6 or reader.read(left, "padding"):
        raise InputError(f"talent string has {left} bits left over after the last node: it was "
                         f"made for a different talent tree{_build_hint(tree)}")
    return _loadout(tree, spec_id, chosen)


def encode_talent_string(loadout: TalentLoadout) -> str:
    """The export string of a loadout, with a zero tree hash as SimC writes it."""
    tree = load_tree(loadout.class_name)
    writer = _BitWriter()
    writer.write(VERSION_BITS, SERIALIZATION_VERSION)
    writer.write(SPEC_BITS, loadout.spec_id)
    writer.write(TREE_HASH_BITS, 0)
    for node in tree.nodes:
        ranks = [loadout.entries.get(e.entry, 0) for e in node.entries]
        if not any(ranks):
            writer.write(1, 0)
            continue
        index = next(i for i, r in enumerate(ranks) if r)
        rank = sum(ranks) if node.kind == "tiered" else ranks[index]
        writer.write(1, 1)
        granted = tree.granted(node, node.entries[index], loadout.spec_id)
        if rank <= (1 if granted else 0):
            writer.write(1, 0)
            continue
        writer.write(1, 1)
        if rank == node.max_rank(index):
            writer.write(1, 0)
        else:
            writer.write(1, 1)
            writer.write(RANK_BITS, rank)
        if node.is_choice:
            writer.write(1, 1)
            writer.write(CHOICE_BITS, index)
        else:
            writer.write(1, 0)
    return writer.text()


# -- readable name lists -----------------------------------------------------------

def loadout_from_names(names: Iterable[str] | str, spec_id: int | str,
                       class_name: str = "paladin") -> TalentLoadout:
    """A loadout from talent names: `["radiant_glory", "crusade:1", "templar"]`.

    Names are SimC tokens or in-game names ("Radiant Glory"); `name:rank` sets a
    rank (default: all ranks); a hero tree's name picks it (a hero talent picks
    its tree too). Granted talents are added as the game grants them. Point
    totals and paths through the tree are not checked (the data has no edges).
    A string is split on ',' and '/', so the values of SimC's `class_talents=`,
    `spec_talents=` and `hero_talents=` lines (`name:rank/name:rank`) work too.
    """
    tree = load_tree(class_name)
    spec_id = tree.spec_id(spec_id)
    spec_name = tree.specs[spec_id]
    if isinstance(names, str):
        names = names.replace("/", ",").split(",")
    hero_choices = {tokenize(name): sub_tree
                    for sub_tree, name in tree.hero_trees_for(spec_id).items()}
    lookup: dict[str, list[tuple[TalentNode, int]]] = {}
    for node in tree.nodes:
        for index, entry in enumerate(node.entries):
            if node.tree != "selection" and tree.available(node, entry, spec_id):
                lookup.setdefault(entry.token, []).append((node, index))

    hero_tree: int | None = None
    picked: dict[int, tuple[_Pick, str]] = {}  # node id -> pick, the name it was listed as
    for item in (raw.strip() for raw in names):
        if not item:
            continue
        name, _, rank_text = (part.strip() for part in item.partition(":"))
        token = tokenize(name)
        if token in hero_choices:
            hero_tree = _pick_hero(tree, hero_tree, hero_choices[token], name)
            continue
        if token not in lookup:
            other_heroes = {tokenize(n) for n in tree.hero_trees.values()} - set(hero_choices)
            if token in other_heroes:
                raise InputError(f"hero tree '{name}' is not available to {spec_name} "
                                 f"(it may choose {' or '.join(sorted(hero_choices))})")
            raise InputError(f"unknown {spec_name} {tree.class_name} talent '{name}'"
                             f"{closest(token, sorted(lookup) + sorted(hero_choices))}")
        candidates = lookup[token]
        if len({n.node for n, _ in candidates}) > 1:  # prefer entries that name the spec
            candidates = [(n, i) for n, i in candidates if spec_id in n.entries[i].specs]
        if len({n.node for n, _ in candidates}) != 1:
            nodes = sorted({n.node for n, _ in lookup[token]})
            raise InputError(f"talent '{name}' is ambiguous for {spec_name}: nodes {nodes} "
                             f"carry that name")
        node, index = candidates[0]
        if node.node in picked:
            other = picked[node.node][1]
            what = ("twice" if tokenize(other) == token
                    else f"together with '{other}' (one choice node)")
            raise InputError(f"talent '{name}' is listed {what}")
        if node.tree == "hero":
            hero_tree = _pick_hero(tree, hero_tree, node.entries[index].sub_tree, name)
        rank = _parse_rank(rank_text, name, node.max_rank(index))
        picked[node.node] = (_Pick(node, index, rank, True), name)

    for node in tree.nodes:  # what the game grants without spending points
        if node.node in picked:
            continue
        for index, entry in enumerate(node.entries):
            if node.tree == "selection":
                is_pick = entry.sub_tree == hero_tree and spec_id in entry.specs
            else:
                is_pick = (tree.available(node, entry, spec_id)
                           and tree.granted(node, entry, spec_id))
            if is_pick:
                picked[node.node] = (_Pick(node, index, 1, node.tree == "selection"), "")
                break
    picks = sorted((pick for pick, _ in picked.values()), key=lambda pick: pick.node.node)
    return _loadout(tree, spec_id, picks)


def read_talents(text: str, spec_id: int | str, class_name: str = "paladin") -> TalentLoadout:
    """A profile's `talents=` value: an export string or a readable name list.

    A name list is told apart by characters an export string cannot hold
    (',', ':', '_', spaces, quotes) or by '/'-separated parts that are all
    talent or hero tree names; anything else is decoded as an export string.
    """
    tree = load_tree(class_name)
    spec = tree.spec_id(spec_id)
    text = text.strip()
    if any(char not in BASE64 for char in text):
        return loadout_from_names(text, spec, class_name)
    known = {entry.token for node in tree.nodes for entry in node.entries}
    known |= {tokenize(name) for name in tree.hero_trees.values()}
    parts = [tokenize(part.partition(":")[0]) for part in text.split("/")]
    if all(part in known for part in parts):
        return loadout_from_names(text, spec, class_name)
    return decode_talent_string(text, spec, class_name)


def _parse_rank(text: str, name: str, max_rank: int) -> int:
    if not text:
        return max_rank
    try:
        rank = int(text)
    except ValueError:
        raise InputError(f"talent '{name}' has rank '{text}', not a whole number") from None
    if not 1 <= rank <= max_rank:
        raise InputError(f"talent '{name}' has rank {rank}; it takes 1 to {max_rank}")
    return rank


def _pick_hero(tree: TalentTree, current: int | None, sub_tree: int, name: str) -> int:
    if current is not None and current != sub_tree:
        raise InputError(f"'{name}' is {tree.hero_trees[sub_tree]}, but the list already picks "
                         f"{tree.hero_trees[current]} (one hero tree only)")
    return sub_tree


def _build_hint(tree: TalentTree) -> str:
    return (f" (the Portunus talent data is game build {tree.source.get('build', '?')}; "
            f"a string from another build walks different nodes)")


@dataclasses.dataclass(frozen=True)
class _Pick:
    """One selected node: which entry, how many ranks, and whether points were spent."""

    node: TalentNode
    index: int
    rank: int
    purchased: bool


def _loadout(tree: TalentTree, spec_id: int, picks: list[_Pick]) -> TalentLoadout:
    """Checks the picks against the spec and the hero tree, and names them."""
    spec_name = tree.specs[spec_id]
    hero_tree: int | None = None
    for pick in picks:
        if pick.node.tree == "selection":
            entry = pick.node.entries[pick.index]
            if spec_id not in entry.specs:
                raise InputError(f"talent string picks a hero tree on another spec's selection "
                                 f"node {pick.node.node}{_build_hint(tree)}")
            hero_tree = entry.sub_tree
    hero_name = tree.hero_trees[hero_tree] if hero_tree is not None else None

    entries: dict[int, int] = {}
    talents: dict[str, int] = {}
    for pick in picks:
        node, entry = pick.node, pick.node.entries[pick.index]
        if node.tree == "hero" and entry.sub_tree != hero_tree and pick.purchased:
            raise InputError(f"hero talent '{entry.name}' belongs to "
                             f"{tree.hero_trees[entry.sub_tree]}, but the loadout's hero tree is "
                             f"{hero_name or 'not chosen'}")
        if not tree.available(node, entry, spec_id):
            raise InputError(f"talent '{entry.name}' (node {node.node}) is not available to "
                             f"{spec_name}{_build_hint(tree)}")
        if node.kind == "tiered":
            left = pick.rank
            for tier in node.entries:
                take = min(left, tier.max_ranks)
                if take:
                    entries[tier.entry] = take
                left -= take
        else:
            entries[entry.entry] = pick.rank
        if node.tree == "selection" or (node.tree == "hero" and entry.sub_tree != hero_tree):
            continue  # the other hero tree's free first talent does nothing
        if entry.token in talents:
            raise InputError(f"two selected nodes are both called '{entry.token}'")
        talents[entry.token] = pick.rank
    return TalentLoadout(
        class_name=tree.class_name, spec_id=spec_id, spec=spec_name, hero_tree=hero_name,
        talents=dict(sorted(talents.items())), entries=dict(sorted(entries.items())),
    )
