"""Where commands print: results to stdout (rich), errors to stderr as one line each."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.text import Text

console = Console()
# Errors go to stderr unwrapped, so a long path:line: message stays one greppable line.
error_console = Console(stderr=True, soft_wrap=True)


def fail(error: Exception) -> None:
    error_console.print(Text.assemble(("error: ", "bold red"), str(error)))
    raise typer.Exit(2)


def write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2))
    console.print(f"wrote {path}")
