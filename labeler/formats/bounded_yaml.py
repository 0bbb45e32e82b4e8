"""YAML from someone else, read in bounded memory and time.

``yaml.safe_load`` runs no code but expands aliases: 500 bytes of nested anchors
(``a: &a [*x, *x, ...]``) become a structure whose ``str()`` takes gigabytes, and deep nesting
recurses. Dataset files (YOLO's data.yaml, DeepLabCut's config.yaml) need neither, so this
loader refuses aliases, refuses nesting deeper than :data:`MAX_DEPTH`, and reads at most
:data:`MAX_BYTES` bytes. What it returns is then proportional to the file's size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from labeler.display import shown
from labeler.errors import FormatError

#: PyYAML's pure-Python parser reads about a megabyte in seconds; real data.yaml and
#: config.yaml files are a few kilobytes (80 COCO classes: 2 KB).
MAX_BYTES = 512_000
MAX_DEPTH = 64


class _Refused(yaml.YAMLError):
    pass


class _BoundedSafeLoader(yaml.SafeLoader):
    """PyYAML's safe loader, without aliases and with a nesting limit."""

    _depth = 0

    def compose_node(self, parent, index):  # noqa: ANN001, ANN201 - PyYAML's signature
        if self.check_event(yaml.AliasEvent):
            raise _Refused("it uses an alias (*name); labeler reads dataset files without aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"it nests more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(path: Path, what: str = "YAML file") -> Any:
    """The document in ``path`` (one ``FormatError`` line for anything unreadable or too big)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise FormatError(f"{path}: {size} bytes, more than a {what} can be ({MAX_BYTES} bytes)")
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise FormatError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(raw) > MAX_BYTES:
        raise FormatError(f"{path}: more than a {what} can be ({MAX_BYTES} bytes)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not UTF-8 text") from None
    loader = _BoundedSafeLoader(text)
    try:
        return loader.get_single_data()
    except _Refused as exc:
        raise FormatError(f"{path}: not read: {exc}") from None
    except yaml.YAMLError as exc:
        raise FormatError(f"{path}: not valid YAML ({shown(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)})") from None
    except RecursionError:
        raise FormatError(f"{path}: not read: it nests too deeply") from None
    finally:
        loader.dispose()
