"""Keypoint labeling with zero-shot Stable Diffusion correspondence."""

__version__ = "0.1.0"
