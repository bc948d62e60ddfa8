"""Bad profiles, specs and routes give errors naming the file, the line and the problem."""

import pytest

import sim
from portunus.errors import InputError
from portunus.profile import parse_profile
from sim.spec import SPEC_DIR, compile_spec
from tests.conftest import TEST_PROFILE


def error_of(function, *args, **kwargs) -> InputError:
    with pytest.raises(InputError) as caught:
        function(*args, **kwargs)
    return caught.value


@pytest.mark.parametrize("bad_line, message", [
    ("this line has no equals sign", "expected 'key=value'"),
    ("gear_crit_rating=lots", "gear_crit_rating must be a number"),
    ("gear_haste_rating=-5", "must not be negative"),
    ("level=ninety", "level must be a whole number"),
    ("gear_critt_rating=5", "unknown profile key 'gear_critt_rating'"),
    ("head=,id=abc", "item id must be a number"),
    ("main_hand=,id=1,weapon=sword", "weapon 'sword' must look like"),
    ('warrior="Second"', "a second character"),
])
def test_malformed_profile_lines_name_the_line(bad_line, message):
    text = TEST_PROFILE.strip() + "\n" + bad_line + "\n"
    error = error_of(parse_profile, text, "me.simc")
    assert message in str(error)
    assert error.line == len(text.strip().splitlines())
    assert str(error).startswith(f"me.simc:{error.line}:")


def test_profile_without_character_or_spec():
    assert "no character line" in str(error_of(parse_profile, "spec=retribution\n", "x.simc"))
    assert "no 'spec=' line" in str(error_of(parse_profile, 'paladin="A"\n', "x.simc"))


def test_profile_for_another_spec_is_refused():
    profile = parse_profile(TEST_PROFILE.replace("spec=retribution", "spec=holy"), "holy.simc")
    error = error_of(sim.make, "retribution_paladin", profile)
    assert "holy paladin" in str(error) and "retribution_paladin" in str(error)


def test_unknown_items_and_missing_stats_are_reported():
    profile = parse_profile('paladin="A"\nspec=retribution\nhead=,id=12345\n', "a.simc")
    notes = " ".join(profile.notes)
    assert "1 item line(s)" in notes and "no item database" in notes
    assert "no gear_crit_rating line" in notes


def test_unknown_spec_suggests_a_name():
    error = error_of(sim.load_spec, "retribution_paladn")
    assert "unknown spec 'retribution_paladn'" in str(error) and "did you mean 'retribution_paladin'" in str(error)


SPEC_TEXT = (SPEC_DIR / "retribution_paladin.toml").read_text()


@pytest.mark.parametrize("old, new, message", [
    ('applies_debuffs = ["expurgation"]', 'applies_debuffs = ["expurgaton"]',
     "unknown debuff 'expurgaton' in 'applies_debuffs' (did you mean 'expurgation'?)"),
    ("coefficient = 1.4 ", "coefficient = \"big\" ", "'coefficient' must be a number"),
    ('gain = { holy_power = 1 }      # 220637', 'gain = { holy_powr = 1 }', "unknown resource 'holy_powr'"),
    ('targets = "primary"', 'targets = "cone"', "'targets' = 'cone': expected one of"),
    ("cooldown_hasted = true", "cooldown_hastd = true", "unknown key 'cooldown_hastd'"),
])
def test_malformed_spec_names_the_entry_and_line(old, new, message):
    text = SPEC_TEXT.replace(old, new, 1)
    assert text != SPEC_TEXT
    error = error_of(compile_spec, text, "ret.toml")
    assert message in str(error)
    broken_line = next(n for n, line in enumerate(text.splitlines(), 1) if new.split("#")[0].strip() in line)
    # The error points at the [[entry]] header that holds the bad field.
    header = max(n for n, line in enumerate(text.splitlines(), 1) if line.startswith("[[") and n <= broken_line)
    assert error.line == header


def test_spec_that_is_not_toml():
    assert "not valid TOML" in str(error_of(compile_spec, "[spec\nname=", "x.toml"))


ROUTE = """
timer = 300
key_level = 2
group_dps = 1000

[[pull]]
enemies = [ { name = "A", health = 1000, count = 2 } ]

[[pull]]
travel = 5
enemies = [ { name = "B", health = 2000 } ]
"""


@pytest.mark.parametrize("old, new, message, line", [
    ('{ name = "B", health = 2000 }', '{ name = "B" }', "pull 2: enemy 'B' needs 'health'", 9),
    ("count = 2", "count = 0", "pull 1: 'count' must be a whole number >= 1", 6),
    ("count = 2", "count = 30", "pull 1: 30 enemies; at most 20 per pull", 6),
    ("travel = 5", "travel = -5", "pull 2: 'travel' must be a number >= 0", 9),
    ("travel = 5", "travl = 5", "pull 2: unknown key 'travl' (did you mean 'travel'?)", 9),
    ("health = 1000", "health = \"lots\"", "pull 1: 'health' must be a number > 0", 6),
    ("key_level = 2", "key_level = 99", "key_level must be a whole number 0..40", 3),
    ("timer = 300", "timr = 300", "unknown route key 'timr' (did you mean 'timer'?)", 2),
])
def test_malformed_route_names_the_pull_and_line(old, new, message, line):
    error = error_of(sim.parse_route, ROUTE.replace(old, new), "r.toml")
    assert message in str(error)
    assert error.line == line


def test_route_file_errors():
    assert "not valid TOML" in str(error_of(sim.parse_route, "timer = [", "r.toml"))
    assert "needs 'pull'" in str(error_of(sim.parse_route, "timer = 5", "r.toml"))
    assert "no route file or shipped route 'nowhere'" in str(error_of(sim.load_route, "nowhere"))


def test_route_key_level_scales_health():
    base = sim.parse_route(ROUTE.replace("key_level = 2", "key_level = 0"), "r.toml")
    tenth = sim.parse_route(ROUTE, "r.toml", key_level=10)
    assert tenth.pull_health[0, 0] == pytest.approx(base.pull_health[0, 0] * 1.08 ** 10, rel=1e-5)
    assert base.num_slots == 2 and base.num_pulls == 2 and base.pull_health[1, 1] == 0.0


def test_shipped_routes_parse():
    full = sim.load_route("sample_keystone")
    assert 15 <= full.num_pulls <= 25 and sum(full.pull_is_boss) >= 3
    assert sim.load_route("short_test").num_pulls == 3
