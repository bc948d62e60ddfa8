"""A virtual X display (Xvfb) for tests and benchmarks on machines without a screen."""

from __future__ import annotations

import contextlib
import os
import shutil
import re
import subprocess
import sys
import time
from pathlib import Path


def display_problem(environ=None) -> str | None:
    """Why no window can open here, or None. Checked before DearPyGui/GLFW is touched: without a
    display GLFW fails an assertion and the process dies with SIGABRT and no message.
    Only X11/Wayland systems need this; a local X display's socket must exist."""
    environ = os.environ if environ is None else environ
    if not sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")):
        return None
    display, wayland = environ.get("DISPLAY", ""), environ.get("WAYLAND_DISPLAY", "")
    if wayland:
        return None
    if not display:
        return "no display found (neither DISPLAY nor WAYLAND_DISPLAY is set)"
    local = re.fullmatch(r"(?:unix)?:(\d+)(?:\.\d+)?", display)
    if local and not Path(f"/tmp/.X11-unix/X{local.group(1)}").exists():
        return f"no X server at DISPLAY={display} (/tmp/.X11-unix/X{local.group(1)} does not exist)"
    return None


def _free_display() -> int:
    for number in range(90, 400):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    raise RuntimeError("no free X display number between :90 and :399")


@contextlib.contextmanager
def virtual_display(width: int = 2560, height: int = 1440):
    """Start Xvfb on a free display, point DISPLAY at it, stop it afterwards.
    Uses the existing display when DISPLAY is already set."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if shutil.which("Xvfb") is None:
        raise RuntimeError("no DISPLAY and no Xvfb: install Debian's xvfb (and libgl1-mesa-dri) or run on a desktop")
    number = _free_display()
    process = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb :{number} did not start")
            time.sleep(0.05)
        os.environ["DISPLAY"] = f":{number}"
        yield os.environ["DISPLAY"]
    finally:
        os.environ.pop("DISPLAY", None)
        process.terminate()
        process.wait(timeout=10)
