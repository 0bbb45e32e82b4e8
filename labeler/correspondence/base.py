"""The one small interface every correspondence engine implements.

Conventions shared by all engines, the store and the GUI:

* Images are ``(H, W, 3) uint8`` RGB numpy arrays, already EXIF-transposed, i.e. exactly what
  the annotator sees (see :mod:`labeler.imaging`).
* Coordinates are continuous pixel coordinates in the ORIGINAL image: pixel column ``i`` covers
  ``[i, i + 1)``, so its centre is ``i + 0.5``. Resizing an image by ``s`` maps ``x -> x * s``
  exactly; a horizontal flip maps ``x -> W - x``.
* Engines know nothing of Qt or the database. They are given images and points, and give back
  points and confidences.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from labeler.errors import Cancelled, LabelerError, UserInputError

#: Largest serialised reference state read back (the attention method's paper preset stores
#: ~2 MB per keypoint; a cache entry is one keypoint).
MAX_STATE_BYTES = 256 << 20


def _check_npz(data: bytes) -> None:
    """Refuse an ``.npz`` that would inflate or allocate more than its own size before numpy
    reads it: labeler writes members uncompressed, so no member may be deflated or hold an
    array larger than the member itself (a 2 MB deflated blob once became 8.6 GB)."""
    if len(data) > MAX_STATE_BYTES:
        raise ValueError(f"reference state of {len(data)} bytes is larger than {MAX_STATE_BYTES}")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED or info.file_size > len(data):
                raise ValueError(f"reference state member {info.filename!r} is compressed or larger than its blob")
            with zf.open(info) as fh:
                version = np.lib.format.read_magic(fh)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                else:
                    raise ValueError(f"reference state member {info.filename!r} has npy version {version}")
            if dtype.hasobject or math.prod(shape) * dtype.itemsize > info.file_size:
                raise ValueError(f"reference state member {info.filename!r} declares more data than it holds")


def _finite(array: np.ndarray, what: str) -> None:
    if array.dtype.kind not in "biuf":
        raise ValueError(f"reference state {what} is not numeric ({array.dtype})")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"reference state {what} holds NaN or infinite values")


#: ``progress(done, total)``; called from the engine's thread.
ProgressFn = Callable[[int, int], None]
#: Polled between batches / optimisation steps; returning True makes the engine raise Cancelled.
StopFn = Callable[[], bool]


class DeviceOutOfMemory(LabelerError):
    """The accelerator ran out of memory; the caller may retry with a smaller batch or on CPU."""


def check_stop(should_stop: StopFn | None) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("stopped on request")


def check_image(image: Any, what: str = "image") -> tuple[int, int]:
    """``(W, H)`` of a valid ``(H, W, 3) uint8`` image; a clear message otherwise."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", type(image).__name__)
        raise UserInputError(f"{what} must be an (H, W, 3) RGB array, got {shape}")
    if image.dtype != np.uint8:
        raise UserInputError(f"{what} must be 8-bit (uint8), got {image.dtype}")
    h, w = image.shape[:2]
    if h < 2 or w < 2:
        raise UserInputError(f"{what} is too small ({w}x{h} pixels)")
    return w, h


def check_points(
    points: Mapping[str, tuple[float, float]], image_size: tuple[int, int]
) -> tuple[tuple[str, ...], np.ndarray]:
    """Names and ``(K, 2)`` positions of reference points, each inside the ``(W, H)`` image."""
    if not points:
        raise UserInputError("the reference has no keypoints")
    w, h = image_size
    names, xy = [], []
    for name, p in points.items():
        try:
            x, y = float(p[0]), float(p[1])
        except (TypeError, ValueError, IndexError):
            raise UserInputError(f"keypoint {name!r}: position {p!r} is not an (x, y) pair") from None
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= w and 0 <= y <= h):
            raise UserInputError(f"keypoint {name!r} at ({x:g}, {y:g}) lies outside the {w}x{h} reference image")
        names.append(str(name))
        xy.append((x, y))
    return tuple(names), np.asarray(xy, dtype=np.float64).reshape(len(names), 2)


