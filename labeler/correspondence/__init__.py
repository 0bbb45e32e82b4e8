"""Correspondence engines: given keypoints on reference images, find them on target images.

No Qt and no database here. Engines: ``dift`` (Tang et al. 2023), ``attention`` (Hedlin et al.
2023) and ``classical`` (weight-free dense SIFT).
"""

from labeler.correspondence.base import (
    DeviceOutOfMemory,
    Matcher,
    Prediction,
    ReferenceState,
)

__all__ = ["DeviceOutOfMemory", "Matcher", "Prediction", "ReferenceState"]
