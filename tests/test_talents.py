"""Talent export strings and name lists against the Paladin trait tree (no JAX)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from portunus.errors import InputError
from portunus.talents import (
    BASE64, DATA_DIR, decode_talent_string, encode_talent_string, load_tree,
    loadout_from_names, read_talents, tokenize,
)

# `talents=` of SimC's Midnight season 1 Retribution profiles, simulationcraft/simc
# profiles/MID1/MID1_Paladin_Retribution{,_Herald}.simc at a8f653b7 (the commit the
# trait data comes from); TEMPLAR_OTHER is the Templar profile's line in another
# stored version of that file (04468fbe).
TEMPLAR = ("CYEAAAAAAAAAAAAAAAAAAAAAAAAAAAAQz22MzsMMzAAAAAAwoMmhZGbDz2wMbzYMmZYGbsNMAAkZm2mZ2mBAsBY"
           "AwYGmBzYMbYZGMMmxgB")
HERALD = ("CYEAAAAAAAAAAAAAAAAAAAAAAAAAAAAQzy2MzsMMzAAAAAAwoMmhZGbDz2wMbzYMmZYGLsNMgZZ2mZmtGEAAwCgB"
          "AjZYGMjxsAMzMMmxgB")
TEMPLAR_OTHER = ("CYEAAAAAAAAAAAAAAAAAAAAAAAAAAAAQz22MzsMMzYAAAAAAGlxMMzYbY2GmZbGjxMDzYjtHgBAgMz02Mz2M"
                 "AgNADAGzwMYmZYDLzghxMGM")
PROFILE_STRINGS = [TEMPLAR, HERALD, TEMPLAR_OTHER]


def bits_to_string(bits: list[int]) -> str:
    """Pack bits (lowest first within each character) the way the game does."""
    bits = bits + [0] * (-len(bits) % 6)
    return "".join(BASE64[sum(b << i for i, b in enumerate(bits[k:k + 6]))]
                   for k in range(0, len(bits), 6))


def string_to_bits(text: str) -> list[int]:
    return [(BASE64.index(c) >> i) & 1 for c in text for i in range(6)]


def header(spec_id: int = 70, version: int = 2) -> list[int]:
    return ([(version >> i) & 1 for i in range(8)] + [(spec_id >> i) & 1 for i in range(16)]
            + [0] * 128)


def one_node_string(position: int, node_bits: list[int], spec_id: int = 70) -> str:
    """A string selecting only the `position`-th node of the walk, with `node_bits`."""
    n_nodes = len(load_tree().nodes)
    bits = header(spec_id) + [0] * position + node_bits + [0] * (n_nodes - position - 1)
    return bits_to_string(bits)


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        call(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# -- the data ----------------------------------------------------------------------

def test_tree_data_names_its_source_and_walks_nodes_in_ascending_id():
    tree = load_tree("paladin")
    assert tree.source["repo"] == "simulationcraft/simc"
    assert tree.source["path"] == "engine/dbc/generated/trait_data.inc"
    assert len(tree.source["commit"]) == 40
    assert tree.source["build"].startswith("12.")
    ids = [node.node for node in tree.nodes]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert tree.specs == {65: "holy", 66: "protection", 70: "retribution"}
    assert tree.hero_trees_for(70) == {48: "Templar", 50: "Herald of the Sun"}
    assert {n.kind for n in tree.nodes} == {"single", "tiered", "choice", "selection"}
    assert all(n.entries for n in tree.nodes)


def test_every_retribution_talent_has_one_node_per_name():
    tree = load_tree()
    nodes_by_token: dict[str, set[int]] = {}
    for node in tree.nodes:
        for entry in node.entries:
            if node.tree != "selection" and tree.available(node, entry, 70):
                nodes_by_token.setdefault(entry.token, set()).add(node.node)
    assert {t: n for t, n in nodes_by_token.items() if len(n) > 1} == {}
    for token in ("radiant_glory", "crusade", "art_of_war", "divine_wrath",
                  "quickened_invocation", "holy_flames", "light_within",
                  "tempest_of_the_lightbringer", "blades_of_light", "jurisdiction",
                  "seal_of_the_templar", "lights_guidance", "dawnlight", "walk_into_light"):
        assert token in nodes_by_token, token


def test_tokenize_spells_names_as_simc_apls_do():
    assert tokenize("Light's Guidance") == "lights_guidance"
    assert tokenize("Judge, Jury and Executioner") == "judge_jury_and_executioner"
    assert tokenize("Blessing of An'she") == "blessing_of_anshe"
    assert tokenize("Herald of the Sun") == "herald_of_the_sun"


# -- decoding SimC's Midnight profiles -------------------------------------------------

def test_templar_profile_string():
    loadout = decode_talent_string(TEMPLAR, spec_id="retribution")
    assert (loadout.spec_id, loadout.spec, loadout.hero_tree) == (70, "retribution", "Templar")
    assert loadout.hero_tree_token == "templar"
    for name in ("lights_guidance", "lights_deliverance", "undisputed_ruling", "hammerfall",
                 "wake_of_ashes", "execution_sentence", "holy_flames", "crusading_strikes",
                 "art_of_war", "hammer_of_wrath"):
        assert name in loadout, name
    assert loadout.rank("light_within") == 4  # the apex node, all four ranks
    assert loadout.rank("divine_wrath") == 2 and loadout.rank("blades_of_light") == 2
    for name in ("dawnlight", "walk_into_light", "radiant_glory", "templar_strikes"):
        assert name not in loadout, name


def test_herald_profile_string():
    loadout = decode_talent_string(HERALD, spec_id=70)
    assert (loadout.spec_id, loadout.hero_tree) == (70, "Herald of the Sun")
    assert loadout.hero_tree_token == "herald_of_the_sun"
    for name in ("dawnlight", "walk_into_light", "suns_avatar", "eternal_flame",
                 "templar_strikes", "swift_justice", "holy_flames", "execution_sentence"):
        assert name in loadout, name
    for name in ("lights_guidance", "lights_deliverance", "crusading_strikes"):
        assert name not in loadout, name


def test_profile_strings_spend_the_level_90_point_budget():
    """An independent check of the node walk: each string spends 34 class, 34 spec
    and 13 hero points (granted talents excluded) and ends inside its last character.
    An out-of-step walk would read garbage ranks or run off either end."""
    tree = load_tree()
    for text in PROFILE_STRINGS:
        loadout = decode_talent_string(text)
        spent = Counter()
        for node in tree.nodes:
            for entry in node.entries:
                rank = loadout.entries.get(entry.entry, 0)
                if rank and node.tree != "selection" and not tree.granted(node, entry, 70):
                    spent[node.tree] += rank
        assert spent == {"class": 34, "spec": 34, "hero": 13}


@pytest.mark.parametrize("text", PROFILE_STRINGS)
def test_encoding_a_decoded_profile_gives_the_same_string(text):
    assert encode_talent_string(decode_talent_string(text)) == text


@pytest.mark.parametrize("text", PROFILE_STRINGS)
def test_name_list_of_a_decoded_profile_gives_the_same_loadout(text):
    loadout = decode_talent_string(text)
    names = [f"{name}:{rank}" for name, rank in loadout.talents.items()] + [loadout.hero_tree]
    assert loadout_from_names(names, "retribution") == loadout


def test_tree_hash_is_ignored():
    """Game exports carry a real tree hash where SimC writes zeros."""
    bits = string_to_bits(TEMPLAR)
    bits[24:152] = [1, 0, 1, 1] * 32
    assert decode_talent_string(bits_to_string(bits)) == decode_talent_string(TEMPLAR)


# -- readable name lists ---------------------------------------------------------------

def test_readable_list_picks_talents_hero_tree_and_grants():
    loadout = loadout_from_names("radiant_glory,crusade:1,templar", 70)
    assert loadout.hero_tree == "Templar"
    assert {"radiant_glory", "crusade", "lights_guidance", "hammer_of_wrath",
            "greater_judgment", "auras_of_the_resolute"} == set(loadout.talents)
    assert decode_talent_string(encode_talent_string(loadout)) == loadout


def test_readable_list_takes_game_names_ranks_and_simc_talent_lines():
    loadout = loadout_from_names(["Radiant Glory", "Divine Wrath:1", "Light Within:3",
                                  "walk_into_light"], "retribution")
    assert loadout.hero_tree == "Herald of the Sun"  # a hero talent picks its tree
    assert loadout.rank("divine_wrath") == 1 and loadout.rank("light_within") == 3
    assert "dawnlight" in loadout
    simc_lines = loadout_from_names("art_of_war:1/holy_flames:1/lights_guidance:1", 70)
    assert simc_lines.hero_tree == "Templar" and "art_of_war" in simc_lines


def test_a_profile_talents_value_may_be_either_form():
    assert read_talents(TEMPLAR, "retribution") == decode_talent_string(TEMPLAR)
    assert read_talents("crusade/sanctify/templar", 70) == loadout_from_names(
        ["crusade", "sanctify", "templar"], 70)
    assert read_talents("radiant_glory, crusade:1", 70).rank("crusade") == 1
    assert "unknown retribution paladin talent 'crusdae'" in error_of(
        read_talents, "crusade,crusdae", 70)


def test_partial_ranks_survive_a_round_trip():
    loadout = loadout_from_names("divine_wrath:1,light_within:3,zealots_fervor:1", 70)
    assert decode_talent_string(encode_talent_string(loadout)) == loadout


@pytest.mark.parametrize("names, expected", [
    ("radiant_glory,crusde", "unknown retribution paladin talent 'crusde' (did you mean 'crusade'?)"),
    ("divine_wrath:3", "talent 'divine_wrath' has rank 3; it takes 1 to 2"),
    ("divine_wrath:two", "talent 'divine_wrath' has rank 'two', not a whole number"),
    ("art_of_war,righteous_cause", "talent 'righteous_cause' is listed together with 'art_of_war' "
                                   "(one choice node)"),
    ("crusade,crusade", "talent 'crusade' is listed twice"),
    ("templar,dawnlight", "'dawnlight' is Herald of the Sun, but the list already picks Templar "
                          "(one hero tree only)"),
    ("lightsmith", "hero tree 'lightsmith' is not available to retribution"),
    ("blessed_hammer", "unknown retribution paladin talent 'blessed_hammer'"),
])
def test_bad_name_lists_name_what_is_wrong(names, expected):
    assert expected in error_of(loadout_from_names, names, 70)


def test_unknown_spec_is_one_line():
    assert "unknown paladin spec 'ret'" in error_of(loadout_from_names, "crusade", "ret")
    assert "spec id 71 is not a paladin specialization" in error_of(loadout_from_names, "x", 71)


# -- malformed strings -------------------------------------------------------------------

def test_bad_strings_give_one_line_errors():
    assert "outside the base64 alphabet: '!' at position 5" in error_of(
        decode_talent_string, TEMPLAR[:4] + "!" + TEMPLAR[5:])
    assert "talent string is empty" in error_of(decode_talent_string, "  ")
    assert "the header alone takes 26" in error_of(decode_talent_string, TEMPLAR[:20])
    assert "serialization version 1" in error_of(decode_talent_string, bits_to_string(header(version=1)))
    assert "truncated: it ends inside node" in error_of(decode_talent_string, TEMPLAR[:-10])
    assert "left over after the last node" in error_of(decode_talent_string, TEMPLAR + "AA")
    padding_set = TEMPLAR[:-1] + BASE64[BASE64.index(TEMPLAR[-1]) | 0b111000]  # 3 spare bits
    assert "3 bits left over after the last node" in error_of(decode_talent_string, padding_set)


def test_another_class_or_spec_is_refused():
    arms = bits_to_string(header(spec_id=71) + [0] * len(load_tree().nodes))
    assert "talent string is for spec id 71, not a paladin spec" in error_of(decode_talent_string, arms)
    message = error_of(decode_talent_string, TEMPLAR, spec_id="protection")
    assert "talent string is for retribution (70), but the profile is protection (66)" in message


def test_choice_index_out_of_range_and_nodes_of_other_specs():
    tree = load_tree()
    first = tree.nodes[0]  # Hammer of the Righteous / Blessed Hammer, a protection choice node
    assert first.is_choice and len(first.entries) == 2
    out_of_range = one_node_string(0, [1, 1, 0, 1, 1, 1])  # selected, purchased, full, choice 3
    assert "picks choice 3 on node 81469 (Hammer of the Righteous), which has 2 choices" in error_of(
        decode_talent_string, out_of_range)
    other_spec = one_node_string(0, [1, 1, 0, 1, 0, 0])
    assert "'Hammer of the Righteous' (node 81469) is not available to retribution" in error_of(
        decode_talent_string, other_spec)
    single = next(i for i, n in enumerate(tree.nodes) if n.kind == "single")
    assert "which is not a choice node" in error_of(
        decode_talent_string, one_node_string(single, [1, 1, 0, 1, 0, 0]))


def test_partial_rank_out_of_range():
    tree = load_tree()
    position = next(i for i, n in enumerate(tree.nodes) if n.entries[0].token == "divine_wrath")
    too_many = [1, 1, 1] + [0, 1, 0, 0, 0, 0] + [0]  # partial, rank 2 of 2
    assert "a partial rank of 2, max 2" in error_of(
        decode_talent_string, one_node_string(position, too_many))


def test_hero_talents_of_the_unchosen_tree_are_refused():
    tree = load_tree()
    position = next(i for i, n in enumerate(tree.nodes) if n.entries[0].token == "suns_avatar")
    message = error_of(decode_talent_string, one_node_string(position, [1, 1, 0, 0]))
    assert "hero talent 'Sun's Avatar' belongs to Herald of the Sun" in message


# -- the extraction script ---------------------------------------------------------------

SIMC_EXCERPT = """\
// Player trait definitions, wow build 12.0.7.68974
static constexpr std::array<trait_data_t, 4> __trait_data_data { {
  { 1,  2, 102608,  81618, 1,  8, 107613,  469337,      0,      0,  7,  4, 100,                        "Sacred Strength", {   70,    0,    0,    0 }, {    0,    0,    0,    0 },   0, 2 },
  { 1,  2, 128243,  81618, 1,  8, 133050,  408459,      0,      0,  7,  4, 200,                         "Divine Purpose", {   70,    0,    0,    0 }, {    0,    0,    0,    0 },   0, 2 },
  { 2,  2, 102519,  81544, 1,  0, 107524,   31884,      0,  31884,  3,  5,   0,                         "Avenging Wrath", {   70,    0,    0,    0 }, {    0,    0,    0,    0 },   0, 0 },
  { 1,  3, 126452, 102389, 1, 23, 131278,  459517,      0,      0, 10,  2, 100,                        "Emergency Salve", {    0,    0,    0,    0 }, {    0,    0,    0,    0 },   0, 0 },
  { 4,  2, 123357,  99837, 1,  0,      0,       0,      0,      0,  1,  1, 200,                                      "0", {   70,    0,    0,    0 }, {    0,    0,    0,    0 },  48, 3 },
} };
static constexpr std::array<std::tuple<unsigned, const char*, unsigned>, 1> __trait_sub_tree_data { {
  { 48, "Templar", 2 },
} };
"""


def test_extraction_script_reads_simc_rows(tmp_path):
    source = tmp_path / "trait_data.inc"
    source.write_text(SIMC_EXCERPT)
    output = tmp_path / "paladin.json"
    script = Path(__file__).parents[1] / "scripts" / "extract_talent_tree.py"
    subprocess.run([sys.executable, str(script), str(source), "--commit", "0" * 40, "-o", str(output)],
                   check=True, capture_output=True)
    tree = json.loads(output.read_text())
    assert tree["source"]["build"] == "12.0.7.68974"
    assert [n["node"] for n in tree["nodes"]] == [81544, 81618, 99837]  # ascending, class 2 only
    aw, choice, selection = tree["nodes"]
    assert (aw["tree"], aw["type"], aw["entries"][0]["token"]) == ("spec", "single", "avenging_wrath")
    assert [e["token"] for e in choice["entries"]] == ["sacred_strength", "divine_purpose"]
    assert (selection["type"], selection["entries"][0]["name"]) == ("selection", "Templar")


def test_shipped_data_matches_its_generator_format():
    text = (DATA_DIR / "paladin.json").read_text()
    assert '"generator": "scripts/extract_talent_tree.py"' in text
    assert json.loads(text)["class_id"] == 2
