"""Errors whose message is written for the person using the tool.

Front ends (CLI, GUI) show ``str(error)`` verbatim and never a traceback for these.
"""


class LabelerError(Exception):
    """Base class: the message says what went wrong and what to do about it."""


class UserInputError(LabelerError):
    """Bad argument, unknown keypoint name, coordinates outside the image, and the like."""


class ProjectError(LabelerError):
    """The project file is missing, not a labeler project, or newer than this program."""


class ImageReadError(LabelerError):
    """An image file cannot be decoded (missing, truncated, not an image)."""


class FormatError(LabelerError):
    """An import file (COCO, dataset annotation) is malformed or does not match the project."""


class ModelLoadError(LabelerError):
    """A model checkpoint cannot be found or loaded; the message says how to get it."""


class Cancelled(LabelerError):
    """The user asked to stop; work finished before the request is kept."""
