"""Reference states kept in the project's key -> bytes cache, so no reference is prepared twice.

One entry per (reference image content, keypoint, position, engine settings, pose):

    refstate/<sha256>/<keypoint>/<x>,<y>/<method>/<reference signature>/<plain|mirror>/d<decode side>

With the ``mutual_nn`` pose criterion, one more entry per reference image and pose holds the
image's pose map (a whole-image state with no keypoints), not repeated per keypoint:

    posemap/<sha256>/<method>/<reference signature>/<plain|mirror>/d<decode side>

The position is part of the key, so moving a reference point makes a new entry (the state is
prepared again) and the entries of the old position are deleted. Entries carry the image id,
so they disappear with the image. A second small entry per engine setting remembers the
engine's signatures, so a plan (and a re-run with nothing to do) needs no model load:

    engine/<method>/<model>/<preset>/<overrides hash>  ->  {"signature": ..., "reference_signature": ...}
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from urllib.parse import quote

from labeler.correspondence import base
from labeler.correspondence.base import Matcher, ReferenceState
from labeler.propagation.references import RefPoint
from labeler.propagation.types import PropagationConfig
from labeler.store import Project

STATE_PREFIX = "refstate/"
POSE_PREFIX = "posemap/"
ENGINE_PREFIX = "engine/"
PLAIN = "plain"
MIRROR = "mirror"


def reference_signature(matcher: Matcher) -> str:
    """What makes two reference states interchangeable (falls back to the full signature)."""
    return str(getattr(matcher, "reference_signature", None) or matcher.signature)


def _pos(x: float, y: float) -> str:
    return f"{x!r},{y!r}"


def point_prefix(sha256: str, name: str) -> str:
    return f"{STATE_PREFIX}{sha256}/{quote(name, safe='')}/"


def state_key(point: RefPoint, method: str, ref_signature: str, pose: str, decode_side: int | None) -> str:
    return (
        f"{point_prefix(point.image.content, point.name)}{_pos(point.x, point.y)}/"
        f"{quote(method, safe='')}/{quote(ref_signature, safe='')}/{pose}/d{decode_side or 0}"
    )


def pose_key(sha256: str, method: str, ref_signature: str, pose: str, decode_side: int | None) -> str:
    return (f"{POSE_PREFIX}{sha256}/{quote(method, safe='')}/{quote(ref_signature, safe='')}/{pose}/"
            f"d{decode_side or 0}")


def state_prefix_any_engine(point: RefPoint, method: str) -> str:
    """Prefix matching this point's entries made by ``method`` with any settings."""
    return f"{point_prefix(point.image.content, point.name)}{_pos(point.x, point.y)}/{quote(method, safe='')}/"


def load_state(
    project: Project, key: str, ref_signature: str, name: str | None = None, discarded: list[str] | None = None
) -> ReferenceState | None:
    """The cached state under ``key``, or None. An entry that is damaged, oversized, non-finite
    or not for keypoint ``name`` is deleted (it is prepared again) and its key appended to
    ``discarded``, so the run can say so; without this one bad entry stopped every run."""
    try:
        data = project.cache_get(key, max_bytes=base.MAX_STATE_BYTES)
        if data is None:
            return None
        state = ReferenceState.from_bytes(data)
        if name is not None and state.names != (name,):
            raise ValueError(f"entry holds {state.names!r}, not {name!r}")
        if name is None and (state.names or "pose_map" not in state.image_arrays):
            raise ValueError("entry is not a pose map")
    except (ValueError, RecursionError):
        project.cache_delete(prefix=key)
        if discarded is not None:
            discarded.append(key)
        return None
    return state if state.signature == ref_signature else None


def save_state(project: Project, key: str, state: ReferenceState, image_id: int) -> None:
    project.cache_put(key, state.to_bytes(), image_id=image_id)


def delete_moved(project: Project, points: Iterable[RefPoint]) -> int:
    """Delete entries of these (image, keypoint) pairs made at positions no current point has."""
    current: dict[str, set[str]] = {}
    for p in points:
        current.setdefault(point_prefix(p.image.content, p.name), set()).add(_pos(p.x, p.y))
    removed = 0
    for prefix, positions in current.items():
        for key in project.cache_keys(prefix):
            pos = key[len(prefix):].split("/", 1)[0]
            if pos not in positions:
                removed += project.cache_delete(prefix=key)
    return removed


# -- engine signatures -------------------------------------------------------------------------
def engine_key(config: PropagationConfig) -> str:
    overrides = json.dumps(config.overrides_dict, sort_keys=True, default=repr)
    digest = hashlib.sha256(overrides.encode("utf-8")).hexdigest()[:12]
    model = quote(config.model or "-", safe="")
    return f"{ENGINE_PREFIX}{quote(config.method, safe='')}/{model}/{quote(config.preset, safe='')}/{digest}"


def remember_engine(project: Project, config: PropagationConfig, matcher: Matcher) -> None:
    value = {"signature": matcher.signature, "reference_signature": reference_signature(matcher)}
    key = engine_key(config)
    data = json.dumps(value, sort_keys=True).encode("utf-8")
    if project.cache_get(key) != data:
        project.cache_put(key, data)


def remembered_engine(project: Project, config: PropagationConfig) -> dict[str, str] | None:
    data = project.cache_get(engine_key(config))
    if data is None:
        return None
    try:
        value = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # damaged, or written by another program: prepared again
        return None
    if isinstance(value, dict) and isinstance(value.get("signature"), str):
        return value
    return None
