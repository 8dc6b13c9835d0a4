"""IBP and Lipschitz bounds: exact on single linear maps, sound on random ReLU networks."""

import numpy as np
import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.errors import UnsupportedError


def test_ibp_bounds_of_a_linear_layer_are_exact():
    torch.manual_seed(0)
    layer = nn.Linear(10, 4)
    x, eps = torch.rand(3, 10), 0.1
    b = mg.certify.ibp(layer, x, eps=eps)
    for k in range(4):
        sign = torch.sign(layer.weight[k])
        at_lower = layer(x - eps * sign)[:, k]
        at_upper = layer(x + eps * sign)[:, k]
        torch.testing.assert_close(b.lower[:, k], at_lower, atol=1e-5, rtol=0)
        torch.testing.assert_close(b.upper[:, k], at_upper, atol=1e-5, rtol=0)


def _random_relu_net(seed: int, conv: bool) -> nn.Module:
    torch.manual_seed(seed)
    if conv:
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(4, 6, 3), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6, 5)).eval()
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5)).eval()


@pytest.mark.parametrize("conv", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ibp_contains_logits_of_thousands_of_points_in_the_ball(conv, seed):
    net = _random_relu_net(seed, conv)
    if conv:  # give BatchNorm non-trivial statistics
        bn = net[1]
        bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.uniform_(-2, 2)
    shape = (1, 8, 8) if conv else (8,)
    x = torch.rand(1, *shape)
    eps = 0.05
    y = net(x).argmax(1)
    b = mg.certify.ibp(net, x, y, eps=eps)
    pts = x + (torch.rand(4000, *shape) * 2 - 1) * eps
    corners = x + eps * torch.sign(torch.randn(1000, *shape))
    with torch.no_grad():
        out = net(torch.cat([pts, corners]))
    assert (out >= b.lower - 1e-5).all() and (out <= b.upper + 1e-5).all()
    margins = out[:, y] - out
    assert (margins >= b.margin_lower - 1e-5).all()
    if bool(b.verified[0]):
        assert (out.argmax(1) == y).all()


def test_ibp_respects_input_bounds_of_a_classifier():
    net = _random_relu_net(0, conv=False)
    clf = mg.wrap(net, input_shape=(8,), bounds=(0.0, 1.0))
    x = torch.zeros(2, 8)
    clipped = mg.certify.ibp(clf, x, eps=0.5)
    free = mg.certify.ibp(net, x, eps=0.5)
    assert (clipped.upper - clipped.lower).sum() < (free.upper - free.lower).sum()


def test_ibp_names_unsupported_layers():
    net = nn.Sequential(nn.Linear(4, 4), nn.GELU(), nn.Linear(4, 2))
    net[1] = nn.Softmax(dim=1)
    with pytest.raises(UnsupportedError, match="Softmax"):
        mg.certify.ibp(net, torch.zeros(1, 4), eps=0.1)


def test_lipschitz_of_a_linear_layer_is_its_largest_singular_value():
    torch.manual_seed(0)
    layer = nn.Linear(20, 7)
    lip = mg.certify.lipschitz(layer)
    assert lip.bound == pytest.approx(np.linalg.svd(layer.weight.detach().numpy(), compute_uv=False)[0], rel=1e-6)


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0), (1, 0)])
def test_conv_norm_equals_svd_of_the_unrolled_operator(stride, padding):
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, 3, stride=stride, padding=padding, bias=False)
    shape = (2, 6, 6)
    basis = torch.eye(int(np.prod(shape))).reshape(-1, *shape)
    with torch.no_grad():
        dense = conv(basis).reshape(len(basis), -1).T.double().numpy()
    expected = np.linalg.svd(dense, compute_uv=False)[0]
    lip = mg.certify.lipschitz(nn.Sequential(conv), input_shape=shape)
    assert lip.bound == pytest.approx(expected, rel=1e-5)


def test_lipschitz_bound_holds_and_radius_is_sound_on_a_net():
    net = _random_relu_net(3, conv=True)
    lip = mg.certify.lipschitz(net, input_shape=(1, 8, 8))
    torch.manual_seed(0)
    x = torch.rand(200, 1, 8, 8)
    x2 = x + 0.01 * torch.randn_like(x)
    with torch.no_grad():
        ratio = (net(x) - net(x2)).norm(dim=1) / (x - x2).flatten(1).norm(dim=1)
    assert (ratio <= lip.bound * (1 + 1e-6)).all()
    assert lip.radius(1.0) == pytest.approx(1 / (np.sqrt(2) * lip.bound))


def test_lipschitz_refuses_black_box_and_unknown_layers():
    with pytest.raises(UnsupportedError, match="GELU"):
        mg.certify.lipschitz(nn.Sequential(nn.Linear(3, 3), nn.GELU()))


def test_no_l2_attack_succeeds_inside_the_lipschitz_radius():
    net = _random_relu_net(4, conv=False)
    clf = mg.wrap(net, input_shape=(8,))
    lip = mg.certify.lipschitz(clf)
    torch.manual_seed(0)
    x = torch.rand(300, 8)
    with torch.no_grad():
        top2 = clf.logits(x).topk(2, dim=1).values
    radius = lip.radius(top2[:, 0] - top2[:, 1])
    y = clf.predict(x)
    res = mg.attacks.PGD(norm="l2", steps=50, restarts=2)(clf, x, y, eps=float(radius.median()))
    inside = radius >= float(radius.median())
    assert inside.sum() > 100
    assert not res.success[0][inside].any()
