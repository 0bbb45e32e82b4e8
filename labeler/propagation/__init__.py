"""Propagation: the project's confirmed points -> a correspondence engine -> predictions.

The one place that joins the store and the engines; the CLI (``labeler propagate``) and the
GUI's worker thread both call :func:`propagate`, and nothing about propagation lives in them.

    from labeler.propagation import PropagationConfig, propagate
    with Project.open("birds.labeler") as project:
        summary = propagate(project, PropagationConfig(method="classical"))

* References: every confirmed visible point (manual, corrected, accepted); per keypoint at most
  ``max_references``, manual first, then corrected, then accepted, most recent first (see
  :mod:`.references`). The engine combines them (:mod:`labeler.correspondence`).
* Targets: the selected images not fully confirmed; batches are committed as they finish.
* Resume: an image predicted with the same signature (engine settings + exact references +
  flip + cap) is skipped unless ``force``; a different signature means stale, predicted again.
  Confirmed points are never replaced (the store enforces it).
* Reference states (DIFT descriptors, attention's optimised contexts) are cached in the project
  per (image content, keypoint, position, engine settings) (:mod:`.state_cache`).
* Flip-aware matching: :mod:`.flip`. Out-of-memory fallbacks: :mod:`.fallback`.
"""

from labeler.propagation.engines import MatcherCache, build_matcher
from labeler.propagation.review import ReviewItem, least_confident_images, least_confident_points
from labeler.propagation.run import NOT_FOUND, plan_propagation, propagate
from labeler.propagation.types import (
    STAGE_DONE,
    STAGE_LOADING,
    STAGE_PREDICTING,
    STAGE_REFERENCES,
    CostEstimate,
    NoReferencesError,
    ProgressEvent,
    PropagationConfig,
    PropagationPlan,
    PropagationSummary,
)

__all__ = [
    "NOT_FOUND",
    "STAGE_DONE",
    "STAGE_LOADING",
    "STAGE_PREDICTING",
    "STAGE_REFERENCES",
    "CostEstimate",
    "MatcherCache",
    "NoReferencesError",
    "ProgressEvent",
    "PropagationConfig",
    "PropagationPlan",
    "PropagationSummary",
    "ReviewItem",
    "build_matcher",
    "least_confident_images",
    "least_confident_points",
    "plan_propagation",
    "propagate",
]
