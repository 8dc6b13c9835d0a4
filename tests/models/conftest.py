"""Small real data sets shared by the model-protocol tests (sklearn ships them offline)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits


@pytest.fixture(scope="session")
def cancer() -> tuple[np.ndarray, np.ndarray]:
    """Breast cancer, raw (unscaled) features, as float32-representable float64: binary task."""
    d = load_breast_cancer()
    return d.data.astype(np.float32).astype(np.float64), d.target


@pytest.fixture(scope="session")
def cancer_std(cancer: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    X, y = cancer
    Xs = (X - X.mean(0)) / X.std(0)
    return Xs.astype(np.float32).astype(np.float64), y


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """Digits scaled to [0, 1]: 10 classes, 64 features."""
    d = load_digits()
    return (d.data / 16.0).astype(np.float32).astype(np.float64), d.target
