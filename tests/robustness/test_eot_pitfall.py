"""A random forward pass is re-attacked with EOT-PGD, and its robust accuracy is reported next to the plain one."""

import torch
from torch import nn

import mathguard as mg


def test_eot_finds_notably_more_on_a_noise_defense(digits_tensors, noisy_input):
    x, y = digits_tensors
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x[:1200] + 0.5 * torch.randn_like(x[:1200])), y[:1200]).backward()
        opt.step()
    torch.manual_seed(0)
    rep = mg.evaluate_robustness(noisy_input(net.eval(), 0.5), x[1200:1260], y[1200:1260], eps=[0.2], steps=20,
                                 check_samples=40, input_shape=(64,), bounds=(0.0, 1.0))
    eot = rep.metrics["eot"]
    assert eot["eps"] == 0.2 and eot["n"] <= 40
    assert eot["eot_robust_accuracy"] <= eot["plain_robust_accuracy"] - 0.05, eot
    assert "adversarial.eot-beats-plain" in {f.id for f in rep.findings}
    assert "EOT-PGD" in rep.summary


def test_a_deterministic_model_gets_no_eot_rerun(digits_tensors, digits_mlp):
    x, y = digits_tensors
    rep = mg.evaluate_robustness(digits_mlp(), x[1200:1230], y[1200:1230], eps=[0.1], steps=10,
                                 input_shape=(64,), bounds=(0.0, 1.0))
    assert "eot" not in rep.metrics
