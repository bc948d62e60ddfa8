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
           max_children: int = 4) -> list[PlacedNode]:
    """Nodes down to `depth`, at most `max_children` per node (the most visited), in a
    width x height box: each column is one depth, each leaf gets an equal row."""
    nodes: list[PlacedNode] = []
    leaves = [0]

    def count_leaves(node, level):
        children = node["children"][:max_children] if level < depth else []
        return max(1, sum(count_leaves(c, level + 1) for c in children))

    total = count_leaves(tree, 0)
    row = height / total
    column = width / (depth + 1)

    def place(node, level, parent, best):
        children = node["children"][:max_children] if level < depth else []
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
