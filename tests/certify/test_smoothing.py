"""Randomized smoothing against the analytic truth of a linear classifier.

For f(x) = argmax(Wx + b) with two classes, P(f(x + δ) = top) = Φ(|d| / (σ‖w‖)) with
d = (w₁ − w₀)·x + b₁ − b₀, so the exact smoothed radius is |d| / ‖w₁ − w₀‖: the L2
distance to the decision boundary.
"""

import numpy as np
import pytest
import torch
from scipy.stats import beta, norm
from torch import nn

import mathguard as mg
from mathguard.certify import ABSTAIN, lower_confidence_bound, max_certifiable_radius
from mathguard.errors import InputError


def _linear_binary(d: int = 16, seed: int = 0):
    torch.manual_seed(seed)
    net = nn.Linear(d, 2).requires_grad_(False)
    clf = mg.wrap(net, input_shape=(d,))
    w = (net.weight[1] - net.weight[0]).double()
    b = float(net.bias[1] - net.bias[0])
    return clf, w, b


def _exact_distance(x: torch.Tensor, w: torch.Tensor, b: float) -> np.ndarray:
    return ((x.double() @ w + b).abs() / w.norm()).numpy()


def test_clopper_pearson_matches_beta_quantile():
    assert lower_confidence_bound(37, 50, alpha=0.01) == pytest.approx(beta.ppf(0.01, 37, 14))
    assert lower_confidence_bound(0, 50, alpha=0.01) == 0.0
    # all n draws agree: the bound is alpha ** (1/n), which caps every radius
    assert lower_confidence_bound(100, 100, alpha=0.001) == pytest.approx(0.001 ** (1 / 100))
    assert max_certifiable_radius(0.25, 100, alpha=0.001) == pytest.approx(0.25 * norm.ppf(0.001 ** 0.01))


def test_linear_radius_tends_to_exact_distance_and_never_exceeds_it():
    clf, w, b = _linear_binary()
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(12, 16, generator=gen) * 0.3
    exact = _exact_distance(x, w, b)
    sigma = 0.5
    keep = exact < 0.8 * max_certifiable_radius(sigma, 100_000, alpha=0.001)  # points n can certify at all
    x, exact = x[keep], exact[keep]
    assert len(x) >= 6
    gaps = {}
    for n in (2_000, 100_000):
        cert = mg.certify.smoothing(clf, x, sigma=sigma, n0=100, n=n, alpha=0.001, batch_size=20_000, random_state=n)
        certified = ~cert.abstained
        assert (cert.radius[certified] <= exact[certified] + 1e-9).all()  # sound (holds w.p. ≥ 1 − α each)
        gaps[n] = float(np.mean(exact - cert.radius))
    assert gaps[100_000] < gaps[2_000]
    assert gaps[100_000] < 0.05 * sigma


def test_certified_accuracy_counts_only_correct_certified_points():
    clf, w, b = _linear_binary()
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(3)) * 0.3
    y = clf.predict(x).numpy()
    y_wrong = 1 - y
    cert = mg.certify.smoothing(clf, x, y, sigma=0.25, n0=50, n=2_000, random_state=0)
    wrong = mg.certify.smoothing(clf, x, y_wrong, sigma=0.25, n0=50, n=2_000, random_state=0)
    acc = cert.certified_accuracy([0.0, 0.1, 10.0])
    assert acc[0.0] == pytest.approx(np.mean(~cert.abstained))
    assert acc[10.0] == 0.0  # beyond the ceiling set by n and alpha
    assert wrong.certified_accuracy([0.0])[0.0] == 0.0
    assert acc[0.0] >= acc[0.1]


def test_predict_abstains_on_the_boundary_and_answers_far_from_it():
    clf, w, b = _linear_binary()
    on_boundary = (-b / w.dot(w) * w).float().unsqueeze(0)  # d = 0: both classes equally likely
    far = (on_boundary + 3.0 * (w / w.norm()).float()).reshape(1, -1)
    out = mg.certify.smoothed_predict(clf, torch.cat([on_boundary, far]), sigma=0.25, n=2_000, alpha=0.001)
    assert out[0] == ABSTAIN
    assert out[1] == 1


@pytest.mark.parametrize("kwargs, msg", [({"sigma": 0.0}, "sigma"), ({"alpha": 1.5}, "alpha"), ({"n": 0}, "^n must be an integer")])
def test_bad_parameters_are_named(kwargs, msg):
    clf, _, _ = _linear_binary()
    with pytest.raises(InputError, match=msg):
        mg.certify.smoothing(clf, torch.zeros(1, 16), **kwargs)


def test_bad_input_is_named():
    clf, _, _ = _linear_binary()
    with pytest.raises(InputError, match="shape"):
        mg.certify.smoothing(clf, torch.zeros(1, 3), n=10)
    with pytest.raises(InputError, match="labels"):
        mg.certify.smoothing(clf, torch.zeros(1, 16), y=[5], n=10).certified_accuracy([0])


def test_the_report_draws_certified_accuracy_against_the_radius():
    import numpy as np

    from mathguard.certify.smoothing import SmoothingCertificate

    cert = SmoothingCertificate(np.array([0, 1, -1, 1]), np.array([0.3, 0.1, 0.0, 0.6]), np.full(4, 0.9),
                                np.array([0, 0, 1, 1]), 0.25, 100, 1000, 0.001)
    rep = cert.report()
    assert [f.title for f in rep.figures] == ["Certified accuracy vs radius"]
    assert rep.figures[0].data_uri().startswith("data:image/png;base64,")
    assert rep.metrics["certified_accuracy"][0.25] == 0.5
