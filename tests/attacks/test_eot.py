"""EOT: a randomised-noise defense that plain PGD leaves 'robust' falls to EOT-PGD; the transform family."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import mathguard as mg
from mathguard.attacks import EOT, PGD, RandomTransform
from mathguard.attacks.eot import ExpectedClassifier
from mathguard.errors import InputError, UnsupportedError


@pytest.fixture(scope="module")
def noisy(digits, noisy_input):
    x, y = digits
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x + 0.5 * torch.randn_like(x)), y).backward()
        opt.step()
    return mg.wrap(noisy_input(net.eval(), 0.5), input_shape=(64,), bounds=(0.0, 1.0))


def test_eot_pgd_defeats_noise_defense_that_plain_pgd_leaves_robust(noisy, digits):
    x, y = digits
    torch.manual_seed(0)
    judge = ExpectedClassifier(noisy, None, samples=256, random_state=1)  # the defense's answer: its expected prediction
    keep = judge.predict(x[:100]) == y[:100]
    xs, ys = x[:100][keep][:40], y[:100][keep][:40]
    plain = PGD(steps=20)(noisy, xs, ys, eps=0.2)
    # Inside EOT early stopping is off: a stop decided on one noisy estimate is a lucky draw, not a success.
    eot = EOT(PGD(steps=20, early_stop=False), samples=16)(noisy, xs, ys, eps=0.2)
    robust_plain = float((judge.predict(plain.adversarial[0]) == ys).float().mean())
    robust_eot = float((judge.predict(eot.adversarial[0]) == ys).float().mean())
    assert robust_plain >= 0.8, robust_plain
    assert robust_eot <= 0.6 and robust_plain - robust_eot >= 0.3, (robust_plain, robust_eot)
    assert eot.attack == "EOT-PGD" and eot.params["samples"] == 16
    assert (eot.queries == 16 * 20).all()  # 20 forward+backward passes, 16 draws each (one restart: no check after it)


def test_expected_classifier_of_a_deterministic_model_is_the_model(clf, batch):
    x, _ = batch
    avg = ExpectedClassifier(clf, None, samples=4)
    assert torch.allclose(avg.proba(x), clf.proba(x), atol=1e-6)


def test_identity_transform_leaves_images_unchanged():
    x = torch.rand(5, 1, 8, 8)
    t = RandomTransform(rotation=0, scale=(1, 1), translate=0, brightness=(1, 1))
    assert torch.allclose(t(x, torch.Generator().manual_seed(0)), x, atol=1e-5)
    moved = RandomTransform()(x, torch.Generator().manual_seed(0))
    assert moved.shape == x.shape and not torch.allclose(moved, x)


def test_spatial_transforms_need_images(clf, batch):
    x, y = batch
    with pytest.raises(UnsupportedError):
        EOT(PGD(steps=2), transforms="eot", samples=2)(clf, x, y, eps=0.1)


@pytest.mark.parametrize("kwargs", [{"samples": 0}, {"transforms": "blur"}, {"transforms": 3}])
def test_eot_arguments_are_validated(kwargs):
    with pytest.raises(InputError):
        EOT(PGD(), **kwargs)


@pytest.mark.parametrize("kwargs", [{"rotation": -1}, {"scale": (0, 1)}, {"brightness": (1.2, 0.8)},
                                    {"translate": float("nan")}])
def test_transform_arguments_are_validated(kwargs):
    with pytest.raises(InputError):
        RandomTransform(**kwargs)


def test_eot_wraps_only_attacks():
    with pytest.raises(InputError):
        EOT(lambda clf, x, y, eps: None)
