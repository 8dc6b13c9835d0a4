"""Device-agnostic models (issue #11): inputs follow the weights, results come back on the CPU.

Runs on the CPU everywhere; the same checks run on CUDA when a GPU is present (e.g. on a GPU
machine: `.venv/bin/python -m pytest -q tests/models/test_devices.py`).
"""

import numpy as np
import pytest
import torch
from torch import nn

import mathguard as mg

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _net(device: str) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3)).to(device).eval()


@pytest.mark.parametrize("device", DEVICES)
def test_every_lens_runs_on_the_models_device_and_answers_on_the_cpu(device):
    net = _net(device)
    clf = mg.wrap(net, input_shape=(6,), bounds=(0.0, 1.0), mean=0.5, std=0.25)
    x = np.random.default_rng(0).random((8, 6)).astype(np.float32)
    logits = clf.logits(torch.as_tensor(x))
    assert logits.device.type == "cpu" and logits.shape == (8, 3)
    y = clf.predict(x)
    res = mg.attacks.PGD(steps=5)(clf, x, y, eps=0.05)
    assert res.adversarial.device.type == "cpu"
    cert = mg.certify.smoothing(clf, x[:2], y[:2], sigma=0.1, n0=10, n=100)
    assert cert.radius.shape == (2,)
    bounds = mg.certify.ibp(clf, x, y, eps=0.01)
    assert bounds.lower.device.type == "cpu" and bool((bounds.lower <= logits + 1e-4).all())
    assert mg.certify.lipschitz(clf).bound > 0
    assert next(net.parameters()).device.type == device  # the user's model is left where it was
