"""The search tree laid out sideways: root at the left, children to the right,
the best branch on top. Pure geometry, so it is tested without a window."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class PlacedNode:
    name: str | None
    visits: int
    q: float | None
    depth: int
    x: float
    y: float
    parent: int | None   # index into the node list; None for the root
    on_best_path: bool


def layout(tree: dict[str, Any], depth: int, width: float, height: float,
           root_children: int = 4, max_children: int = 2) -> list[PlacedNode]:
    """Nodes down to `depth`, at most `root_children` at the root and `max_children` below
    (the most visited first), in a width x height box: a column per depth, a row per leaf."""

    def shown(node, level):
        return node["children"][:root_children if level == 0 else max_children] if level < depth else []

    nodes: list[PlacedNode] = []
    leaves = [0]

    def count_leaves(node, level):
        children = shown(node, level)
        return max(1, sum(count_leaves(c, level + 1) for c in children))

    total = count_leaves(tree, 0)
    row = height / total
    column = width / (depth + 1)

    def place(node, level, parent, best):
        children = shown(node, level)
        if children:
            first_leaf = leaves[0]
            index = len(nodes)
            nodes.append(None)  # reserve the slot; children are placed first to know the span
            for i, child in enumerate(children):
                place(child, level + 1, index, best and i == 0)
            y = (first_leaf + leaves[0]) / 2 * row
        else:
            index = len(nodes)
            nodes.append(None)
            y = (leaves[0] + 0.5) * row
            leaves[0] += 1
        nodes[index] = PlacedNode(node.get("name"), int(node.get("visits", 0)), node.get("q"), level,
                                  (level + 0.5) * column, y, parent, best)

    place(tree, 0, None, True)
    return nodes
