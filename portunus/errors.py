"""Errors for bad user input: they name the file, the line and what is wrong."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input from a file or the command line, reported without a traceback.

    `str()` reads `path:line: message` so editors can jump to it.
    """

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.message = message
        self.path = path
        self.line = line
        if path is None and line is None:  # a command-line value: the message names the option
            super().__init__(message)
            return
        where = path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


def line_of(text: str, needle: str, occurrence: int = 0) -> int | None:
    """1-based line of the `occurrence`-th line starting with `needle` (stripped), if any."""
    seen = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().startswith(needle):
            if seen == occurrence:
                return number
            seen += 1
    return None


def closest(name: str, known: list[str]) -> str:
    """A ' (did you mean X?)' hint for a misspelt name, or ''."""
    import difflib

    match = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""
