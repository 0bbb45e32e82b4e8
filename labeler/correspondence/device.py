"""Device and dtype choice: cuda > mps > cpu; half precision only on accelerators."""

from __future__ import annotations

import torch

from labeler.errors import UserInputError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")
DTYPE_CHOICES = ("auto", "float32", "float16", "bfloat16")


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserInputError("--device cuda was asked for, but PyTorch sees no CUDA GPU here")
    if dev.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    ):
        raise UserInputError("--device mps was asked for, but this PyTorch has no MPS support")
    return dev


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """fp32 on CPU always; bf16 on CUDA where supported, else fp16; fp16 on MPS."""
    if device.type == "cpu":
        return torch.float32
    if dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float16
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise UserInputError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_CHOICES)}") from None


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
