"""Relevance, redundancy and information gain against scikit-learn, scipy and textbook numbers."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.feature_selection import mutual_info_classif
from sklearn.metrics import mutual_info_score, normalized_mutual_info_score
from sklearn.tree import DecisionTreeClassifier

import mathguard as mg
from mathguard.errors import InputError
from mathguard.info.binning import codes
from mathguard.info.relevance import g_test


@pytest.fixture(scope="module")
def cancer():
    return load_breast_cancer()


def test_knn_relevance_is_scikit_learns_estimate(cancer):
    rel = mg.info.feature_relevance(cancer.data, cancer.target, feature_names=cancer.feature_names, base=np.e)
    ref = mutual_info_classif(cancer.data, cancer.target, random_state=0)
    expected = pd.Series(ref, index=cancer.feature_names)
    pd.testing.assert_series_equal(rel.scores, expected[rel.scores.index], check_names=False)
    assert rel.scores.index[0].startswith("worst") and "k-nearest" in rel.method
    assert rel.scores.is_monotonic_decreasing


def test_binned_relevance_of_a_discrete_feature_is_exact():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 5000)
    x = np.where(rng.random(5000) < 0.7, y, rng.integers(0, 3, 5000))  # a noisy copy of the label
    rel = mg.info.feature_relevance(x[:, None], y, method="binned", base=np.e)
    assert rel.scores["x0"] == pytest.approx(mutual_info_score(x, y), rel=1e-12)


def test_binned_mi_approaches_the_gaussian_formula():
    rng = np.random.default_rng(1)
    rho = 0.8
    x = rng.normal(size=400_000)
    z = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=x.size)
    rel = mg.info.feature_relevance(x[:, None], z, method="binned", bins=40, task="regression", base=np.e)
    # binning can only lose information; with 40 bins the loss is a few percent
    assert rel.scores["x0"] == pytest.approx(-0.5 * np.log(1 - rho**2), rel=0.06)
    assert rel.scores["x0"] < -0.5 * np.log(1 - rho**2)


def test_noise_features_are_reported_uninformative_and_signal_is_not(cancer):
    rng = np.random.default_rng(2)
    X = np.column_stack([cancer.data[:, [20, 22]], rng.normal(size=(len(cancer.target), 3))])
    rel = mg.info.feature_relevance(X, cancer.target, feature_names=["worst radius", "worst perimeter",
                                                                   "noise0", "noise1", "noise2"])
    assert sorted(rel.uninformative) == ["noise0", "noise1", "noise2"]
    report = rel.report()
    titles = [f.title for f in report.findings]
    assert "feature noise1 carries no information about the target" in titles and len(titles) == 3
    assert report.figures


def test_g_test_matches_scipy_log_likelihood_ratio():
    from scipy.stats import chi2_contingency

    table = np.array([[30, 10, 5], [12, 25, 18]])
    expected = chi2_contingency(table, correction=False, lambda_="log-likelihood").pvalue
    assert g_test(table) == pytest.approx(expected, rel=1e-10)


def test_redundancy_nmi_matches_scikit_learn_and_finds_the_size_group(cancer):
    red = mg.info.redundancy(cancer.data, feature_names=cancer.feature_names)
    a, b = codes(cancer.data[:, 0], 10), codes(cancer.data[:, 3], 10)
    assert red.nmi.loc["mean radius", "mean area"] == pytest.approx(
        normalized_mutual_info_score(a, b, average_method="geometric"), rel=1e-10)
    assert red.mi.loc["mean radius", "mean area"] == pytest.approx(mutual_info_score(a, b), rel=1e-10)
    assert ["mean area", "mean perimeter", "mean radius"] in [sorted(g) for g in red.groups]
    np.testing.assert_allclose(red.nmi.to_numpy(), red.nmi.to_numpy().T)
    finding = next(f for f in red.report().findings if "mean radius" in f.evidence["features"])
    assert finding.id == "info.redundant-features" and "are redundant (NMI" in finding.title


def test_an_exact_copy_has_nmi_one_and_independent_columns_near_zero():
    rng = np.random.default_rng(3)
    x = rng.normal(size=20000)
    red = mg.info.redundancy(np.column_stack([x, 3 * x + 1, rng.normal(size=x.size)]))
    assert red.nmi.loc["x0", "x1"] == pytest.approx(1.0)
    assert red.nmi.loc["x0", "x2"] < 0.01 and red.groups == [["x0", "x1"]]


def test_information_gain_of_the_play_tennis_outlook_split():
    outlook = ("sunny sunny overcast rain rain rain overcast sunny sunny rain sunny overcast overcast rain").split()
    play = list("nnyyynyny" "yyyyn")
    ig = mg.info.information_gain(np.array(outlook), np.array(play))
    assert ig.gain == pytest.approx(0.2467, abs=5e-5) and ig.branches == 3
    assert ig.entropy_before == pytest.approx(0.9403, abs=5e-5)


@pytest.mark.parametrize("column", [0, 7, 20, 27])
def test_best_threshold_matches_a_depth_one_entropy_tree(cancer, column):
    x, y = cancer.data[:, column], cancer.target
    tree = DecisionTreeClassifier(criterion="entropy", max_depth=1).fit(x[:, None], y).tree_
    w = tree.weighted_n_node_samples
    decrease = tree.impurity[0] - (w[1] * tree.impurity[1] + w[2] * tree.impurity[2]) / w[0]
    ig = mg.info.information_gain(x, y)
    assert ig.threshold == pytest.approx(tree.threshold[0])
    assert ig.gain == pytest.approx(decrease, rel=1e-9)
    fixed = mg.info.information_gain(x, y, threshold=tree.threshold[0])
    assert fixed.gain == pytest.approx(ig.gain, rel=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: mg.info.feature_relevance(np.array([[1.0], [np.nan]]), [0, 1]), "NaN"),
    (lambda: mg.info.feature_relevance(np.ones((4, 2)), [0, 1, 0]), "one value per row"),
    (lambda: mg.info.feature_relevance(np.random.rand(5, 2), [1] * 5), "constant"),
    (lambda: mg.info.feature_relevance(np.array([["a"], ["b"]]), [0, 1]), "numeric"),
    (lambda: mg.info.feature_relevance(pd.DataFrame({"c": ["a", None, "b"]}), [0, 1, 0]), "missing values"),
    (lambda: mg.info.redundancy(np.ones((5, 2)), threshold=0), "threshold"),
    (lambda: mg.info.information_gain([1, 2], [0]), "same non-zero length"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(InputError, match=message):
        call()


def test_text_columns_are_nominal_and_measured_exactly():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 4000)
    city = np.where(rng.random(4000) < 0.8, np.where(y == 1, "paris", "oslo"), rng.choice(["paris", "oslo", "rome"], 4000))
    # 40 arbitrary labels: their code order means nothing, so they must not be quantile-binned
    shop = np.array([f"s{i}" for i in rng.integers(0, 40, 4000)])
    X = pd.DataFrame({"city": city, "shop": shop, "noise": rng.normal(size=4000)})
    rel = mg.info.feature_relevance(X, y, method="binned", base=np.e)
    assert rel.scores["city"] == pytest.approx(mutual_info_score(city, y), rel=1e-12)
    assert rel.scores["shop"] == pytest.approx(mutual_info_score(shop, y), rel=1e-12)
    assert set(rel.uninformative) == {"shop", "noise"}
    red = mg.info.redundancy(X.assign(town=X.city.str.upper()))
    assert red.nmi.loc["city", "town"] == pytest.approx(1.0) and ["city", "town"] in red.groups


def test_relevance_is_in_bits_unless_asked(cancer):
    bits = mg.info.feature_relevance(cancer.data[:, :5], cancer.target, method="binned")
    nats = mg.info.feature_relevance(cancer.data[:, :5], cancer.target, method="binned", base=np.e)
    pd.testing.assert_series_equal(bits.scores, nats.scores / np.log(2))
    assert bits.unit == "bits" and "mi_bits" in bits.report().metrics and nats.unit == "nats"
    with pytest.raises(mg.InputError, match="base"):
        mg.info.feature_relevance(cancer.data[:, :5], cancer.target, base=1)
