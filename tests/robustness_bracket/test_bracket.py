"""The bracket: certified ≤ empirical at every budget, both measured on the same points."""

import pytest
import mathguard as mg
from mathguard.errors import InputError


@pytest.fixture(scope="module")
def trained(digits_tensors, digits_mlp):
    x, y = digits_tensors
    net = digits_mlp(epochs=10, ibp_eps=0.1)
    return mg.wrap(net, input_shape=(64,), bounds=(0.0, 1.0)), x[1200:1400], y[1200:1400]


@pytest.mark.parametrize("norm, eps", [("linf", [0.0, 0.05, 0.1, 0.2]), ("l2", [0.05, 0.1, 0.3])])
def test_certified_never_exceeds_empirical(trained, norm, eps):
    clf, x, y = trained
    rep = mg.robustness_bracket(clf, x, y, norm=norm, eps=eps)
    cert, emp = rep.metrics["certified_accuracy"], rep.metrics["empirical_robust_accuracy"]
    for e in eps:
        assert 0.0 <= cert[e] <= emp[e] <= 1.0
    assert cert[max(eps)] <= cert[min(eps)]
    assert rep.metrics["certified_accuracy"][eps[1]] > 0.1  # the IBP-trained net certifies something
    assert "ibp" in rep.metrics["certificates"]
    assert len(rep.figures) == 1


def test_wide_gap_is_a_finding_and_black_box_has_no_certificate(trained):
    clf, x, y = trained
    rep = mg.robustness_bracket(clf, x, y, norm="linf", eps=[0.3])
    gap = rep.metrics["empirical_robust_accuracy"][0.3] - rep.metrics["certified_accuracy"][0.3]
    ids = [f.id for f in rep.findings]
    assert ("adversarial.bracket-gap" in ids) == (gap > 0.10)


def test_bad_norm_is_named(trained):
    clf, x, y = trained
    with pytest.raises(InputError, match="norm"):
        mg.robustness_bracket(clf, x, y, norm="l1", eps=[0.1])
