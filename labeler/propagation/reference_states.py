"""Reference states for a run: from the project's cache, or prepared now and cached.

All keypoints of one reference image that the cache lacks are prepared in one
``prepare_reference`` call (the image is read once, DIFT's UNet runs once), then stored one
entry per keypoint, so moving one point re-prepares only that keypoint next time. With flip-aware
matching by the ``mutual_nn`` pose criterion, each reference image also contributes one
whole-image state per pose (its pose map, cached once per image and pose).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from labeler.correspondence.base import DeviceOutOfMemory, Matcher, ReferenceState, StopFn
from labeler.errors import Cancelled, LabelerError
from labeler.propagation import flip as flipping
from labeler.propagation import state_cache
from labeler.propagation.fallback import OutOfMemoryRecovery
from labeler.propagation.images import ImageTask, decode
from labeler.propagation.references import RefPoint
from labeler.store import Project, Schema

def _layout(state: ReferenceState) -> tuple[tuple[str, tuple[int, ...], str], ...]:
    return tuple(sorted((k, tuple(a.shape[1:]), a.dtype.str) for k, a in state.arrays.items()))


#: ``report(done, total, message)``.
ReportFn = Callable[[int, int, str], None]


@dataclass
class BuiltReferences:
    plain: list[ReferenceState] = field(default_factory=list)
    mirrored: list[ReferenceState] = field(default_factory=list)  # names carry MIRROR_SUFFIX
    poses: list[ReferenceState] = field(default_factory=list)  # whole-image pose maps (mutual_nn), both poses
    used: list[RefPoint] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    prepared: int = 0  # entries computed now (the rest came from the cache)
    discarded: list[str] = field(default_factory=list)  # cache keys of damaged entries deleted (prepared again)

    def for_engine(self) -> list[ReferenceState]:
        return self.plain + self.mirrored + self.poses


class ReferenceBuilder:
    def __init__(
        self,
        project: Project,
        matcher: Matcher,
        schema: Schema,
        *,
        flip: bool,
        decode_side: int | None,
        recovery: OutOfMemoryRecovery,
        should_stop: StopFn | None = None,
        report: ReportFn | None = None,
    ) -> None:
        self.project = project
        self.matcher = matcher
        self.schema = schema
        self.flip = flip
        self.decode_side = decode_side
        self.recovery = recovery
        self.should_stop = should_stop
        self.report = report or (lambda d, t, m: None)
        self.ref_signature = state_cache.reference_signature(matcher)
        self.pose_maps = flip and matcher.pose_criterion == "mutual_nn"
        self._counts = (0, 0)

    def _key(self, point: RefPoint, pose: str) -> str:
        return state_cache.state_key(point, self.matcher.method, self.ref_signature, pose, self.decode_side)

    def _pose_key(self, point: RefPoint, pose: str) -> str:
        return state_cache.pose_key(point.image.content, self.matcher.method, self.ref_signature, pose, self.decode_side)

    def build(self, by_image: Mapping[object, Sequence[RefPoint]]) -> BuiltReferences:
        out = BuiltReferences()
        poses = [state_cache.PLAIN, state_cache.MIRROR] if self.flip else [state_cache.PLAIN]
        todo: list[tuple[Sequence[RefPoint], dict[str, dict[str, ReferenceState]], dict[str, list[RefPoint]]]] = []
        pose_maps: list[dict[str, ReferenceState]] = []
        for points in by_image.values():
            found: dict[str, dict[str, ReferenceState]] = {pose: {} for pose in poses}
            missing: dict[str, list[RefPoint]] = {pose: [] for pose in poses}
            for p in points:
                for pose in poses:
                    name = flipping.mirrored_name(p.name, self.schema) if pose == state_cache.MIRROR else p.name
                    state = state_cache.load_state(self.project, self._key(p, pose), self.ref_signature, name, out.discarded)
                    if state is None:
                        missing[pose].append(p)
                    else:
                        found[pose][p.name] = state
            maps: dict[str, ReferenceState] = {}
            if self.pose_maps:
                for pose in poses:
                    state = state_cache.load_state(self.project, self._pose_key(points[0], pose), self.ref_signature,
                                                   None, out.discarded)
                    if state is not None:
                        maps[pose] = state
            todo.append((points, found, missing))
            pose_maps.append(maps)
        self._drop_odd_layouts(todo, out)
        total = sum(1 for (_, _, missing), maps in zip(todo, pose_maps) if any(missing.values()) or self._lacks(maps))
        done = 0
        self._counts = (0, total)
        if total:
            self.report(0, total, f"preparing {total} reference image(s)")
        for (points, found, missing), maps in zip(todo, pose_maps):
            if any(missing.values()) or self._lacks(maps):
                if self.should_stop is not None and self.should_stop():
                    raise Cancelled("stopped on request")
                error = self._prepare(points, missing, found, maps)
                done += 1
                self._counts = (done, total)
                self.report(done, total, f"reference {points[0].image.path}")
                if error is not None:
                    out.failed.append((points[0].image.path, error))
                    continue
                out.prepared += sum(len(v) for v in missing.values())
                state_cache.delete_moved(self.project, points)
            for p in points:
                out.used.append(p)
                out.plain.append(found[state_cache.PLAIN][p.name])
                if self.flip:
                    out.mirrored.append(flipping.tag_mirrored(found[state_cache.MIRROR][p.name]))
            if self.pose_maps:
                out.poses.append(maps[state_cache.PLAIN])
                out.poses.append(flipping.tag_mirrored(maps[state_cache.MIRROR]))
        return out

    def _lacks(self, maps: Mapping[str, ReferenceState]) -> bool:
        return self.pose_maps and not (state_cache.PLAIN in maps and state_cache.MIRROR in maps)

    def _drop_odd_layouts(self, todo, out: BuiltReferences) -> None:  # noqa: ANN001
        """States of one engine setting share their arrays' shapes past the keypoint row; a cached
        entry that differs from the clear majority (written by another program) would fail inside
        the engine on every run, so it is deleted and prepared again."""
        counts = Counter(_layout(s) for _, found, _ in todo for by_name in found.values() for s in by_name.values())
        if len(counts) < 2:
            return
        (common, n), (_, second) = counts.most_common(2)
        if n == second:
            return  # no majority to trust: the engine's own checks speak
        for points, found, missing in todo:
            for pose, by_name in found.items():
                for p in points:
                    state = by_name.get(p.name)
                    if state is not None and _layout(state) != common:
                        del by_name[p.name]
                        missing[pose].append(p)
                        key = self._key(p, pose)
                        self.project.cache_delete(prefix=key)
                        out.discarded.append(key)

    def _prepare(
        self,
        points: Sequence[RefPoint],
        missing: Mapping[str, Sequence[RefPoint]],
        found: dict[str, dict[str, ReferenceState]],
        maps: dict[str, ReferenceState],
    ) -> str | None:
        """Prepare the missing states (and pose maps) of one image into ``found`` and ``maps``; a
        reason on failure."""
        first = points[0]
        image = first.image
        try:
            file = self.project.image_path(image.image_id)
        except LabelerError as exc:  # a link leading outside the images folder: never read
            return f"reference image not readable, its points are not used: {exc}"
        task = ImageTask(image.image_id, image.path, file, image.width, image.height, crop=image.crop)
        decoded = decode(task, self.decode_side)
        if decoded.array is None:
            return f"reference image not readable, its points are not used: {decoded.error}"
        sx, sy = decoded.scale
        ox, oy = decoded.offset
        array = decoded.array
        for pose, lacking in missing.items():
            need_map = self.pose_maps and pose not in maps
            if not lacking and not need_map:
                continue
            # a pose map alone still needs keypoints to prepare: the image's own are used
            coords = {p.name: ((p.x - ox) * sx, (p.y - oy) * sy) for p in (lacking or points)}
            source = array
            if pose == state_cache.MIRROR:
                source = flipping.mirror_image(array)
                coords = flipping.mirror_points(coords, array.shape[1], self.schema)
            try:
                state = self._prepare_with_recovery(source, coords)
            except Cancelled:
                raise
            except LabelerError as exc:
                return f"cannot prepare this reference: {exc}"
            for p in lacking:
                name = flipping.mirrored_name(p.name, self.schema) if pose == state_cache.MIRROR else p.name
                one = state.subset([name]).without_image()
                state_cache.save_state(self.project, self._key(p, pose), one, image.image_id)
                found[pose][p.name] = one
            if need_map:
                if "pose_map" not in state.image_arrays:
                    return "the engine gave this reference no pose map (mutual_nn pose criterion)"
                whole = state.subset([])
                state_cache.save_state(self.project, self._pose_key(first, pose), whole, image.image_id)
                maps[pose] = whole
        return None

    def _prepare_with_recovery(self, image, coords: dict[str, tuple[float, float]]) -> ReferenceState:  # noqa: ANN001
        last = [time.monotonic()]

        def progress(step: int, steps: int) -> None:
            now = time.monotonic()
            if steps > 1 and now - last[0] >= 0.5:  # at most two events a second
                last[0] = now
                self.report(*self._counts, f"optimising reference keypoints: step {step}/{steps}")

        while True:
            try:
                return self.matcher.prepare_reference(image, coords, progress=progress, should_stop=self.should_stop)
            except DeviceOutOfMemory as exc:
                if self.recovery.recover(exc, batch=1) is None:
                    raise
