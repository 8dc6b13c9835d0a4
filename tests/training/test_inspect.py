"""inspect(): every number against numpy's SVD; the init-scale check fires only on bad scales."""

import math

import numpy as np
import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.demo.context import digits_cnn
from mathguard.errors import InputError


def test_spectral_numbers_match_numpy_svd():
    torch.manual_seed(0)
    net = digits_cnn()
    stats = mg.training.inspect(net).metrics["layers"]
    for name, module in net.named_modules():
        if not isinstance(module, (nn.Linear, nn.Conv2d)):
            continue
        w = module.weight.detach().double().numpy().reshape(module.weight.shape[0], -1)
        sv = np.linalg.svd(w, compute_uv=False)
        s = stats[name]
        assert s["spectral_norm"] == pytest.approx(sv[0], rel=1e-10)
        assert s["smallest_singular_value"] == pytest.approx(sv[-1], rel=1e-8)
        assert s["condition_number"] == pytest.approx(sv[0] / sv[-1], rel=1e-8)
        assert s["stable_rank"] == pytest.approx(np.linalg.norm(w) ** 2 / sv[0] ** 2, rel=1e-10)
        assert s["std"] == pytest.approx(w.std(ddof=1), rel=1e-10)
        assert s["he_std"] == pytest.approx(math.sqrt(2 / w.shape[1]))


def test_conv_fan_out_follows_pytorch():
    conv = nn.Conv2d(3, 8, 5)
    s = mg.training.inspect(conv).metrics["layers"]["Conv2d"]
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(conv.weight)
    assert (s["fan_in"], s["fan_out"]) == (fan_in, fan_out)


@pytest.mark.parametrize("init, expected", [
    (lambda w: nn.init.normal_(w, std=1.0), "He scale"),       # 5.7× He on 64→64
    (lambda w: nn.init.normal_(w, std=0.005), "Xavier scale"),  # 0.04× Xavier
    (lambda w: None, None),                                     # PyTorch's default
    (lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"), None),
    (lambda w: nn.init.xavier_uniform_(w), None),
])
def test_init_scale_finding(init, expected):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    init(net[0].weight)
    findings = [f for f in mg.training.inspect(net).findings if f.id == "calculus.init-scale"]
    if expected is None:
        assert findings == []
    else:
        (f,) = findings
        assert expected in f.title and f.evidence["layer"] == "0" and f.severity == mg.Severity.MEDIUM


def test_report_has_a_spectrum_and_rejects_weightless_models():
    rep = mg.training.inspect(nn.Sequential(nn.Linear(4, 3)))
    assert rep.figures and "Singular value" in rep.to_html()
    with pytest.raises(InputError, match="no Linear or Conv"):
        mg.training.inspect(nn.ReLU())
