"""feature_relevance on a Dask DataFrame gives the in-memory binned result exactly, on any partitioning."""

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

import mathguard as mg
from mathguard.errors import InputError
from mathguard.info import partitions
from mathguard.info.binning import codes, edge_ranks

distributed = pytest.importorskip("distributed")


def _frame(loader):
    """A bundled data set plus a text, an integer and a boolean column (nominal and discrete paths)."""
    frame = loader(as_frame=True).frame
    rng = np.random.default_rng(0)
    return frame.assign(city=rng.choice(["oslo", "paris", "rome", "lima"], len(frame)),
                        level=rng.integers(0, 6, len(frame)), flag=rng.random(len(frame)) < 0.3)


@pytest.fixture(scope="module", params=[load_breast_cancer, load_diabetes], ids=["classification", "regression"])
def frame(request):
    return _frame(request.param)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as c:
        yield c


def _same(frame, partitioned, **kw):
    ref = mg.info.feature_relevance(frame.drop(columns="target"), frame["target"], method="binned", **kw)
    got = mg.info.feature_relevance(partitioned, y="target", method="binned", **kw)
    pd.testing.assert_series_equal(got.scores, ref.scores, check_exact=True)
    pd.testing.assert_series_equal(got.p_values, ref.p_values, check_exact=True)
    assert got.task == ref.task and got.uninformative == ref.uninformative
    return got


@pytest.mark.parametrize("gather", [2048, 16], ids=["gathered-at-once", "narrowed-first"])
@pytest.mark.parametrize("k", [1, 3, 7])
def test_dask_relevance_equals_the_in_memory_binned_path(frame, k, gather, monkeypatch):
    monkeypatch.setattr(partitions, "_GATHER", gather)  # 16: the edges are found by several narrowing passes
    got = _same(frame, dd.from_pandas(frame, npartitions=k))
    assert "Dask" in got.method and got.task == ("classification" if frame["target"].nunique() == 2
                                                 else "regression")


def test_forced_discrete_column_and_task_match_too(frame):
    _same(frame, dd.from_pandas(frame, npartitions=4), discrete_features=[0], task="regression", bins=7)


def test_on_a_local_cluster_of_two_processes(frame, client, monkeypatch):
    monkeypatch.setattr(partitions, "_GATHER", 16)
    _same(frame, dd.from_pandas(frame, npartitions=5))


def _with_empty_partition(frame):
    """The frame in four partitions, the first emptied, and the rows that remain."""
    ddf = dd.from_pandas(frame, npartitions=4)
    cut = ddf.divisions[1]
    return ddf.map_partitions(lambda part: part[part.index >= cut]), frame[frame.index >= cut]


@pytest.mark.parametrize("gather", [2048, 3])
def test_order_statistics_are_numpys_lower_quantiles_with_ties_and_an_empty_partition(gather, monkeypatch):
    monkeypatch.setattr(partitions, "_GATHER", gather)
    rng = np.random.default_rng(1)
    n = 3000
    frame = pd.DataFrame({"ties": rng.choice([-2.5, 0.0, 0.0, 0.0, 1.0, 7.25], n),  # half the rows are 0.0
                          "wide": rng.standard_cauchy(n) * 1e290,
                          "tiny": np.r_[np.full(n - 2, 5e-324), [-0.0, 1.0]]})
    ddf, kept = _with_empty_partition(frame)
    assert len(ddf.partitions[0].compute()) == 0 and len(kept) < n
    for bins in (2, 10, 64):
        ranks = edge_ranks(len(kept), bins)
        got = partitions.order_statistics(list(ddf.to_delayed()), list(kept.columns), ranks, len(kept),
                                          kept.min().tolist(), kept.max().tolist())
        qs = np.linspace(0, 1, bins + 1)[1:-1]
        for column, values in zip(kept.columns, got):
            np.testing.assert_array_equal(np.unique(values), np.unique(np.quantile(kept[column], qs, method="lower")))


def test_an_empty_partition_changes_nothing(frame):
    ddf, kept = _with_empty_partition(frame)
    _same(kept, ddf)


def test_in_memory_edges_are_order_statistics():
    x = np.random.default_rng(2).normal(size=1001)
    edges = np.unique(np.quantile(x, np.linspace(0, 1, 11)[1:-1], method="lower"))
    assert np.isin(edges, x).all()
    np.testing.assert_array_equal(codes(x, 10), np.searchsorted(edges, x, side="right"))


def _nan_in_a_later_partition():
    frame = _frame(load_breast_cancer)
    frame.iloc[500, 0] = np.nan
    return dd.from_pandas(frame, npartitions=3)


@pytest.mark.parametrize("call, message", [
    (lambda d: mg.info.feature_relevance(d, y="label"), "'label' is not a column"),
    (lambda d: mg.info.feature_relevance(d, y=np.zeros(569)), "column name"),
    (lambda d: mg.info.feature_relevance(d, y="target", method="knn"), "method='knn' needs all rows"),
    (lambda d: mg.info.feature_relevance(_nan_in_a_later_partition(), y="target"), "NaN or infinite"),
    (lambda d: mg.info.feature_relevance(d.assign(city=d.city.where(d.level > 0)), y="target"),
     "'city' has missing values"),
    (lambda d: mg.info.feature_relevance(d[["city", "target"]], y="city", task="regression"), "y is not numeric"),
    (lambda d: mg.info.feature_relevance(d.assign(target=1), y="target"), "constant"),
    (lambda d: mg.info.feature_relevance(d.target.to_dask_array(), y="target"), "takes a Dask DataFrame"),
])
def test_bad_dask_input_is_one_clear_error(call, message):
    ddf = dd.from_pandas(_frame(load_breast_cancer), npartitions=3)
    with pytest.raises(InputError, match=message):
        call(ddf)
