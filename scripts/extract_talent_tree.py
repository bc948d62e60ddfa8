"""Turn SimulationCraft's generated trait data into Portunus's talent tree file.

The game's talent export string walks every trait node of a class in ascending
node id and spends a few bits on each, so decoding it needs the whole class
tree exactly as the game build has it. SimC ships that tree, mined from the
game client, as `engine/dbc/generated/trait_data.inc`. This script reads that
file (a local copy, given by path: nothing is downloaded) and writes the rows
of one class as JSON for `portunus.talents`.

    python scripts/extract_talent_tree.py trait_data.inc --commit <simc sha> \\
        -o portunus/data/talents/paladin.json

Row layout of `__trait_data_data` (SimC's `trait_data_t`, in order): tree index
(1 class, 2 spec, 3 hero, 4 hero-tree selection), class id, trait node entry id,
node id, max ranks, required points, trait definition id, spell id, replaced
spell id, override spell id, row, column, selection index, name, spec ids[4],
starter spec ids[4], hero sub-tree id, node type (0 single, 1 tiered, 2 choice,
3 selection). The hero tree names come from `__trait_sub_tree_data`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

SOURCE_REPO = "simulationcraft/simc"
SOURCE_PATH = "engine/dbc/generated/trait_data.inc"

# SimC's class ids (`trait_data_t::id_class`) and the specialisation ids of the
# classes this script has been used for; the trait data names neither.
CLASSES = {2: ("paladin", {65: "holy", 66: "protection", 70: "retribution"})}
TREES = {0: "invalid", 1: "class", 2: "spec", 3: "hero", 4: "selection"}
NODE_TYPES = {0: "single", 1: "tiered", 2: "choice", 3: "selection"}

_ROW = re.compile(
    r"\{\s*(?P<head>(?:-?\d+\s*,\s*){13})"
    r'"(?P<name>(?:[^"\\]|\\.)*)"\s*,\s*'
    r"\{(?P<specs>[^}]*)\}\s*,\s*\{(?P<starters>[^}]*)\}\s*,\s*"
    r"(?P<sub_tree>-?\d+)\s*,\s*(?P<node_type>-?\d+)\s*\}"
)
_SUB_TREE = re.compile(r'\{\s*(\d+)\s*,\s*"([^"]*)"\s*(?:,\s*(\d+)\s*)?\}')
_BUILD = re.compile(r"Player trait definitions, wow build ([\d.]+)")


def tokenize(name: str) -> str:
    """SimC's `util::tokenize`: the spelling APLs use after `talent.`.

    Lower case, spaces to '_', and everything but letters, digits, '_', '+',
    '.' and '%' dropped ("Light's Guidance" -> "lights_guidance").
    """
    name = name.lstrip("_+")
    out = []
    for char in name:
        if ord(char) >= 0x80:
            continue
        if char.isalpha():
            out.append(char.lower())
        elif char == " ":
            out.append("_")
        elif char in "_+.%" or char.isdigit():
            out.append(char)
    return "".join(out)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parse_rows(text: str) -> list[dict]:
    """Every row of `__trait_data_data`, as dicts in file order."""
    start = text.find("__trait_data_data")
    if start < 0:
        raise SystemExit("no __trait_data_data table in the input")
    end = text.find("} };", start)
    rows = []
    for match in _ROW.finditer(text, start, end if end > 0 else len(text)):
        (tree, class_id, entry, node, max_ranks, req_points, definition, spell,
         replace_spell, override_spell, row, col, selection_index) = _ints(match["head"])
        rows.append({
            "tree": tree, "class_id": class_id, "entry": entry, "node": node,
            "max_ranks": max_ranks, "req_points": req_points, "definition": definition,
            "spell": spell, "replace_spell": replace_spell, "override_spell": override_spell,
            "row": row, "col": col, "selection_index": selection_index,
            "name": match["name"].replace('\\"', '"'),
            "specs": [s for s in _ints(match["specs"]) if s],
            "starter_specs": [s for s in _ints(match["starters"]) if s],
            "sub_tree": int(match["sub_tree"]), "node_type": int(match["node_type"]),
        })
    return rows


def parse_sub_trees(text: str) -> dict[int, str]:
    start = text.find("__trait_sub_tree_data")
    if start < 0:
        raise SystemExit("no __trait_sub_tree_data table in the input")
    end = text.find("} };", start)
    return {int(m[1]): m[2] for m in _SUB_TREE.finditer(text, start, end)}


def build_tree(text: str, class_id: int, commit: str) -> dict:
    """The class's nodes in ascending id, each with its entries in SimC's order.

    SimC's `generate_tree_nodes` takes the rows of trees INVALID..SELECTION for
    the class in file order, which the generator sorts by node id and, within a
    node, by selection index: that order is the choice index of the string.
    """
    if class_id not in CLASSES:
        raise SystemExit(f"class id {class_id}: add its name and spec ids to CLASSES")
    class_name, specs = CLASSES[class_id]
    build = _BUILD.search(text)
    rows = [r for r in parse_rows(text) if r["class_id"] == class_id]
    if not rows:
        raise SystemExit(f"no rows for class id {class_id}")
    unknown_trees = sorted({r["tree"] for r in rows} - set(TREES))
    if unknown_trees:
        raise SystemExit(f"class {class_id} has rows in trees {unknown_trees}, "
                         "which this script does not know")
    sub_trees = parse_sub_trees(text)

    nodes: dict[int, dict] = {}
    for r in rows:
        node = nodes.setdefault(r["node"], {
            "node": r["node"], "tree": TREES[r["tree"]], "type": NODE_TYPES[r["node_type"]],
            "row": r["row"], "col": r["col"], "entries": [],
        })
        if NODE_TYPES[r["node_type"]] != node["type"] or TREES[r["tree"]] != node["tree"]:
            raise SystemExit(f"node {r['node']} mixes trees or node types")
        name = r["name"] if r["tree"] != 4 else sub_trees.get(r["sub_tree"], str(r["sub_tree"]))
        node["entries"].append({
            "entry": r["entry"], "definition": r["definition"], "spell": r["spell"],
            "name": name, "token": tokenize(name), "max_ranks": r["max_ranks"],
            "specs": r["specs"], "starter_specs": r["starter_specs"], "sub_tree": r["sub_tree"],
        })
    ordered = [nodes[node_id] for node_id in sorted(nodes)]
    used_sub_trees = sorted({e["sub_tree"] for n in ordered for e in n["entries"] if e["sub_tree"]})
    return {
        "source": {
            "repo": SOURCE_REPO, "path": SOURCE_PATH, "commit": commit,
            "build": build[1] if build else "unknown",
            "generator": "scripts/extract_talent_tree.py",
        },
        "class_id": class_id,
        "class": class_name,
        "specs": {str(k): v for k, v in specs.items()},
        "hero_trees": {str(i): sub_trees[i] for i in used_sub_trees if i in sub_trees},
        "nodes": ordered,
    }


def dump(tree: dict) -> str:
    """JSON with one node per line: diffs between game builds stay readable."""
    head = {k: v for k, v in tree.items() if k != "nodes"}
    lines = ["{"]
    for key, value in head.items():
        lines.append(f"  {json.dumps(key)}: {json.dumps(value)},")
    lines.append('  "nodes": [')
    body = [f"    {json.dumps(node, separators=(', ', ': '))}" for node in tree["nodes"]]
    lines.append(",\n".join(body))
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trait_data", type=Path, help="a local copy of SimC's trait_data.inc")
    parser.add_argument("--commit", required=True, help="the SimC commit the file was taken from")
    parser.add_argument("--class-id", type=int, default=2, help="SimC class id (2 = paladin)")
    parser.add_argument("-o", "--output", type=Path,
                        help="where to write the JSON (default: stdout)")
    args = parser.parse_args(argv)
    tree = build_tree(args.trait_data.read_text(encoding="utf-8"), args.class_id, args.commit)
    text = dump(tree)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        n_entries = sum(len(n["entries"]) for n in tree["nodes"])
        print(f"{args.output}: {len(tree['nodes'])} nodes, {n_entries} entries, "
              f"build {tree['source']['build']}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