@dataclass
class ReferenceState:
    """What an engine keeps from one reference image so it never has to recompute it.

    ``arrays`` holds the engine's payload (DIFT: per-keypoint descriptors ``(K, C)``; attention
    method: optimised embeddings ``(K, E, 77, D)``); row ``k`` of every array belongs to
    ``names[k]``. ``signature`` identifies the engine settings that make two states compatible
    (method, model, the preset parameters that shape the payload). ``image_arrays`` describe the
    reference image as a whole (a dense engine's ``pose_map``, for the mutual-nearest-neighbour
    pose choice); :meth:`subset` keeps them, :meth:`without_image` drops them.
    """

    method: str
    signature: str
    names: tuple[str, ...]
    points: np.ndarray  # (K, 2) float, original reference pixels
    image_size: tuple[int, int]  # (width, height) of the reference image
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    image_arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names = tuple(self.names)
        self.points = np.asarray(self.points, dtype=np.float64).reshape(len(self.names), 2)

    def index(self, name: str) -> int:
        return self.names.index(name)

    def subset(self, names: Sequence[str]) -> ReferenceState:
        """The state restricted to ``names`` (in that order)."""
        rows = [self.names.index(n) for n in names]
        return ReferenceState(
            method=self.method,
            signature=self.signature,
            names=tuple(names),
            points=self.points[rows],
            image_size=self.image_size,
            arrays={k: v[rows] for k, v in self.arrays.items()},
            meta=dict(self.meta),
            image_arrays=dict(self.image_arrays),
        )

    def without_image(self) -> ReferenceState:
        """The same keypoints without the whole-image arrays (kept once per image, not per keypoint)."""
        return dataclasses.replace(self, image_arrays={})

    def to_bytes(self) -> bytes:
        """Self-describing serialisation (an ``.npz`` archive with a JSON header)."""
        header = {
            "format": 1,
            "method": self.method,
            "signature": self.signature,
            "names": list(self.names),
            "image_size": list(self.image_size),
            "meta": self.meta,
        }
        buf = io.BytesIO()
        payload = {f"array:{k}": np.ascontiguousarray(v) for k, v in self.arrays.items()}
        payload.update({f"image:{k}": np.ascontiguousarray(v) for k, v in self.image_arrays.items()})
        np.savez(
            buf,
            header=np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
            points=self.points,
            **payload,
        )
        return buf.getvalue()

    def validate(self) -> ReferenceState:
        """Raise ValueError unless every field has the type, shape and finite values the engines
        rely on (a state read from a project file from someone else may not)."""
        k = len(self.names)
        if not (isinstance(self.method, str) and isinstance(self.signature, str)):
            raise ValueError("reference state method and signature must be text")
        if not all(isinstance(n, str) for n in self.names) or len(set(self.names)) != k:
            raise ValueError("reference state names must be distinct texts")
        if not isinstance(self.meta, dict):
            raise ValueError("reference state meta must be a mapping")
        size = tuple(self.image_size)
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 1 << 20 for v in size):
            raise ValueError(f"reference state image size {size!r} is not two positive integers")
        _finite(self.points, "points")
        w, h = size
        if ((self.points < -1) | (self.points[:, :1] > w + 1) | (self.points[:, 1:] > h + 1)).any():
            raise ValueError("reference state points lie outside its image")
        for key, array in self.arrays.items():
            if not isinstance(array, np.ndarray) or array.ndim < 1 or array.shape[0] != k:
                raise ValueError(f"reference state array {key!r} does not have one row per keypoint")
            _finite(array, f"array {key!r}")
        for key, array in self.image_arrays.items():
            if not isinstance(array, np.ndarray) or array.ndim < 1:
                raise ValueError(f"reference state image array {key!r} is not an array")
            _finite(array, f"image array {key!r}")
        return self

    @classmethod
    def from_bytes(cls, data: bytes) -> ReferenceState:
        """Read :meth:`to_bytes` output; ValueError (or zipfile.BadZipFile, a ValueError too) for
        anything malformed, oversized or non-finite."""
        try:
            _check_npz(bytes(data))
        except zipfile.BadZipFile as exc:
            raise ValueError(f"reference state is not an npz archive ({exc})") from None
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                header = json.loads(npz["header"].tobytes().decode("utf-8"))
                if header.get("format") != 1:
                    raise ValueError(f"unknown reference state format {header.get('format')!r}")
                arrays = {k[len("array:"):]: npz[k] for k in npz.files if k.startswith("array:")}
                image_arrays = {k[len("image:"):]: npz[k] for k in npz.files if k.startswith("image:")}
                points = npz["points"]
                if not isinstance(header, dict) or not isinstance(header.get("names"), list):
                    raise ValueError("reference state header is malformed")
                if points.shape != (len(header["names"]), 2):
                    raise ValueError(f"reference state points have shape {points.shape}, not ({len(header['names'])}, 2)")
                return cls(
                    method=header["method"],
                    signature=header["signature"],
                    names=tuple(header["names"]),
                    points=points,
                    image_size=tuple(header["image_size"]),
                    arrays=arrays,
                    meta=header["meta"],
                    image_arrays=image_arrays,
                ).validate()
        except RecursionError:  # a header nesting brackets 200,000 deep
            raise ValueError("reference state header is nested too deeply") from None
        except (KeyError, TypeError, AttributeError, IndexError, UnicodeDecodeError) as exc:
            raise ValueError(f"reference state is malformed ({type(exc).__name__}: {str(exc)[:200]})") from None


