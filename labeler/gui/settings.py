"""What the app remembers between sessions (QSettings, INI format): recent projects, the last
image of each project, window layout, dialog choices. Labels are never kept here: they live in
the project file."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QByteArray, QSettings

from labeler.redaction import strip_password
from labeler.store.location import is_url

MAX_RECENT = 10


def where(project: str | os.PathLike[str]) -> str:
    """A file's resolved path; a database URL without its password (never stored, and the URL
    still opens: libpq then takes the password from ~/.pgpass or PGPASSWORD)."""
    return strip_password(project) if is_url(project) else str(Path(project).resolve())


def _key(project: str | os.PathLike[str]) -> str:
    return hashlib.sha1(where(project).encode("utf-8")).hexdigest()[:16]


class AppSettings:
    """``path`` None: the user's settings file; a path: that file (tests)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        if path is None:
            self._q = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "labeler", "labeler")
        else:
            self._q = QSettings(str(path), QSettings.Format.IniFormat)
        # Qt writes the file from the UI thread; an atomic write ends in an fsync, which can stall
        # for seconds on a busy disk. Nothing here is worth that (labels live in the project).
        self._q.setAtomicSyncRequired(False)

    @property
    def file_name(self) -> str:
        return self._q.fileName()

    def sync(self) -> None:
        self._q.sync()

    # -- recent projects -----------------------------------------------------------------------
    def recent_projects(self) -> list[str]:
        value = self._q.value("recent/projects", [])
        items = [value] if isinstance(value, str) else list(value or [])
        return [p for p in items if p]

    def add_recent(self, project: str | os.PathLike[str]) -> None:
        path = where(project)
        items = [path] + [p for p in self.recent_projects() if p != path]
        self._q.setValue("recent/projects", items[:MAX_RECENT])

    def remove_recent(self, project: str) -> None:
        self._q.setValue("recent/projects", [p for p in self.recent_projects() if p != project])

    def clear_recent(self) -> None:
        self._q.setValue("recent/projects", [])

    # -- per project ---------------------------------------------------------------------------
    def last_image(self, project: str | os.PathLike[str]) -> str | None:
        value = self._q.value(f"projects/{_key(project)}/last_image")
        return str(value) if value else None

    def set_last_image(self, project: str | os.PathLike[str], rel_path: str) -> None:
        self._q.setValue(f"projects/{_key(project)}/last_image", rel_path)

    def images_root(self, project: str | os.PathLike[str]) -> str | None:
        """This machine's images folder of a database project (each mounts it where it likes)."""
        value = self._q.value(f"projects/{_key(project)}/images_root")
        return str(value) if value else None

    def set_images_root(self, project: str | os.PathLike[str], folder: str) -> None:
        self._q.setValue(f"projects/{_key(project)}/images_root", folder)

    # -- window and dialogs --------------------------------------------------------------------
    def geometry(self) -> tuple[QByteArray | None, QByteArray | None]:
        g = self._q.value("window/geometry")
        s = self._q.value("window/state")
        return (g if isinstance(g, QByteArray) else None, s if isinstance(s, QByteArray) else None)

    def set_geometry(self, geometry: QByteArray, state: QByteArray) -> None:
        self._q.setValue("window/geometry", geometry)
        self._q.setValue("window/state", state)

    def value(self, key: str, default: Any = None) -> Any:
        v = self._q.value(key, default)
        return default if v is None else v

    def set_value(self, key: str, value: Any) -> None:
        self._q.setValue(key, value)
