"""SLEAP ``.slp`` files through sleap-io (SLEAP's own I/O library), both ways.

Export: one skeleton (the schema: nodes, edges, left/right symmetries); one image-sequence video
listing the project's images (their real files); one labelled frame per image with points. Each
instance becomes a *user* instance holding its confirmed points and, with ``predicted``, a
*predicted* instance holding its predictions with their confidences as point scores (the mean as
the instance's score). An image flagged *no object* is a negative frame (``is_negative``, no
instances), as it is a negative in COCO and a background image in YOLO; a skipped one is left out. Absent and unlabelled keypoints are NaN, as SLEAP writes missing nodes.
Coordinates are written as labeler keeps them (continuous pixels of the displayed image).

Import: every labelled frame's image is matched to the project's by its file name under the images
folder (as a COCO ``file_name``); user instances become confirmed (manual) points, predicted
instances predictions with their point scores; instance k of a frame goes to the image's k-th
instance. A user instance linked to a prediction (SLEAP's ``from_predicted``, as the export writes
an instance holding both) takes that prediction's points for the keypoints it lacks. A negative
frame without instances flags its image *no object*.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from labeler.errors import FormatError, UserInputError
from labeler.formats.coco import CocoFile, CocoImage, CocoImportReport, ImportedObject, merge_coco_file
from labeler.formats.exchange import labelled_images, usable_images
from labeler.store import ABSENT, FLAG_NO_OBJECT, MANUAL, PREDICTED, ImportedPoint, OnConflict, Project, Schema


def _sio():  # noqa: ANN202 - the sleap_io module
    try:
        import sleap_io
    except ImportError:
        raise UserInputError("SLEAP files need sleap-io: pip install sleap-io") from None
    return sleap_io


def export_sleap(project: Project, out: str | os.PathLike[str], *, predicted: bool = False,
                 notes: list[str] | None = None) -> int:
    """Write ``out`` (.slp); returns the number of instances written. The file names each image's
    file for a trainer to read beside its labels, so images whose file is gone, leads outside the
    images folder or now holds another picture are left out, as in every export of pictures; the
    notes saying so are appended to ``notes``."""
    sio = _sio()
    out = Path(out)
    if out.suffix.lower() != ".slp":
        raise UserInputError(f"{out}: a SLEAP file ends in .slp")
    schema = project.schema()
    names = schema.keypoints
    items, _ = labelled_images(project, predicted=predicted)
    items = [it for it in items if it.objects or it.image.flag == FLAG_NO_OBJECT]
    if not items:
        raise UserInputError("no image has a labelled point yet; nothing to export")
    items, left_out = usable_images(project, items)
    if notes is not None:
        notes.extend(left_out)
    if not items:
        raise UserInputError("every labelled image now holds another picture than the one labelled; nothing to export")
    skeleton = sio.Skeleton(nodes=list(names), edges=[tuple(e) for e in schema.skeleton],
                            symmetries=[tuple(p) for p in schema.flip_pairs], name=project.category())
    video = sio.Video.from_filename([str(project.image_path(it.image)) for it in items])
    frames = []
    written = 0
    for i, it in enumerate(items):
        instances = []
        for _, rows in it.objects:
            user = np.full((len(names), 2), np.nan)
            pred = np.full((len(names), 2), np.nan)
            scores = np.full(len(names), np.nan)
            for k, n in enumerate(names):
                r = rows.get(n)
                if r is None or r.visibility == ABSENT or r.x is None or r.y is None:
                    continue
                if r.status == PREDICTED:
                    pred[k] = (r.x, r.y)
                    scores[k] = r.confidence if r.confidence is not None else np.nan
                else:
                    user[k] = (r.x, r.y)
            made = None
            if predicted and not np.isnan(pred).all():
                found = scores[~np.isnan(pred[:, 0])]
                score = float(np.nanmean(found)) if np.isfinite(found).any() else 0.0
                made = sio.PredictedInstance.from_numpy(pred, point_scores=np.nan_to_num(scores), score=score,
                                                        skeleton=skeleton)
                instances.append(made)
            if not np.isnan(user).all():
                person = sio.Instance.from_numpy(user, skeleton=skeleton)
                person.from_predicted = made  # one object: SLEAP's link from a user instance to its prediction
                instances.append(person)
        written += len(instances)
        negative = it.image.flag == FLAG_NO_OBJECT  # SLEAP's negative frame: the object is not there
        frames.append(sio.LabeledFrame(video=video, frame_idx=i, instances=instances, is_negative=negative))
    labels = sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skeleton])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        sio.save_slp(labels, str(tmp))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return written


#: Values (rows x fields) of one table of a .slp file that labeler lets sleap-io read: a compressed
#: dataset of 10^9 rows takes a few KB on disk and 17 GB once read (the same bound as DeepLabCut's .h5).
MAX_CELLS = 20_000_000


def _bounded(path: Path) -> None:
    """Refuse a file whose tables sleap-io would read whole (every dataset outside the embedded
    videos' groups) before they are read: their sizes are declared, and a compressed one may
    claim any size."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            for name, node in f.items():
                if isinstance(node, h5py.Dataset):
                    cells = math.prod(node.shape or ()) * max(1, len(node.dtype.names or ()))
                    if cells > MAX_CELLS:
                        raise FormatError(f"{path}: {name!r} holds {cells} values, more than labeler reads ({MAX_CELLS})")
    except FormatError:
        raise
    except Exception as exc:  # noqa: BLE001 - h5py raises many kinds for a broken file
        raise FormatError(f"{path}: not a SLEAP .slp file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None


def read_sleap(path: str | os.PathLike[str]) -> CocoFile:
    sio = _sio()
    path = Path(path)
    _bounded(path)
    try:
        labels = sio.load_slp(str(path), open_videos=False)
    except Exception as exc:  # noqa: BLE001 - h5py/sleap-io raise many kinds for a broken file
        raise FormatError(f"{path}: not a SLEAP .slp file ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
    if len(labels.skeletons) != 1:
        raise FormatError(f"{path}: {len(labels.skeletons)} skeletons; a project holds one kind of object")
    sk = labels.skeletons[0]
    names = tuple(sk.node_names)
    edges = tuple((e.source.name, e.destination.name) for e in sk.edges)
    pairs = tuple(tuple(sorted(n.name for n in s.nodes)) for s in sk.symmetries)
    entries = []
    for n, lf in enumerate(labels.labeled_frames):
        files = lf.video.filename
        if isinstance(files, list) and not 0 <= lf.frame_idx < len(files):
            raise FormatError(f"{path}: frame {n} is image {lf.frame_idx} of a sequence of {len(files)} images")
        file = files[lf.frame_idx] if isinstance(files, list) else files
        if not isinstance(files, list):
            raise FormatError(f"{path}: frame {lf.frame_idx} of the video {file}: labeler labels images, not video frames")
        user = [i for i in lf.instances if not isinstance(i, sio.PredictedInstance)]
        linked = {id(i.from_predicted) for i in user if getattr(i, "from_predicted", None) is not None}
        alone = [i for i in lf.instances if isinstance(i, sio.PredictedInstance) and id(i) not in linked]
        objects = []
        for inst in [*user, *alone]:  # a user instance, with the points of its prediction it lacks
            pts: dict[str, ImportedPoint] = {}
            for source in (inst, getattr(inst, "from_predicted", None)):
                if source is None:
                    continue
                is_pred = isinstance(source, sio.PredictedInstance)
                arr = source.numpy(scores=True) if is_pred else source.numpy()
                for k, name in enumerate(names):
                    x, y = float(arr[k, 0]), float(arr[k, 1])
                    if name in pts or not (math.isfinite(x) and math.isfinite(y)):
                        continue
                    conf = float(arr[k, 2]) if is_pred and math.isfinite(float(arr[k, 2])) else None
                    pts[name] = ImportedPoint(x, y, 2, PREDICTED if is_pred else MANUAL, conf)
            objects.append(ImportedObject(pts))
        if not objects:
            if getattr(lf, "is_negative", False):  # a negative frame: the image is flagged no object
                entries.append(CocoImage(coco_id=n, file_name=str(file), width=None, height=None, points=None,
                                         where=f"frame {n} ({Path(str(file)).name})", flag=FLAG_NO_OBJECT))
            continue
        entries.append(CocoImage(coco_id=n, file_name=str(file), width=None, height=None, points=objects[0].points,
                                 where=f"frame {n} ({Path(str(file)).name})", objects=tuple(objects) if len(objects) > 1 else ()))
    return CocoFile(category=sk.name or "object", schema=Schema(names, edges, pairs), images=tuple(entries), notes=())


def import_sleap(project: Project, path: str | os.PathLike[str], *, on_conflict: OnConflict = "error") -> CocoImportReport:
    """Merge a .slp file into the project: all of it, or on any error nothing."""
    path = Path(path)
    return merge_coco_file(project, read_sleap(path), path, on_conflict=on_conflict)


__all__ = ["export_sleap", "import_sleap", "read_sleap"]
