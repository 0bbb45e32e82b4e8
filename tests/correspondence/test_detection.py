"""The text-prompted detector engine (OWLv2 through transformers): the tiny random model loads
through the real from_pretrained path, boxes come back inside the image, best first, without
heavy overlaps; bad prompts and missing checkpoints are one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from labeler.correspondence.detection import load_detector
from labeler.errors import ModelLoadError, UserInputError


@pytest.fixture(scope="module")
def detector():
    return load_detector("tiny-random")


@pytest.mark.parametrize("shape", [(48, 80), (90, 30), (64, 64)])
def test_boxes_lie_inside_the_image_best_first(detector, shape):
    image = (np.random.default_rng(sum(shape)).random((*shape, 3)) * 255).astype(np.uint8)
    found = detector.detect(image, "a bird", threshold=0.0, max_boxes=5)
    assert 1 <= len(found) <= 5
    h, w = shape
    for d in found:
        x, y, bw, bh = d.box
        assert 0 <= x and 0 <= y and bw >= 1 and bh >= 1 and x + bw <= w + 1e-6 and y + bh <= h + 1e-6
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)


@pytest.mark.parametrize("prompt", ["", "   ", None])
def test_a_detector_needs_a_prompt(detector, prompt):
    with pytest.raises(UserInputError, match="needs a prompt"):
        detector.detect(np.zeros((20, 20, 3), np.uint8), prompt)


def test_a_folder_without_a_checkpoint_says_how_to_get_one(tmp_path):
    with pytest.raises(ModelLoadError, match="OWLv2 checkpoint"):
        load_detector(str(tmp_path))
