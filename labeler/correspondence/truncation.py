"""Run a network only as far as the block whose output is needed.

A forward hook raises with the block's output, so the rest of the UNet never runs and any
diffusers version works (no copy of diffusers' forward). Autograd still flows through the
captured output, which the attention method's optimisation relies on.
"""

from __future__ import annotations

from typing import Any

import torch


class _BlockReached(Exception):
    def __init__(self, output: Any) -> None:
        super().__init__("block reached")
        self.output = output


def run_until(model: torch.nn.Module, module_name: str, *args: Any, **kwargs: Any) -> Any:
    """``model(*args, **kwargs)`` stopped right after submodule ``module_name``; returns its output."""
    module = model.get_submodule(module_name)

    def hook(_mod: torch.nn.Module, _inputs: Any, output: Any) -> None:
        raise _BlockReached(output)

    handle = module.register_forward_hook(hook)
    try:
        model(*args, **kwargs)
    except _BlockReached as reached:
        return reached.output
    finally:
        handle.remove()
    raise RuntimeError(f"{module_name} did not run during the forward pass")
