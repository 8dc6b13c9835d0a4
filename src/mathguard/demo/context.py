"""Shared ingredients of `mathguard demo`: bundled data and one small trained network.

Sections ask the context for what they need; everything is built lazily and once, so
the whole demo trains the digits network a single time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Split:
    """A train/test split of one bundled data set (features as float32 numpy)."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    feature_names: tuple[str, ...]


def digits_cnn() -> nn.Module:
    """A small CNN for 1×8×8 digits with inputs in [0, 1]."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 4 * 4, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )


def train_classifier(
    net: nn.Module, X: np.ndarray, y: np.ndarray, epochs: int = 30, lr: float = 1e-3, random_state: int = 0
) -> nn.Module:
    """Plain full-batch-free Adam training; deterministic for a given random_state."""
    g = torch.Generator().manual_seed(random_state)
    xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt), generator=g)
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    return net.eval()


@dataclass
class DemoContext:
    """Lazily built data and models shared by all demo sections."""

    random_state: int = 0
    quick: bool = False
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        torch.manual_seed(self.random_state)
        np.random.seed(self.random_state)

    @cached_property
    def digits(self) -> Split:
        """sklearn digits scaled to [0, 1], flat (N, 64)."""
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        d = load_digits()
        X = (d.data / 16.0).astype(np.float32)
        Xtr, Xte, ytr, yte = train_test_split(X, d.target, test_size=0.3, random_state=self.random_state, stratify=d.target)
        return Split(Xtr, Xte, ytr, yte, tuple(d.feature_names))

    @cached_property
    def breast_cancer(self) -> Split:
        from sklearn.datasets import load_breast_cancer
        from sklearn.model_selection import train_test_split

        d = load_breast_cancer()
        Xtr, Xte, ytr, yte = train_test_split(
            d.data, d.target, test_size=0.3, random_state=self.random_state, stratify=d.target
        )
        return Split(Xtr, Xte, ytr, yte, tuple(d.feature_names))

    @cached_property
    def digits_images(self) -> tuple[np.ndarray, np.ndarray]:
        """(X_train, X_test) of digits reshaped to (N, 1, 8, 8)."""
        return self.digits.X_train.reshape(-1, 1, 8, 8), self.digits.X_test.reshape(-1, 1, 8, 8)

    @cached_property
    def cnn(self) -> nn.Module:
        """The demo network, trained once on digits."""
        torch.manual_seed(self.random_state)
        return train_classifier(digits_cnn(), self.digits_images[0], self.digits.y_train,
                                epochs=10 if self.quick else 30, random_state=self.random_state)

    @cached_property
    def classifier(self):  # -> mathguard.models.Classifier
        """The demo network behind the model protocol, inputs bounded to [0, 1]."""
        from mathguard.models import wrap

        return wrap(self.cnn, bounds=(0.0, 1.0), input_shape=(1, 8, 8), n_classes=10)