@dataclass
class Prediction:
    """Predicted positions for one target image.

    ``xy[k]`` is in original target pixels; ``confidence[k]`` in ``[0, 1]`` (each engine documents
    what it measures). Only keypoints that at least one reference provides appear.
    """

    names: tuple[str, ...]
    xy: np.ndarray  # (K, 2) float64
    confidence: np.ndarray  # (K,) float64
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.names = tuple(self.names)
        self.xy = np.asarray(self.xy, dtype=np.float64).reshape(len(self.names), 2)
        self.confidence = np.asarray(self.confidence, dtype=np.float64).reshape(len(self.names))

    def as_dict(self) -> dict[str, tuple[float, float, float]]:
        return {
            n: (float(self.xy[i, 0]), float(self.xy[i, 1]), float(self.confidence[i]))
            for i, n in enumerate(self.names)
        }


class Matcher(ABC):
    """A correspondence engine: reference state once, then predictions for batches of targets."""

    #: "dift", "attention" or "classical"
    method: ClassVar[str]

    @property
    @abstractmethod
    def signature(self) -> str:
        """Identifies method, model and the parameters that change predictions.

        The propagation layer stores it with every prediction, to skip finished work on a re-run
        and to recognise stale predictions.
        """

    @property
    @abstractmethod
    def device(self) -> str:
        """The torch device string the engine computes on ("cpu", "cuda", "cuda:1", "mps")."""

    @abstractmethod
    def prepare_reference(
        self,
        image: np.ndarray,
        points: Mapping[str, tuple[float, float]],
        *,
        progress: ProgressFn | None = None,
        should_stop: StopFn | None = None,
    ) -> ReferenceState:
        """Build the reusable state for the keypoints ``points`` (name -> (x, y)) of ``image``."""

    @abstractmethod
    def predict(
        self,
        references: Sequence[ReferenceState],
        images: Sequence[np.ndarray],
        *,
        should_stop: StopFn | None = None,
    ) -> list[Prediction]:
        """Predict every keypoint that any reference provides, for each image of the batch.

        Several references are combined (each engine documents how); a keypoint is predicted
        from the references that contain it.
        """

    @property
    def pose_criterion(self) -> str:
        """How flip-aware matching tells which pose of the references fits a target:
        ``"confidence"`` (the pose whose predictions are more confident) or ``"mutual_nn"`` (the
        pose whose reference image is closer in feature space: mean distance of mutual nearest
        neighbours, GeoAware-SC's criterion; the engine then reports ``pose_distances`` in each
        prediction's meta, one per reference, for references that carry a ``pose_map``)."""
        return "confidence"

    def to(self, device: str) -> None:
        """Move the engine to another device (used to fall back to the CPU after GPU OOM)."""
        raise NotImplementedError(f"{type(self).__name__} cannot change device")

    def close(self) -> None:
        """Free model memory. The matcher is unusable afterwards."""
