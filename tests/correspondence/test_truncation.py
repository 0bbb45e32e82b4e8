"""run_until stops the forward pass after the named block, for any model."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from labeler.correspondence.truncation import run_until


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(4, 4)
        self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
        self.last = nn.Linear(4, 2)
        self.ran = []

    def forward(self, x, scale=1.0):
        x = self.first(x) * scale
        for i, block in enumerate(self.blocks):
            x = block(x)
            self.ran.append(i)
        self.ran.append("last")
        return self.last(x)


def test_returns_the_blocks_output_and_skips_the_rest():
    torch.manual_seed(0)
    net = Net()
    x = torch.randn(3, 4)
    out = run_until(net, "blocks.0", x, scale=2.0)
    torch.testing.assert_close(out, net.blocks[0](net.first(x) * 2.0))
    assert net.ran == []  # the loop never got past block 0
    assert not net.blocks[0]._forward_hooks  # hook removed


def test_gradients_flow_through_the_captured_output():
    net = Net()
    x = torch.randn(2, 4, requires_grad=True)
    run_until(net, "blocks.1", x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_a_block_that_never_runs_is_an_error():
    net = Net()
    net.unused = nn.Linear(4, 4)
    with pytest.raises(RuntimeError, match="did not run"):
        run_until(net, "unused", torch.randn(1, 4))
    assert not net.unused._forward_hooks


def test_unknown_block_name():
    with pytest.raises(AttributeError):
        run_until(Net(), "blocks.7", torch.randn(1, 4))


def test_other_exceptions_propagate_and_the_hook_is_removed():
    net = Net()
    with pytest.raises(RuntimeError):
        run_until(net, "blocks.0", torch.randn(1, 5))  # wrong width fails in `first`
    assert not net.blocks[0]._forward_hooks
