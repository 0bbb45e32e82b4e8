"""Before Qt starts on Linux: are the system libraries of Qt's xcb platform plugin installed?

Without them Qt aborts with "Could not load the Qt platform plugin "xcb"", which tells a
newcomer nothing. This module imports no Qt, so it can run (and explain) before Qt is loaded.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

#: Shared libraries that Qt 6's xcb plugin loads, with the Debian/Ubuntu package holding each.
#: The first ten are the ones fresh machines usually lack; the rest are listed for completeness.
XCB_LIBRARIES: tuple[tuple[str, str], ...] = (
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-xinerama.so.0", "libxcb-xinerama0"),
    ("libxcb.so.1", "libxcb1"),
    ("libX11-xcb.so.1", "libx11-xcb1"),
    ("libxkbcommon.so.0", "libxkbcommon0"),
    ("libxcb-render.so.0", "libxcb-render0"),
    ("libxcb-shm.so.0", "libxcb-shm0"),
    ("libxcb-sync.so.1", "libxcb-sync1"),
    ("libxcb-xfixes.so.0", "libxcb-xfixes0"),
    ("libxcb-util.so.1", "libxcb-util1"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libEGL.so.1", "libegl1"),
    ("libGL.so.1", "libgl1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
)

#: Platforms that need no X libraries (tests, headless screenshots, Wayland sessions).
_NON_XCB = ("offscreen", "minimal", "vnc", "wayland", "eglfs", "linuxfb", "vkkhrdisplay")


@dataclass(frozen=True)
class PlatformProblem:
    """Why the window cannot open, written for the user (printed verbatim)."""

    message: str


def _can_load(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def missing_xcb_libraries(can_load: Callable[[str], bool] = _can_load) -> list[tuple[str, str]]:
    """``(library, package)`` of every listed library the dynamic loader cannot find."""
    return [(lib, pkg) for lib, pkg in XCB_LIBRARIES if not can_load(lib)]


def install_hint(packages: Iterable[str]) -> str:
    return "sudo apt-get install " + " ".join(packages)


def uses_xcb(platform: str | None = None, env: dict[str, str] | None = None) -> bool:
    """Whether Qt will pick the xcb plugin: Linux, and QT_QPA_PLATFORM unset or xcb."""
    env = dict(os.environ) if env is None else env
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return False
    chosen = (env.get("QT_QPA_PLATFORM") or "").split(":")[0].strip().lower()
    if chosen and chosen.startswith(_NON_XCB):
        return False
    if not chosen and env.get("WAYLAND_DISPLAY") and not env.get("DISPLAY"):
        return False  # Qt 6 picks its Wayland plugin there
    return True


def check_platform(
    *,
    platform: str | None = None,
    env: dict[str, str] | None = None,
    can_load: Callable[[str], bool] = _can_load,
    plugin_check: Callable[[], list[str]] | None = None,
) -> PlatformProblem | None:
    """None when Qt can start; otherwise what is missing and how to install it.

    ``plugin_check`` (default: ``ldd`` on the installed plugin) may name libraries the table
    does not know; they are reported too.
    """
    env = dict(os.environ) if env is None else env
    if not uses_xcb(platform, env):
        return None
    missing = missing_xcb_libraries(can_load)
    known = {lib for lib, _ in XCB_LIBRARIES}
    extra = [lib for lib in (plugin_check or qt_plugin_missing_libraries)() if lib not in known]
    packages = {lib: pkg for lib, pkg in XCB_LIBRARIES}
    missing += [(lib, packages.get(lib, "?")) for lib in extra]
    if missing:
        names = "\n".join(f"  {lib}  (package {pkg})" for lib, pkg in missing)
        return PlatformProblem(
            "the labeler window needs system libraries that Qt's X11 (xcb) platform plugin loads, "
            f"and these are missing:\n{names}\n"
            f"Install them (Debian/Ubuntu):\n  {install_hint(pkg for _, pkg in missing if pkg != '?')}\n"
            "(on Fedora: sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms xcb-util-image "
            "xcb-util-renderutil libxkbcommon-x11)"
        )
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return PlatformProblem(
            "no display to open the labeler window on (DISPLAY is not set). Run it on a desktop, "
            "over `ssh -X`, or under a virtual display: xvfb-run labeler gui PROJECT"
        )
    return None


def qt_plugin_missing_libraries(plugin: Path | None = None) -> list[str]:
    """Libraries `ldd` reports as not found for Qt's xcb plugin (a second opinion; [] if unknown)."""
    if plugin is None:
        try:
            import importlib.util

            spec = importlib.util.find_spec("PyQt6")
        except (ImportError, ValueError):
            return []
        if spec is None or not spec.submodule_search_locations:
            return []
        plugin = Path(next(iter(spec.submodule_search_locations))) / "Qt6" / "plugins" / "platforms" / "libqxcb.so"
    ldd = shutil.which("ldd")
    if ldd is None or not plugin.is_file():
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.split("=>")[0].strip() for line in out.splitlines() if "not found" in line})
