"""The weights report states the network's Lipschitz bound as a number, or says why there is none (#25)."""

import torch
from torch import nn

import mathguard as mg


def test_the_summary_gives_the_bound_as_a_number():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    rep = mg.training.inspect(net)
    bound = mg.certify.lipschitz(net).bound
    assert rep.metrics["lipschitz_bound"] == bound and f"{bound:.3g}" in rep.summary
    assert "mg.certify" not in rep.summary


def test_a_network_the_bound_cannot_handle_says_why():
    class Odd(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x) ** 2

    rep = mg.training.inspect(Odd())
    assert rep.metrics["lipschitz_bound"] is None and "No global Lipschitz bound" in rep.summary
