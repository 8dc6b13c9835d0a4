"""The information formulas against scipy, scikit-learn and hand-computed values."""

import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy as sp_entropy
from sklearn.metrics import mutual_info_score

import mathguard as mg
from mathguard.errors import InputError

rng = np.random.default_rng(0)
P = rng.dirichlet(np.ones(7), size=50)
Q = rng.dirichlet(np.ones(7), size=50)


@pytest.mark.parametrize("base", [2.0, math.e, 10.0])
def test_entropy_kl_cross_entropy_match_scipy_batched(base):
    np.testing.assert_allclose(mg.info.entropy(P, base=base), sp_entropy(P, base=base, axis=1), rtol=1e-12)
    np.testing.assert_allclose(mg.info.kl(P, Q, base=base), sp_entropy(P, Q, base=base, axis=1), rtol=1e-12)
    np.testing.assert_allclose(mg.info.cross_entropy(P, Q, base=base),
                               sp_entropy(P, base=base, axis=1) + sp_entropy(P, Q, base=base, axis=1), rtol=1e-12)


def test_js_matches_scipy_jensenshannon_squared():
    ours = mg.info.js(P, Q, base=2)
    ref = np.array([jensenshannon(p, q, base=2) ** 2 for p, q in zip(P, Q)])
    np.testing.assert_allclose(ours, ref, rtol=1e-10)
    assert mg.info.js([1, 0], [0, 1], base=2) == pytest.approx(1.0)  # the maximum, finite


def test_zeros_follow_the_conventions():
    assert mg.info.entropy([1, 0, 0]) == 0.0
    assert mg.info.entropy([0.5, 0.5], base=2) == pytest.approx(1.0)
    assert mg.info.kl([0.5, 0.5, 0], [0.25, 0.25, 0.5]) == pytest.approx(math.log(2))
    assert mg.info.kl([0.5, 0.5], [1, 0]) == math.inf  # truly infinite, not NaN
    assert math.isfinite(mg.info.kl([0.5, 0.5], [1, 0], smoothing=1e-3))
    assert mg.info.perplexity(np.full(8, 1 / 8)) == pytest.approx(8.0)
    assert mg.info.entropy([3, 1]) == pytest.approx(mg.info.entropy([0.75, 0.25]))  # counts are normalised


def test_psi_hand_computed_case():
    e = np.array([0.25, 0.25, 0.25, 0.25])
    a = np.array([0.10, 0.20, 0.30, 0.40])
    by_hand = sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e))  # = 0.2282...
    assert mg.info.psi(e, a, smoothing=0) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.22825, abs=1e-4)
    assert mg.info.psi(e, a, smoothing=0) == pytest.approx(mg.info.kl(a, e) + mg.info.kl(e, a))
    assert math.isfinite(mg.info.psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]))  # empty bin smoothed by default


def test_mutual_information_matches_sklearn_contingency():
    x = rng.integers(0, 4, 2000)
    y = (x + rng.integers(0, 2, 2000)) % 5
    table = np.zeros((4, 5))
    np.add.at(table, (x, y), 1)
    assert mg.info.mutual_information(table) == pytest.approx(mutual_info_score(x, y), rel=1e-10)
    assert mg.info.mutual_information(np.outer([1, 2], [3, 4])) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("args, msg", [
    (([-0.1, 1.1],), "negative"),
    (([np.nan, 1.0],), "NaN"),
    (([0.0, 0.0],), "sums to zero"),
    (([],), "at least one category"),
])
def test_bad_distributions_are_named(args, msg):
    with pytest.raises(InputError, match=msg):
        mg.info.entropy(*args)


def test_mismatched_categories_and_bases_are_named():
    with pytest.raises(InputError, match="categories"):
        mg.info.kl([0.5, 0.5], [1 / 3, 1 / 3, 1 / 3])
    with pytest.raises(InputError, match="base"):
        mg.info.entropy([0.5, 0.5], base=1)
