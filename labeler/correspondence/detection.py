"""Zero-shot, text-prompted object detection: boxes for "a bird" on any image, through
transformers (OWLv2, ``Owlv2ForObjectDetection``), loaded by hub id or local folder as the SD
weights are. No database and no Qt here: the caller stores the boxes it gets (as *detected*
instances for a person to accept, adjust or delete).

``model`` is a hub id (default :data:`DEFAULT_DETECTOR`, used from the local hub cache only
unless downloads are allowed), a local folder holding ``config.json``, the weights and the
processor files, or ``tiny-random`` (a random-weight model for tests; its boxes mean nothing).

Boxes come back in the pixels of the array given, as ``(x, y, w, h)``, clipped to it. OWLv2 pads
an image to a square at the bottom and right before resizing, so its normalised boxes are
relative to the padded square: they are scaled by the longer side, then clipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labeler.errors import ModelLoadError, UserInputError

DEFAULT_DETECTOR = "google/owlv2-base-patch16-ensemble"
TINY = "tiny-random"


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x, y, w, h in the array's pixels
    score: float


class TextBoxDetector:
    """One loaded detector; :meth:`detect` is safe to call repeatedly (eval mode, no grad)."""

    def __init__(self, model: Any, processor: Any, name: str, device: str) -> None:
        self.model = model
        self.processor = processor
        self.name = name
        self.device = device

    def detect(
        self, image: np.ndarray, prompt: str, *, threshold: float = 0.2, max_boxes: int = 20, nms_iou: float = 0.5
    ) -> list[Detection]:
        """Boxes of ``prompt`` on ``image`` ((h, w, 3) uint8), best first, at most ``max_boxes``,
        scores at or above ``threshold``, overlapping ones (IoU > ``nms_iou``) merged into the best."""
        import torch

        text = (prompt or "").strip()
        if not text:
            raise UserInputError('a detector needs a prompt naming the objects, e.g. --prompt "a bird"')
        h, w = image.shape[:2]
        inputs = self.processor(text=[[text]], images=[image], return_tensors="pt", truncation=True)
        inputs = {k: v.to(self.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        with torch.inference_mode():
            outputs = self.model(**inputs)
        side = max(h, w)  # boxes are relative to the padded square
        found = self.processor.post_process_grounded_object_detection(
            outputs, threshold=float(threshold), target_sizes=torch.tensor([[side, side]]), text_labels=[[text]]
        )[0]
        boxes = found["boxes"].detach().float().cpu().numpy().reshape(-1, 4)
        scores = found["scores"].detach().float().cpu().numpy().reshape(-1)
        out: list[Detection] = []
        for i in np.argsort(-scores, kind="stable"):
            x0, y0, x1, y1 = (float(v) for v in boxes[i])
            x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
            if not (np.isfinite([x0, y0, x1, y1]).all() and x1 - x0 >= 1.0 and y1 - y0 >= 1.0):
                continue
            if any(_iou((x0, y0, x1, y1), d) > nms_iou for d in out):
                continue
            out.append(Detection((x0, y0, x1 - x0, y1 - y0), float(scores[i])))
            if len(out) >= max_boxes:
                break
        return out

    def close(self) -> None:
        self.model = None


def _iou(a: tuple[float, float, float, float], d: Detection) -> float:
    bx, by, bw, bh = d.box
    ix = max(0.0, min(a[2], bx + bw) - max(a[0], bx))
    iy = max(0.0, min(a[3], by + bh) - max(a[1], by))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + bw * bh - inter
    return inter / union if union > 0 else 0.0


def load_detector(model: str | None = None, *, device: str = "cpu", allow_download: bool = False) -> TextBoxDetector:
    """The detector at ``model`` (see the module docs); a ModelLoadError says how to get it."""
    from transformers import Owlv2ForObjectDetection, Owlv2Processor

    location = model or DEFAULT_DETECTOR
    if location == TINY:
        from labeler.correspondence.detection_tiny import tiny_detector_dir

        location = str(tiny_detector_dir())
    local = Path(location).is_dir()
    kw: dict[str, Any] = {} if local or allow_download else {"local_files_only": True}
    try:
        processor = Owlv2Processor.from_pretrained(location, **kw)
        net = Owlv2ForObjectDetection.from_pretrained(location, use_safetensors=True, **kw).eval().to(device)
    except (OSError, ValueError) as exc:
        where = "the folder" if local else "the local hub cache"
        raise ModelLoadError(
            f"cannot load the detector {location!r} from {where} ({str(exc).splitlines()[0]}); give a folder "
            f"holding an OWLv2 checkpoint (config.json, model.safetensors, processor files), or download "
            f"{DEFAULT_DETECTOR} once with `huggingface-cli download {DEFAULT_DETECTOR}`"
        ) from None
    return TextBoxDetector(net, processor, model or DEFAULT_DETECTOR, device)
