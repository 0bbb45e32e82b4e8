"""Correspondence engines: given keypoints on reference images, find them on target images.

No Qt and no database here. Engines: ``dift`` (Tang et al. 2023), ``attention`` (Hedlin et al.
2023), ``fusion`` (SD + DINOv2, Zhang et al. 2023/2024) and ``classical`` (weight-free dense SIFT).

The interface names below load on first use, so light submodules (``cards``, ``method_info``)
can be imported by the command line's parser without numpy.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DeviceOutOfMemory", "Matcher", "Prediction", "ReferenceState"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from labeler.correspondence import base

        return getattr(base, name)
    raise AttributeError(f"module 'labeler.correspondence' has no attribute {name!r}")
