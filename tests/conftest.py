"""Fixtures shared across lenses: the bundled digits as tensors and small nets trained on them."""

import os
from dataclasses import dataclass
from typing import Callable

# Before torch loads. The suite runs two xdist workers on two cores, where OpenMP threads spinning while
# they wait steal each other's core (PASSIVE ran the attacks 1.2-9x faster on busy cores, #28); the CLI
# leaves OpenMP as the user set it (see src/mathguard/cli/__init__.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

import mathguard as mg

N_TRAIN = 1200


@pytest.fixture(scope="session")
def digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    """sklearn digits as float32 inputs in [0, 1] of shape (1797, 64) and integer labels."""
    d = load_digits()
    return torch.tensor(d.data / 16.0, dtype=torch.float32), torch.tensor(d.target)


@pytest.fixture(scope="session")
def digits_mlp(digits_tensors) -> Callable[..., nn.Module]:
    """Factory: a 64-hidden MLP trained on the first 1200 digits (seeded), with a choice of activation/loss."""

    def make(activation: type[nn.Module] = nn.ReLU, epochs: int = 15, ibp_eps: float | None = None) -> nn.Module:
        x, y = digits_tensors
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(64, 64), activation(), nn.Linear(64, 10))
        loader = mg.defend.batches(x[:N_TRAIN], y[:N_TRAIN])
        if ibp_eps is not None:
            return mg.defend.ibp_training(net, loader, eps=ibp_eps, epochs=epochs, lr=3e-3)
        return mg.defend.train(net, loader, lambda m, xb, yb, _: nn.functional.cross_entropy(m(xb), yb),
                               epochs=epochs, lr=3e-3)

    return make


@dataclass
class Digits:
    clf: mg.models.Classifier
    x_train: np.ndarray
    y_train: np.ndarray
    x_pool: np.ndarray  # clean held-out inputs: calibration and test splits are drawn from these
    y_pool: np.ndarray


@pytest.fixture(scope="session")
def digits_setup(digits_tensors) -> Digits:
    x, y = digits_tensors
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 32), nn.ReLU(),
                        nn.Linear(32, 10))
    loader = mg.defend.batches(x[:1000], y[:1000])
    mg.defend.train(net, loader, lambda m, xb, yb, _: nn.functional.cross_entropy(m(xb), yb), epochs=15, lr=3e-3)
    clf = mg.wrap(net.eval(), input_shape=(64,), bounds=(0.0, 1.0))
    return Digits(clf, x[:1000].numpy(), y[:1000].numpy(), x[1000:].numpy(), y[1000:].numpy())


MLP_FACTORY = """
import torch
from torch import nn


def build():
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    net.load_state_dict(torch.load(__file__.replace("model.py", "weights.pt")))
    return net.eval()
"""


@pytest.fixture(scope="session")
def mlp_files(tmp_path_factory, digits_tensors):
    """A folder for CLI tests: model.py (factory of a digits MLP), weights.pt, train.npz (x, y), val.npz (x)."""
    tmp = tmp_path_factory.mktemp("mlp")
    x, y = digits_tensors
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    mg.defend.train(net, mg.defend.batches(x[:1000], y[:1000]),
                    lambda m, xb, yb, _: nn.functional.cross_entropy(m(xb), yb), epochs=10, lr=3e-3)
    torch.save(net.state_dict(), tmp / "weights.pt")
    (tmp / "model.py").write_text(MLP_FACTORY)
    np.savez(tmp / "train.npz", x=x[:1000].numpy(), y=y[:1000].numpy())
    np.savez(tmp / "val.npz", x=x[1000:1400].numpy())
    return tmp


class NoisyInput(nn.Module):
    """A randomised defense: Gaussian noise on every input before a net (trained on such noise)."""

    def __init__(self, net: nn.Module, sigma: float) -> None:
        super().__init__()
        self.net, self.sigma = net, sigma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x + self.sigma * torch.randn_like(x))


@pytest.fixture(scope="session")
def noisy_input() -> type[nn.Module]:
    """The randomised noise defense that EOT tests attack (a class: wrap your own net in it)."""
    return NoisyInput
