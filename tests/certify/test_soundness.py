"""Certificates that used to over-claim (issue #11): each case failed before the fix."""

import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import mathguard as mg
from mathguard.cli import main
from mathguard.errors import InputError, ModelError


def _net_with_dropout_and_bn(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    bn = net[1]
    bn.running_mean.uniform_(-0.5, 0.5), bn.running_var.uniform_(0.5, 2.0)
    return net.train()


@pytest.mark.parametrize("seed", range(5))
def test_ibp_on_a_train_mode_net_bounds_the_eval_mode_net_and_restores_the_mode(seed):
    net = _net_with_dropout_and_bn(seed)
    x = torch.rand(4, 6)
    b = mg.certify.ibp(net, x, eps=0.0)
    assert (b.lower <= b.upper + 1e-6).all()
    assert net.training and all(m.training for m in net.modules())  # mode restored
    with torch.no_grad():
        torch.testing.assert_close(b.lower, net.eval()(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("act", [nn.LeakyReLU(-0.5), nn.LeakyReLU(0.1), nn.ELU(3.0), nn.ELU(-2.0)])
def test_ibp_is_sound_for_leaky_relu_and_elu_of_any_slope(act):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 12), act, nn.Linear(12, 3)).eval()
    x, eps = torch.randn(1, 5), 0.3
    b = mg.certify.ibp(net, x, eps=eps)
    pts = x + (torch.rand(5000, 5) * 2 - 1) * eps
    with torch.no_grad():
        out = net(pts)
    assert (out >= b.lower - 1e-5).all() and (out <= b.upper + 1e-5).all()


def test_ibp_folds_the_last_layer_inside_a_normalised_model():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 4)).eval()
    x = torch.rand(64, 8)
    y = net(x).argmax(1)
    plain = mg.certify.ibp(net, x, y, eps=0.05)
    wrapped = mg.certify.ibp(mg.wrap(net, input_shape=(8,), mean=0.0, std=1.0), x, y, eps=0.05)
    torch.testing.assert_close(wrapped.margin_lower, plain.margin_lower, atol=1e-5, rtol=0)


@pytest.mark.parametrize("eps", [float("nan"), float("inf"), -0.1, "0.1"])
def test_ibp_rejects_bad_eps(eps):
    with pytest.raises(InputError, match="eps"):
        mg.certify.ibp(nn.Linear(3, 2), torch.zeros(1, 3), eps=eps)


def _linear_clf():
    torch.manual_seed(0)
    return mg.wrap(nn.Linear(4, 2), input_shape=(4,))


@pytest.mark.parametrize("kwargs, what", [
    ({"sigma": math.inf}, "sigma"), ({"sigma": math.nan}, "sigma"), ({"n": 200.5}, "n"),
    ({"n": 10**12}, "n"), ({"n0": 2.0}, "n0"), ({"alpha": math.nan}, "alpha"), ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 10**9}, "batch_size"),
])
def test_smoothing_refuses_what_it_cannot_certify_or_afford(kwargs, what):
    with pytest.raises(InputError, match=what):
        mg.certify.smoothing(_linear_clf(), np.zeros((2, 4)), **{"n": 100, **kwargs})


class _NaNNet(nn.Linear):
    def forward(self, x):
        return super().forward(x) * float("nan")


class _OneRow(nn.Linear):
    def forward(self, x):
        return super().forward(x)[:1]


@pytest.mark.parametrize("net", [_NaNNet(4, 2), _OneRow(4, 2)])
def test_smoothing_never_certifies_a_broken_model(net):
    clf = mg.wrap(net, input_shape=(4,), n_classes=2)
    with pytest.raises(ModelError):
        mg.certify.smoothing(clf, np.zeros((2, 4)), n=100, n0=10)


