"""Hooks by dotted module name: scoping, removal on error, early stop, error messages."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from topoact.extract.hooks import capture, first_tensor, resolve_layers


class Boom(nn.Module):
    """A layer that fails: shows a forward pass reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        raise RuntimeError("boom")


class TupleBlock(nn.Module):
    """Returns a tuple like an HF transformer block."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return (self.lin(x), None)


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.ReLU()),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 3),
    )


def n_hooks(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in module.modules())


def test_captures_several_layers_in_one_pass_and_removes_hooks() -> None:
    net = small_net()
    x = torch.randn(2, 3, 5, 5)
    with capture(net, ["1", "2.1"]) as cap:
        assert n_hooks(net) == 2
        net(x)
    assert n_hooks(net) == 0
    assert torch.equal(cap.outputs["1"], net[:2](x))
    assert torch.equal(cap.outputs["2.1"], net[:3](x))
    assert cap.complete and cap.missing == []


def test_hooks_removed_when_forward_raises() -> None:
    net = nn.Sequential(nn.Linear(4, 4), Boom())
    with pytest.raises(RuntimeError, match="boom"):
        with capture(net, ["0"]):
            net(torch.randn(1, 4))
    assert n_hooks(net) == 0


def test_hooks_removed_when_reduce_raises() -> None:
    net = small_net()

    def bad_reduce(layer: str, t: torch.Tensor) -> None:
        raise ValueError(f"cannot reduce {layer}")

    with pytest.raises(ValueError, match="cannot reduce 1"):
        with capture(net, ["1"], reduce=bad_reduce) as cap:
            cap.forward(net, torch.randn(1, 3, 4, 4))
    assert n_hooks(net) == 0


def test_stop_after_ends_forward_before_later_layers() -> None:
    boom = Boom()
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), boom)
    x = torch.randn(2, 4)
    with capture(net, ["0", "1"], stop_after=True) as cap:
        assert cap.forward(net, x) is None  # stopped: the failing layer never ran
        assert cap.complete
    assert boom.calls == 0
    assert torch.equal(cap.outputs["1"], torch.relu(net[0](x)))
    # a bare call inside the block is stopped too; the block absorbs the stop
    with capture(net, ["1"], stop_after=True) as cap2:
        net(x)
        pytest.fail("the rest of the block is skipped after the stop")  # pragma: no cover
    assert boom.calls == 0 and "1" in cap2.outputs
    assert n_hooks(net) == 0


def test_without_stop_the_whole_forward_runs() -> None:
    net = small_net()
    x = torch.randn(2, 3, 4, 4)
    with capture(net, ["0"]) as cap:
        out = cap.forward(net, x)
    assert torch.equal(out, net(x))


def test_reduce_runs_inside_hook_and_only_its_value_is_kept() -> None:
    net = small_net()
    x = torch.randn(3, 3, 4, 4)
    with capture(net, ["2.1"], reduce=lambda name, t: (name, t.mean(dim=(2, 3)))) as cap:
        cap.forward(net, x)
    name, value = cap.outputs["2.1"]
    assert name == "2.1"
    assert torch.allclose(value, net[:3](x).mean(dim=(2, 3)))


def test_tuple_outputs_give_their_first_tensor() -> None:
    block = TupleBlock()
    net = nn.Sequential(block)
    x = torch.randn(2, 4)
    with capture(net, ["0"]) as cap:
        net(x)
    assert torch.equal(cap.outputs["0"], block.lin(x))
    assert torch.equal(first_tensor({"a": 1, "b": x}), x)
    with pytest.raises(TypeError):
        first_tensor((None, 3))


def test_module_called_twice_keeps_first_call_and_counts() -> None:
    relu = nn.ReLU()
    lin = nn.Linear(4, 4)
    net = nn.Module()
    net.relu = relu
    net.lin = lin
    x = torch.randn(2, 4)

    def forward(inp: torch.Tensor) -> torch.Tensor:
        return net.relu(net.lin(net.relu(inp)))

    with capture(net, ["relu"]) as cap:
        cap.forward(forward, x)
    assert cap.calls["relu"] == 2
    assert torch.equal(cap.outputs["relu"], torch.relu(x))


def test_unknown_layer_lists_close_valid_names() -> None:
    net = small_net()
    with pytest.raises(ValueError, match=r"unknown layer '2\.2'.*close matches: .*2\.1"):
        with capture(net, ["1", "2.2"]):
            pass  # pragma: no cover
    assert n_hooks(net) == 0  # nothing registered before the check failed
    with pytest.raises(ValueError, match="valid layers: 0, 1, 2"):
        resolve_layers(net, ["classifier_head_xyz"])
    with pytest.raises(ValueError, match="no layers"):
        resolve_layers(net, [])
    with pytest.raises(ValueError, match="non-empty"):
        resolve_layers(net, [""])


def test_duplicate_layers_are_hooked_once() -> None:
    net = small_net()
    assert list(resolve_layers(net, ["1", "1", "0"])) == ["1", "0"]
    assert list(resolve_layers(net, "1")) == ["1"]


def test_nested_captures_each_stop_only_their_own() -> None:
    boom = Boom()
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), boom)
    x = torch.randn(2, 4)
    with capture(net, ["0", "1"]) as outer:
        with capture(net, ["0"], stop_after=True) as inner:
            assert inner.forward(net, x) is None
        assert "0" in inner.outputs
        # the outer capture saw the first layer of that stopped pass, not the second
        assert "0" in outer.outputs and "1" not in outer.outputs
    assert n_hooks(net) == 0
