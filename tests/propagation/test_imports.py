"""The propagation package stays light to import (the GUI imports it at start-up)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_propagation_loads_no_torch_nor_qt():
    code = (
        "import sys, labeler.propagation, labeler.cli.cmd_propagate, labeler.cli.cmd_review; "
        "print(','.join(m for m in ('torch', 'cv2', 'diffusers', 'PyQt6') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_config_is_frozen_and_copies_its_overrides():
    import dataclasses

    import pytest

    from labeler.propagation import PropagationConfig

    settings = {"resolution": 64}
    cfg = PropagationConfig(method="dift", overrides=settings, image_ids=[3, 1])
    settings["resolution"] = 128
    assert cfg.overrides["resolution"] == 64 and cfg.image_ids == (3, 1)
    with pytest.raises(TypeError):
        cfg.overrides["resolution"] = 1  # type: ignore[index]
    again = dataclasses.replace(cfg, force=True)
    assert again.overrides == cfg.overrides and again.force
