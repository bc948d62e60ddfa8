"""APL text -> syntax trees. SimulationCraft's action-list language, as players write it.

    actions=call_action_list,name=cooldowns
    actions+=/final_verdict,if=holy_power>=3&buff.avenging_wrath.up
    actions.cooldowns=avenging_wrath,if=target.time_to_die>15

Expressions: numbers, dotted names (`cooldown.judgment.remains`), parentheses,
unary `!` and `-`, `*` `%` (division, SimC's spelling) `/` (division, only in
`actions+=/` lines, where it cannot be an entry separator) `%%` (modulo), `+`
`-`, comparisons `<` `<=` `=` `==` `!=` `>=` `>`, `&` (and), `|` (or).
`target_if=min:EXPR` (or max:, first:) carries its mode and expression.
Errors carry the line, the column and the token.
"""

from __future__ import annotations

import dataclasses
import re

from portunus.errors import InputError, closest


class AplError(InputError):
    """A syntax or name error in an APL, at a line and column."""

    def __init__(self, message: str, path: str, line: int, column: int, token: str):
        self.column, self.token = column, token
        super().__init__(f"column {column}: {message} (at '{token}')", path, line)


@dataclasses.dataclass(frozen=True)
class Number:
    value: float


@dataclasses.dataclass(frozen=True)
class Name:
    parts: tuple[str, ...]
    column: int
    text: str


@dataclasses.dataclass(frozen=True)
class Unary:
    op: str
    operand: object


@dataclasses.dataclass(frozen=True)
class Binary:
    op: str
    left: object
    right: object


@dataclasses.dataclass(frozen=True)
class Entry:
    """One line item: an ability, `wait`, `variable`, or a call/run of another list."""

    action: str
    options: dict[str, str]
    condition: object | None
    value: object | None           # `variable,value=...`
    line: int
    column: int
    option_columns: dict[str, int]
    # Every expression option parsed (if, value, value_else, condition, default), by name.
    expressions: dict[str, object] = dataclasses.field(default_factory=dict)
    # `target_if=MODE:EXPR`: ("min" | "max" | "first", EXPR); None without it.
    target_if: tuple[str, object] | None = None


@dataclasses.dataclass(frozen=True)
class ActionLists:
    lists: dict[str, list[Entry]]  # "default" is `actions=`
    path: str


TOKEN = re.compile(r"\s*(?:(\d+\.?\d*|\.\d+)|([A-Za-z_][A-Za-z0-9_.]*)|(%%|<=|>=|!=|==|[-+*/%<>=!&|()]))")
PRECEDENCE = {"|": 1, "&": 2, "<": 3, "<=": 3, "=": 3, "==": 3, "!=": 3, ">=": 3, ">": 3,
              "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "%%": 5}


class _ExpressionParser:
    """Precedence climbing over a token list of (kind, text, column)."""

    def __init__(self, text: str, path: str, line: int, column: int, allow_slash: bool):
        self.path, self.line, self.tokens, self.position = path, line, [], 0
        index = 0
        while index < len(text):
            if text[index:].strip() == "":
                break
            match = TOKEN.match(text, index)
            if not match or match.end() == index:
                bad = text[index:].strip()[:1] or text[index]
                raise AplError(f"unexpected character '{bad}'", path, line,
                               column + index + (len(text[index:]) - len(text[index:].lstrip())), bad)
            kind = "number" if match.group(1) else "name" if match.group(2) else "op"
            token = match.group(1) or match.group(2) or match.group(3)
            if token == "/" and not allow_slash:
                raise AplError("'/' separates entries on this line; use '%' to divide (as SimC does)",
                               path, line, column + match.start(3), "/")
            self.tokens.append((kind, token, column + match.start(match.lastindex)))
            index = match.end()
        self.end_column = column + len(text)

    def peek(self):
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "end of expression",
                                                                                     self.end_column)

    def take(self):
        token = self.peek()
        self.position += 1
        return token

    def fail(self, message: str, token) -> AplError:
        return AplError(message, self.path, self.line, token[2], token[1])

    def parse(self):
        if not self.tokens:
            raise self.fail("empty expression", self.peek())
        tree = self.binary(1)
        if self.position < len(self.tokens):
            raise self.fail("expected an operator or the end of the expression", self.peek())
        return tree

    def binary(self, minimum: int):
        left = self.unary()
        while True:
            kind, op, _ = self.peek()
            if kind != "op" or op not in PRECEDENCE or PRECEDENCE[op] < minimum:
                return left
            self.take()
            right = self.binary(PRECEDENCE[op] + 1)
            left = Binary("=" if op == "==" else op, left, right)

    def unary(self):
        kind, text, column = token = self.take()
        if kind == "op" and text in ("!", "-", "+"):
            operand = self.unary()
            return operand if text == "+" else Unary(text, operand)
        if kind == "op" and text == "(":
            inner = self.binary(1)
            if self.peek()[1] != ")":
                raise self.fail("missing ')'", self.peek())
            self.take()
            return inner
        if kind == "number":
            return Number(float(text))
        if kind == "name":
            if text.endswith(".") or ".." in text:
                raise self.fail("a name cannot end with '.' or contain '..'", token)
            return Name(tuple(text.split(".")), column, text)
        raise self.fail("expected a number, a name, '(' or '!'", token)


