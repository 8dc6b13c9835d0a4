"""A dropout MLP trained on digits, split into train / calibration / test for the detector tests."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

import mathguard as mg


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
