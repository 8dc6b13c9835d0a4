"""APGD: at least as strong as PGD with the same budget of steps; losses and schedule."""

from __future__ import annotations

import pytest
import torch

import mathguard as mg
from mathguard.attacks.apgd import checkpoints, dlr_loss
from mathguard.errors import InputError


def test_checkpoint_schedule_matches_paper():
    # p = 0, .22, .41, .57, .70, .80, .87, .93, .99 → iterations for 100 steps
    assert checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]


def test_dlr_is_scale_invariant_and_negative_when_correct():
    logits = torch.tensor([[5.0, 1.0, 0.0, -1.0], [0.0, 3.0, 1.0, 2.0]])
    y = torch.tensor([0, 0])
    l1 = dlr_loss(logits, y)
    assert torch.allclose(l1, dlr_loss(10 * logits + 3, y), atol=1e-6)
    assert l1[0] < 0 < l1[1]
    assert torch.allclose(l1[0], torch.tensor(-(5.0 - 1.0) / (5.0 - 0.0)))


@pytest.mark.parametrize("norm,eps", [("linf", 0.04), ("l2", 0.5)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_apgd_at_least_pgd(clf, batch, norm, eps, seed):
    # APGD-CE against PGD on the same loss; DLR is a different objective, so it is judged in the
    # ensemble it was designed for (CE then DLR), never alone against CE.
    x, y = batch
    pgd = mg.attacks.PGD(norm=norm, steps=30, random_state=seed)(clf, x, y, eps=eps)
    ce = mg.attacks.APGD(norm=norm, loss="ce", steps=30, random_state=seed)(clf, x, y, eps=eps)
    dlr = mg.attacks.APGD(norm=norm, loss="dlr", steps=30, random_state=seed)(clf, x, y, eps=eps)
    assert ce.success_rate[0] >= pgd.success_rate[0]
    assert (ce.success[0] | dlr.success[0]).float().mean() >= pgd.success_rate[0]
    for res in (ce, dlr):
        d = (res.adversarial[0] - x).flatten(1)
        n = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
        assert (n <= eps * (1 + 1e-5)).all()
        assert res.adversarial.min() >= 0 and res.adversarial.max() <= 1


def test_targeted_adds_successes(clf, batch):
    x, y = batch
    untargeted = mg.attacks.APGD(loss="dlr", steps=20)(clf, x, y, eps=[0.02, 0.03])
    targeted = mg.attacks.APGD(loss="dlr", targeted=True, n_target_classes=3, steps=20)(clf, x, y, eps=[0.02, 0.03])
    assert targeted.attack == "APGD-T"
    assert (targeted.success_rate >= untargeted.success_rate - 0.05).all()
    assert (targeted.success == (clf.predict(targeted.adversarial.flatten(0, 1)).view(2, -1) != y)).all()


def test_apgd_bad_inputs(clf, batch):
    with pytest.raises(InputError, match="loss"):
        mg.attacks.APGD(loss="hinge")
    with pytest.raises(InputError, match="targeted"):
        mg.attacks.APGD(targeted=True, loss="ce")
    from torch import nn
    two = mg.wrap(nn.Linear(64, 2), input_shape=(64,), bounds=(0.0, 1.0))
    x = batch[0][:4]
    with pytest.raises(InputError, match="DLR"):
        mg.attacks.APGD(loss="dlr")(two, x, torch.zeros(4, dtype=torch.long), eps=0.1)