def parse_expression(text: str, path: str = "<apl>", line: int = 1, column: int = 1,
                     allow_slash: bool = True):
    return _ExpressionParser(text, path, line, column, allow_slash).parse()


EXPRESSION_OPTIONS = ("if", "value", "value_else", "condition", "default")
TARGET_IF_MODES = ("min", "max", "first")


def _parse_entry(text: str, path: str, line: int, column: int, allow_slash: bool) -> Entry:
    parts, offsets, start = [], [], 0
    for index, char in enumerate(text + ","):
        if char == ",":
            parts.append(text[start:index])
            offsets.append(start)
            start = index + 1
    action = parts[0].strip()
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", action):
        raise AplError("expected an action name", path, line, column, action or text[:1] or "end of line")
    options, option_columns = {}, {}
    for part, offset in zip(parts[1:], offsets[1:]):
        if "=" not in part:
            raise AplError("expected 'option=value'", path, line, column + offset, part.strip() or ",")
        key, value = part.split("=", 1)
        key = key.strip()
        if key in options:
            raise AplError(f"option '{key}' given twice", path, line, column + offset, key)
        options[key] = value
        option_columns[key] = column + offset + len(part.split("=", 1)[0]) + 1
    expressions = {key: parse_expression(options[key], path, line, option_columns[key], allow_slash)
                   for key in EXPRESSION_OPTIONS if key in options}
    target_if = None
    if "target_if" in options:
        target_if = _parse_target_if(options["target_if"], path, line, option_columns["target_if"], allow_slash)
    return Entry(action, {k: v.strip() for k, v in options.items()}, expressions.get("if"),
                 expressions.get("value"), line, column, option_columns, expressions, target_if)


def _parse_target_if(text: str, path: str, line: int, column: int, allow_slash: bool) -> tuple[str, object]:
    """`min:EXPR`, `max:EXPR` or `first:EXPR` (SimC's modes); a bare EXPR is `first:`."""
    mode, _, rest = text.partition(":")
    if not rest and ":" not in text:
        return "first", parse_expression(text, path, line, column, allow_slash)
    stripped = mode.strip()
    if stripped not in TARGET_IF_MODES:
        raise AplError(f"target_if needs min:, max: or first: before its expression"
                       f"{closest(stripped, list(TARGET_IF_MODES))}",
                       path, line, column + len(mode) - len(mode.lstrip()), stripped or ":")
    return stripped, parse_expression(rest, path, line, column + len(mode) + 1, allow_slash)


LINE = re.compile(r"actions(?:\.([A-Za-z_][A-Za-z0-9_]*))?(\+?=)(.*)$")


def parse_apl(text: str, path: str = "<apl>") -> ActionLists:
    """Parse APL text into action lists. `actions=` and `actions+=/` build the default
    list, `actions.NAME=...` the sub-list NAME. Other SimC lines are refused by name."""
    lists: dict[str, list[Entry]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(raw) - len(raw.lstrip())
        match = LINE.match(stripped)
        if not match:
            token = stripped.split("=")[0].split(",")[0][:40]
            raise AplError("expected 'actions=...', 'actions+=/...' or 'actions.NAME=...'",
                           path, number, indent + 1, token)
        name = match.group(1) or "default"
        operator, body = match.group(2), match.group(3)
        body_column = indent + match.start(3) + 1
        if operator == "=" and name in lists:
            raise AplError(f"action list '{name}' is assigned twice with '='; use '+=/' to append",
                           path, number, indent + 1, stripped[: match.start(3)])
        entries = lists.setdefault(name, [])
        if operator == "+=":
            if not body.startswith("/"):
                raise AplError("'+=' must be followed by '/'", path, number, body_column, body[:1] or "end of line")
            chunks, allow_slash, column = [body[1:]], True, body_column + 1
            offsets = [0]
        else:
            chunks = body.split("/")
            offsets, total = [], 0
            for chunk in chunks:
                offsets.append(total)
                total += len(chunk) + 1
            allow_slash, column = False, body_column
            for index in range(1, len(chunks)):
                if not re.match(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*(,|$)", chunks[index]) and "=" in chunks[index - 1]:
                    raise AplError("'/' separates entries on this line; use '%' to divide (as SimC does)",
                                   path, number, column + offsets[index] - 1, "/")
        for chunk, offset in zip(chunks, offsets):
            if not chunk.strip():
                raise AplError("empty action entry", path, number, column + offset, "/")
            entries.append(_parse_entry(chunk, path, number, column + offset, allow_slash))
    if "default" not in lists:
        raise InputError("the APL has no 'actions=' list", path, None)
    return ActionLists(lists, path)
