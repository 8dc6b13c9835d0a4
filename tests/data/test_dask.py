"""audit_data on Dask: per-partition moments and R factors merged on the driver equal the single-machine audit."""

import dask.array as da  # the dask extra is installed by `make test`: missing, the run fails
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import mathguard as mg


def _data(n=12_000, seed=0, collinear=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)) @ np.diag([1.0, 2.0, 0.5, 3.0, 1.0])
    X[:, 1] += 1e6  # a huge offset: the merge must not cancel it
    if collinear:
        X[:, 4] = X[:, 0] - X[:, 2] + 1e-5 * rng.normal(size=n)  # κ ≈ 2e5: the QR confirmation runs
    frame = pd.DataFrame(X, columns=list("abcde"))
    frame["target"] = X[:, 0] + rng.normal(size=n)
    return frame


def _close(a, b, rtol):
    for key in ("rank", "condition_number_standardized", "condition_number_centered", "explained_variance_ratio",
                "vif", "components_95"):
        va, vb = a.metrics[key], b.metrics[key]
        if isinstance(va, dict):
            va, vb = list(va.values()), list(vb.values())
        np.testing.assert_allclose(np.asarray(va, dtype=float), np.asarray(vb, dtype=float), rtol=rtol, err_msg=key)
    assert [f.id for f in a.findings] == [f.id for f in b.findings]


@pytest.mark.parametrize("partitions", [1, 3, 8])
def test_dask_dataframe_equals_pandas(partitions):
    frame = _data()
    ref = mg.audit_data(frame, y="target", figures=False)
    got = mg.audit_data(dd.from_pandas(frame, npartitions=partitions), y="target", figures=False)
    _close(ref, got, 1e-10)
    assert "12000 rows" in got.summary and got.summary.startswith("dask dataframe input")


def test_dask_array_with_missing_rows_equals_numpy():
    X = _data().drop(columns="target").to_numpy().copy()
    X[[5, 700, 9000], [0, 3, 4]] = np.nan
    _close(mg.audit_data(X, figures=False), mg.audit_data(da.from_array(X, chunks=(2500, 5)), figures=False), 1e-10)


def test_the_tall_skinny_qr_runs_over_partitions():
    frame = _data(collinear=True)
    ref = mg.audit_data(frame.drop(columns="target"), figures=False)
    got = mg.audit_data(dd.from_pandas(frame.drop(columns="target"), npartitions=5), figures=False)
    assert ref.metrics["condition_number_standardized"] > 1e5  # so both took the QR path
    _close(ref, got, 1e-8)  # VIFs near 1e9: rounding of the merge order shows at ~1e-9


def test_dask_inputs_name_their_problems():
    X = da.from_array(np.zeros((10, 2, 2)), chunks=5)
    with pytest.raises(mg.InputError, match="2-D"):
        mg.audit_data(X)
    with pytest.raises(mg.InputError, match="column name"):
        mg.audit_data(dd.from_pandas(_data(100), npartitions=2), y=np.zeros(100))
    with pytest.raises(mg.InputError, match="not a column"):
        mg.audit_data(dd.from_pandas(_data(100), npartitions=2), y="label")
