"""Adversarial patch: EOT training survives fresh placements better than a patch trained at one place."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mathguard.attacks import Patch, RandomTransform
from mathguard.errors import InputError, UnsupportedError


def test_eot_patch_survives_fresh_transformations_better(demo_digits):
    clf, xtr, ytr, xte, yte = demo_digits
    kw = dict(size=0.25, steps=150, batch_size=64, step_size=0.1)
    eot = Patch(transforms="eot", **kw)(clf, xtr[:256], ytr[:256])
    fixed = Patch(transforms=None, **kw)(clf, xtr[:256], ytr[:256])
    fresh = RandomTransform()
    rate_eot = eot.evaluate(clf, xte, yte, transforms=fresh, random_state=7)
    rate_fixed = fixed.evaluate(clf, xte, yte, transforms=fresh, random_state=7)
    assert rate_eot > rate_fixed + 0.05, (rate_eot, rate_fixed)
    assert eot.patch.shape == (1, 4, 4) and eot.patch.min() >= 0 and eot.patch.max() <= 1
    assert eot.success.shape == (256,) and eot.queries == -(-150 * 64 // 256) + 1


def test_patch_stays_in_its_region_and_hits_a_target(demo_digits):
    clf, xtr, ytr, *_ = demo_digits
    region = np.zeros((8, 8), dtype=bool)
    region[:4, :4] = True
    res = Patch(size=0.1, steps=40, batch_size=64, region=region)(clf, xtr[:128], ytr[:128], target=3)
    pasted = res.apply(xtr[:128], random_state=3)
    changed = (pasted != xtr[:128]).any(0).any(0)
    assert not changed[torch.as_tensor(~region)].any()
    assert res.target == 3 and 0 <= res.success_rate <= 1
    assert res.evaluate(clf, xtr[:128], ytr[:128]) >= 0


def test_patch_arguments_are_validated(demo_digits, clf, batch):
    img_clf, xtr, ytr, *_ = demo_digits
    for kwargs in ({"size": 0}, {"size": 1.5}, {"steps": 0}, {"transforms": "blur"}, {"step_size": -1}):
        with pytest.raises(InputError):
            Patch(**kwargs)
    with pytest.raises(UnsupportedError):
        Patch(steps=1)(clf, *batch)  # flat features: no place to paste a patch
    with pytest.raises(InputError):
        Patch(steps=1, region=np.ones((4, 4), dtype=bool))(img_clf, xtr[:4], ytr[:4])
    with pytest.raises(InputError):
        Patch(steps=1)(img_clf, xtr[:4], ytr[:4], target=10)


def test_central_placement_is_central():
    """The middle of the row-major corner list lands on the left edge for an odd count of columns (issue #22)."""
    from mathguard.attacks.patch import _placements, central_corner

    corners = _placements(torch.ones(8, 8, dtype=torch.bool), 3, 3)
    assert corners[len(corners) // 2].tolist() == [3, 0]  # what the old rule picked
    assert central_corner(corners, 8, 8, 3, 3).tolist() == [2, 2]
    region = torch.zeros(10, 10, dtype=torch.bool)
    region[:, 5:] = True  # only the right half allowed: the nearest allowed place to the centre
    assert central_corner(_placements(region, 2, 2), 10, 10, 2, 2).tolist() == [4, 5]
