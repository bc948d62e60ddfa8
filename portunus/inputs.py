"""Checks for what a user hands Portunus: numbers, lists of numbers, text files, output paths.

One place per input kind (STYLE.md): a number is finite and in its range, a text
file is readable UTF-8, an output path can be written. Each check raises
InputError naming the option or the file (and line); the `*_option` helpers
turn a check into a typer callback, so a command refuses bad input before any
work starts. Library code (profiles, fights, configs) uses the same checks.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

from portunus.errors import InputError

SEED_MAX = 2**32 - 1     # seeds 0 .. 2^32-1: plenty, and far from jax.random.key's 64-bit overflow


def number(value, name: str, low: float | None = None, high: float | None = None, *, integer: bool = False,
           path: str | None = None, line: int | None = None):
    """`value` if it is a finite number (a whole one if `integer`) in [low, high]; else InputError
    '`name` must be ...' (at `path`:`line` for a file)."""
    kind = "a whole number" if integer else "a number"
    if low is not None and high is not None:
        wanted = f"{kind} from {_bound(low)} to {_bound(high)}"
    elif low is not None:
        wanted = f"{kind} >= {_bound(low)}"
    elif high is not None:
        wanted = f"{kind} <= {_bound(high)}"
    else:
        wanted = kind if integer else "a finite number"
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if ok and isinstance(value, float):
        ok = math.isfinite(value) and (not integer or value.is_integer())
    if ok and ((low is not None and value < low) or (high is not None and value > high)):
        ok = False
    if not ok:
        big = isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 96
        shown = f"a number of about {int(value.bit_length() * math.log10(2)) + 1} digits" if big else repr(value)
        raise InputError(f"{name} must be {wanted}, got {shown}", path, line)
    return int(value) if integer else value


def _bound(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def parse_number(text: str, name: str, low: float | None = None, high: float | None = None, *,
                 integer: bool = False, path: str | None = None, line: int | None = None):
    """A number written as text (a profile value, a list item), checked like `number`."""
    text = text.strip()
    try:
        value = int(text) if integer else float(text)
    except ValueError:              # "3.0" may still be a whole number; "abc" is kept to be shown
        try:
            value = float(text)
        except ValueError:
            value = text
    return number(value, name, low, high, integer=integer, path=path, line=line)


def int_list(text: str, name: str, low: int, high: int) -> tuple[int, ...]:
    """Comma-separated whole numbers, each in [low, high]."""
    items = [item.strip() for item in str(text).split(",")]
    if not all(items):
        raise InputError(f"{name} must be comma-separated whole numbers from {low} to {high}, got '{text}'")
    return tuple(parse_number(item, name, low, high, integer=True) for item in items)


def read_text(path: str | Path, what: str) -> str:
    """A file's text as UTF-8; an unreadable or binary file is an InputError naming it and the line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise InputError(f"cannot read {what}: it is a folder, not a file", str(path)) from None
    except OSError as error:
        raise InputError(f"cannot read {what}: {error.strerror or error}", str(path)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise InputError(f"{what} is not UTF-8 text (byte 0x{data[error.start]:02x} at column {column}): "
                         f"is it the right file?", str(path), line) from None


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _writable_below(path: Path, name: str) -> None:
    """Every missing folder above `path` can be created, and the nearest existing one is writable."""
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():
        raise InputError(f"{name}: cannot write {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{name}: cannot write {path}: no permission to write in {existing}")


def output_file(path: str | Path, name: str) -> Path:
    """A file a command will write (its folders are created when it writes): checked before any work."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{name}: {path} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(f"{name}: cannot write {path}: no permission")
    _writable_below(path, name)
    return path


def output_dir(path: str | Path, name: str) -> Path:
    """A folder a command will create or write into: checked before any work."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise InputError(f"{name}: {path} is a file, not a folder")
        if not os.access(path, os.W_OK | os.X_OK):
            raise InputError(f"{name}: cannot write into {path}: no permission")
        return path
    _writable_below(path / "x", name)
    return path


def text_file(path: str | Path, name: str) -> Path:
    """An input file that must exist and be UTF-8 text."""
    read_text(path, f"{name} file")
    return Path(path)


# --- typer callbacks: the same checks on command-line options, before the command runs ----------

def _callback(check: Callable) -> Callable:
    import typer

    def callback(param, value):
        if value is None:
            return None
        name = param.opts[0] if param.opts and param.opts[0].startswith("-") else param.name.upper()
        try:
            if isinstance(value, (list, tuple)):
                return type(value)(check(item, name) for item in value)
            return check(value, name)
        except InputError as error:
            from portunus.console import fail

            fail(error)

    # typer finds the parameter by its annotation; typer is imported here, not at the top, so the
    # library code that uses the checks above does not import it.
    callback.__annotations__ = {"param": typer.CallbackParam}
    return callback


def number_option(low: float | None = None, high: float | None = None, integer: bool = False) -> Callable:
    return _callback(lambda value, name: number(value, name, low, high, integer=integer))


def seed_option() -> Callable:
    return number_option(0, SEED_MAX, integer=True)


def int_list_option(low: int, high: int) -> Callable:
    """A comma-separated list option, given to the command as a tuple of ints."""
    return _callback(lambda value, name: int_list(value, name, low, high))


def text_file_option(may_be_name: bool = False, may_be_missing: bool = False) -> Callable:
    """An input file option. `may_be_name`: a value that is no existing path is a name (a shipped
    route, a fight kind) checked later; `may_be_missing`: a default file that need not exist yet."""
    def check(value, name):
        path = Path(value)
        if (may_be_name or may_be_missing) and not path.exists():
            return value
        text_file(path, name)
        return value

    return _callback(check)


def output_file_option() -> Callable:
    return _callback(lambda value, name: output_file(value, name))


def output_dir_option() -> Callable:
    return _callback(lambda value, name: output_dir(value, name))
