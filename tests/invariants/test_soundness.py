"""Soundness: for random small networks built from every layer the certificates accept (nested
containers, BatchNorm, Dropout, pooling), sampled points inside eps stay inside the IBP bounds and
observed difference quotients stay under the Lipschitz bound; a module whose class overrides
``forward`` (or carries forward hooks) is refused, never bounded (issue #22: a residual block
written as an ``nn.Sequential`` subclass was bounded as if it were plain)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import mathguard as mg
from mathguard.errors import UnsupportedError


class Residual(nn.Sequential):
    def forward(self, x):
        return x + super().forward(x)


class ScaledLinear(nn.Linear):
    def forward(self, x):
        return 3.0 * super().forward(x)


class ResidualConv(nn.Sequential):
    def forward(self, x):
        return x + super().forward(x)


def _tabular(draw, width: int) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for _ in range(draw(st.integers(1, 3))):
        out = draw(st.integers(2, 8))
        block = [nn.Linear(width, out)]
        if draw(st.booleans()):
            bn = nn.BatchNorm1d(out)
            bn.running_mean.uniform_(-1, 1), bn.running_var.uniform_(0.3, 3)
            block.append(bn)
        block.append(draw(st.sampled_from([nn.ReLU(), nn.Tanh(), nn.Sigmoid(), nn.LeakyReLU(0.1), nn.ELU()])))
        if draw(st.booleans()):
            block.append(nn.Dropout(0.5))
        layers.append(nn.Sequential(*block) if draw(st.booleans()) else block[0])  # nested or flat
        if not isinstance(layers[-1], nn.Sequential):
            layers.extend(block[1:])
        width = out
    layers.append(nn.Linear(width, 3))
    return layers


@st.composite
def tabular_nets(draw) -> nn.Module:
    torch.manual_seed(draw(st.integers(0, 10_000)))
    return nn.Sequential(*_tabular(draw, 5))


@st.composite
def conv_nets(draw) -> nn.Module:
    torch.manual_seed(draw(st.integers(0, 10_000)))
    pool = draw(st.sampled_from([nn.MaxPool2d(2), nn.AvgPool2d(2), nn.Identity()]))
    size = 3 if isinstance(pool, nn.Identity) else 1
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), pool, nn.Conv2d(2, 1, 3, padding=1), nn.ReLU(),
                         nn.Flatten(), nn.Linear(size * size if size == 1 else 9, 3))


def _samples(x: torch.Tensor, eps: float, k: int = 64) -> torch.Tensor:
    noise = (torch.rand(k, *x.shape[1:]) * 2 - 1) * eps
    corners = torch.sign(torch.randn(k, *x.shape[1:])) * eps  # vertices reach the extremes more often
    return torch.cat([x + noise, x + corners])


@given(tabular_nets(), st.floats(0.0, 0.5))
@settings(max_examples=25, deadline=None)
def test_ibp_bounds_contain_every_sampled_point(net, eps):
    net.eval()
    x = torch.rand(1, 5)
    b = mg.certify.ibp(net, x, eps=eps)
    with torch.no_grad():
        out = net(_samples(x, eps))
    assert (out >= b.lower - 1e-5).all() and (out <= b.upper + 1e-5).all()


@given(conv_nets(), st.floats(0.0, 0.3))
@settings(max_examples=10, deadline=None)
def test_ibp_bounds_contain_sampled_images(net, eps):
    net.eval()
    x = torch.rand(1, 1, 3, 3)
    b = mg.certify.ibp(net, x, eps=eps)
    with torch.no_grad():
        out = net(_samples(x, eps))
    assert (out >= b.lower - 1e-5).all() and (out <= b.upper + 1e-5).all()


@given(tabular_nets())
@settings(max_examples=25, deadline=None)
def test_lipschitz_bound_is_above_every_observed_quotient(net):
    net.eval()
    bound = mg.certify.lipschitz(net, input_shape=(5,)).bound
    a, b = torch.randn(256, 5), torch.randn(256, 5) * 0.1
    with torch.no_grad():
        ratio = (net(a + b) - net(a)).norm(dim=1) / b.norm(dim=1)
    assert float(ratio.max()) <= bound * (1 + 1e-6)


def _refused_nets() -> list[nn.Module]:
    torch.manual_seed(0)
    hooked = nn.Sequential(nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 3))
    hooked[0].register_forward_hook(lambda m, i, o: o * 10)
    return [
        nn.Sequential(Residual(nn.Linear(5, 5), nn.ReLU()), nn.Linear(5, 3)),
        nn.Sequential(nn.Linear(5, 5), nn.ReLU(), Residual(nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 5)),
                      nn.Linear(5, 3)),
        Residual(nn.Linear(5, 5), nn.ReLU(), nn.Linear(5, 5)),
        nn.Sequential(ScaledLinear(5, 5), nn.ReLU(), nn.Linear(5, 3)),
        nn.Sequential(nn.Linear(5, 5), nn.ReLU(), ScaledLinear(5, 3)),
        hooked,
    ]


@pytest.mark.parametrize("net", _refused_nets(), ids=["residual", "nested-residual", "residual-root", "scaled-linear",
                                                      "scaled-head", "hooked"])
def test_subclasses_that_override_forward_and_hooks_are_refused(net):
    net.eval()
    x = torch.rand(4, 5)
    with pytest.raises(UnsupportedError, match="forward"):
        mg.certify.ibp(net, x, eps=0.1)
    with pytest.raises(UnsupportedError, match="forward"):
        mg.certify.lipschitz(net, input_shape=(5,))


def test_bracket_on_a_residual_subclass_proves_nothing_it_cannot():
    """Before: IBP bounded the children and ignored the residual, and the bracket 'proved' points."""
    torch.manual_seed(0)
    net = nn.Sequential(Residual(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4)), nn.Linear(4, 3)).eval()
    x = torch.rand(64, 4)
    with torch.no_grad():
        y = net(x).argmax(1)
    for norm in ("linf", "l2"):
        rep = mg.robustness_bracket(net, x, y, input_shape=(4,), norm=norm, eps=[0.01, 0.1])
        assert rep.metrics["certificates"] == []
        assert all(v == 0 for v in rep.metrics["certified_accuracy"].values())


def test_library_layers_with_their_own_forward_stay_supported():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Dropout(), nn.Linear(6, 3)).eval()
    clf = mg.wrap(net, input_shape=(5,), mean=0.5, std=0.2)  # Normalize is mathguard's own layer
    b = mg.certify.ibp(clf, torch.rand(3, 5), eps=0.01)
    assert torch.isfinite(b.lower).all()
    assert math.isfinite(mg.certify.lipschitz(clf).bound)
