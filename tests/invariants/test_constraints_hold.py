"""Constraint invariance: every adversarial example an attack returns satisfies every constraint it
was given (bounds, immutable features, one-hot groups), for generated constraint sets.

Before issue #22 the one-hot search ignored ``mutable`` and ran after the last projection: with the
category immutable, 300/300 points changed category and PGD reported 100 % success.
"""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import mathguard as mg

D = 7  # three continuous features, then a one-hot group of four


def _model(seed: int) -> mg.models.Classifier:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(D, 16), nn.ReLU(), nn.Linear(16, 3)).eval()
    return mg.wrap(net, input_shape=(D,), bounds=(0, 1))


def _data(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    cat = torch.nn.functional.one_hot(torch.randint(0, 4, (n,), generator=g), 4).float()
    return torch.cat([torch.rand(n, 3, generator=g) * 0.8 + 0.1, cat], 1)


@st.composite
def constraints(draw):
    mutable = np.array(draw(st.lists(st.booleans(), min_size=3, max_size=3)) + [draw(st.booleans())] * 4)
    if not mutable.any():
        mutable[0] = True
    low = np.array([draw(st.floats(0.0, 0.1)) for _ in range(3)] + [0.0] * 4)
    high = np.array([draw(st.floats(0.9, 1.0)) for _ in range(3)] + [1.0] * 4)
    return mutable, low, high


@given(constraints(), st.sampled_from(["pgd", "apgd"]), st.sampled_from(["linf", "l2"]),
       st.sampled_from([0.1, 0.5, 1.0, 1.5]), st.integers(0, 100))
@settings(max_examples=30, deadline=None)
def test_adversarials_satisfy_every_constraint(box, name, norm, eps, seed):
    mutable, low, high = box
    clf, x = _model(seed), _data(40, seed)
    with torch.no_grad():
        y = clf.predict(x)
    kw = dict(norm=norm, low=low, high=high, mutable=mutable, onehot=[[3, 4, 5, 6]])
    attack = mg.attacks.PGD(steps=10, **kw) if name == "pgd" else mg.attacks.APGD(steps=10, **kw)
    res = attack(clf, x, y, eps=eps)
    adv = res.adversarial[0]
    frozen = torch.as_tensor(~mutable)
    assert torch.equal(adv[:, frozen], x[:, frozen])
    lo, hi = torch.as_tensor(low, dtype=adv.dtype), torch.as_tensor(high, dtype=adv.dtype)
    free = torch.as_tensor(mutable)
    assert ((adv[:, free] >= lo[free]) & (adv[:, free] <= hi[free])).all()
    group = adv[:, 3:]
    assert (((group == 0) | (group == 1)).all(1) & (group.sum(1) == 1)).all()
    assert (res.norms[0] <= eps * (1 + 1e-5) + 1e-6).all()


def test_an_immutable_category_never_changes():
    n = 300
    g = torch.Generator().manual_seed(0)
    cat = torch.randint(0, 3, (n,), generator=g)
    x = torch.cat([torch.rand(n, 3, generator=g), torch.nn.functional.one_hot(cat, 3).float()], 1)
    net = nn.Linear(6, 3)
    with torch.no_grad():  # the label is the category: only a category change can fool it
        net.weight.zero_(), net.bias.zero_()
        net.weight[:, 3:] = 5 * torch.eye(3)
    clf = mg.wrap(net, input_shape=(6,), bounds=(0, 1))
    mutable = np.array([True, True, True, False, False, False])
    res = mg.attacks.PGD(norm="linf", mutable=mutable, onehot=[[3, 4, 5]])(clf, x, cat, eps=1.0)
    assert torch.equal(res.adversarial[0][:, 3:], x[:, 3:])
    assert res.success[0].sum() == 0
    res = mg.attacks.PGD(norm="linf", onehot=[[3, 4, 5]])(clf, x, cat, eps=1.0)  # a mutable one does change
    assert res.success[0].float().mean() > 0.9