def test_smoothing_samples_in_eval_mode_and_restores_train_mode():
    modes = []

    class Spy(nn.Linear):
        def forward(self, x):
            modes.append(self.training)
            return super().forward(x)

    net = nn.Sequential(Spy(4, 2)).train()
    mg.certify.smoothing(mg.wrap(net, input_shape=(4,), n_classes=2), np.zeros((1, 4)), n=50, n0=10)
    mg.certify.smoothed_predict(mg.wrap(net, input_shape=(4,), n_classes=2), np.zeros((1, 4)), n=50)
    assert modes and not any(modes)
    assert net.training and net[0].training


def test_certify_cli_refuses_infinite_sigma(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 4), dtype=np.float32), y=np.zeros(3, dtype=int))
    (tmp_path / "m.py").write_text("from torch import nn\ndef build():\n    return nn.Linear(4, 2)\n")
    for sigma in ("inf", "nan"):
        res = CliRunner().invoke(main, ["certify", "--model", f"{tmp_path / 'm.py'}:build", "--data",
                                        str(tmp_path / "d.npz"), "--sigma", sigma, "--n", "100"])
        assert res.exit_code == 2 and "sigma" in res.output, res.output


def _observed_ratio(net: nn.Module, shape: tuple[int, ...], n: int = 2000, scale: float = 1.0) -> float:
    torch.manual_seed(0)
    x = torch.randn(n, *shape) * scale
    x2 = x + 1e-3 * torch.randn_like(x)
    with torch.no_grad():
        return float(((net(x) - net(x2)).flatten(1).norm(dim=1) / (x - x2).flatten(1).norm(dim=1)).max())


@pytest.mark.parametrize("act, lipschitz", [(nn.ELU(3.0), 3.0), (nn.LeakyReLU(-2.0), 2.0), (nn.LeakyReLU(0.1), 1.0)])
def test_lipschitz_of_elu_and_leaky_relu_is_their_largest_slope(act, lipschitz):
    net = nn.Sequential(act)
    bound = mg.certify.lipschitz(net, input_shape=(4,)).bound
    assert bound == pytest.approx(lipschitz, rel=1e-6)
    assert _observed_ratio(net, (4,), scale=3.0) <= bound


def test_dilated_max_pool_counts_the_windows_an_input_falls_in():
    net = nn.Sequential(nn.MaxPool2d(2, stride=2, dilation=2))
    # Windows {0, 2}, {2, 4} per axis: input (2, 2) sits in 4 of them, so ‖Δout‖ = 2‖Δin‖ on a one-hot change.
    x = torch.zeros(1, 1, 6, 6)
    x2 = x.clone()
    x2[0, 0, 2, 2] = 1.0
    with torch.no_grad():
        ratio = float((net(x2) - net(x)).norm())
    bound = mg.certify.lipschitz(net, input_shape=(1, 6, 6)).bound
    assert ratio == pytest.approx(2.0) and bound >= ratio


@pytest.mark.parametrize("stride, dilation, groups", [(1, 1, 1), (2, 1, 2), (1, 2, 1)])
def test_large_conv_bound_is_rigorous_and_close_to_the_power_iteration_estimate(stride, dilation, groups):
    """Past the dense limit the bound is spectral (circular convolution); it must sit above σ_max, never below."""
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 8, 3, stride=stride, padding=1, dilation=dilation, groups=groups, bias=False).double()
    shape = (8, 32, 32)
    bound = mg.certify.lipschitz(nn.Sequential(conv), input_shape=shape).bound
    v = torch.randn(1, *shape, dtype=torch.float64)
    for _ in range(300):  # power iteration: a lower bound on σ_max
        w = torch.autograd.functional.vjp(conv, torch.zeros_like(v), conv(v))[1]
        v = w / w.norm()
    with torch.no_grad():
        estimate = float(conv(v).norm())
    assert estimate <= bound <= 2.5 * estimate


def test_ibp_training_runs_on_a_net_with_batch_norm_and_dropout():
    torch.manual_seed(0)
    x = torch.rand(64, 6)
    y = (x[:, 0] > 0.5).long()
    net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 2))
    trained = mg.defend.ibp_training(net, mg.defend.batches(x, y), eps=0.05, epochs=2)
    b = mg.certify.ibp(trained, x, y, eps=0.05)
    assert (b.lower <= b.upper).all()
