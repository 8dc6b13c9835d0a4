"""Each kind of unusable input raises one clear InputError naming the problem."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from mathguard.data import audit_data
from mathguard.errors import InputError


def _raises(match, *args, **kwargs):
    with pytest.raises(InputError, match=match) as exc:
        audit_data(*args, figures=False, **kwargs)
    assert "\n" not in str(exc.value)


def test_empty_data(tmp_path):
    _raises("no rows", np.empty((0, 3)))
    _raises("no rows", pd.DataFrame({"a": [], "b": []}, dtype=float))
    _raises("no feature columns", np.empty((5, 0)))
    (tmp_path / "e.csv").write_text("")
    _raises("is empty", tmp_path / "e.csv")


def test_one_row():
    _raises("single row", np.ones((1, 3)))


def test_all_nan_column():
    X = np.random.default_rng(0).normal(size=(10, 3))
    X[:, 1] = np.nan
    _raises(r"\['x1'\] are entirely NaN", X)


def test_strings():
    _raises("holds strings", np.array([["a", "b"], ["c", "d"]]))
    _raises("no numeric columns", pd.DataFrame({"s": ["a", "b", "c"]}))


def test_ragged_input(tmp_path):
    _raises("ragged", [[1.0, 2.0], [3.0]])
    path = tmp_path / "r.csv"
    path.write_text("a,b\n1,2\n3,4,5\n6,7\n")
    _raises("not a rectangular CSV", path)


def test_wrong_target_name(tmp_path):
    df = pd.DataFrame({"a": [1.0, 2, 3], "b": [3.0, 1, 2]})
    _raises("target 'label' is not a column", df, y="label")
    df.to_parquet(tmp_path / "d.parquet")
    _raises("target 'label' is not a column", tmp_path / "d.parquet", y="label")
    _raises("target 'label' is not a column", np.ones((3, 2)), y="label")


def test_mismatched_feature_names():
    X = np.random.default_rng(0).normal(size=(10, 3))
    _raises("feature_names has 2 names but X has 3 columns", X, feature_names=["a", "b"])
    _raises("repeats", X, feature_names=["a", "a", "b"])
    _raises("feature_names has 2 names", sp.csr_matrix(X), feature_names=["a", "b"])


def test_other_mistakes(tmp_path):
    X = np.random.default_rng(0).normal(size=(10, 3))
    _raises("y has shape", X, y=np.ones(9))
    _raises("must be 2-D", np.ones(5))
    _raises("chunk_size", X, chunk_size=0)
    _raises("no such file", tmp_path / "missing.csv")
    _raises("is a folder with no CSV or Parquet files", tmp_path)
    X[:, 0] = np.where(np.arange(10) % 2, np.nan, 1.0)
    X[:, 1] = np.where(np.arange(10) % 2, 1.0, np.inf)
    _raises("free of NaN/Inf", X)


def test_csv_column_turning_non_numeric_in_a_later_chunk(tmp_path):
    path = tmp_path / "late.csv"
    rows = [f"{i},{i * 2}" for i in range(1500)] + ["1501,oops"]  # past the 1000-row dtype sniff
    path.write_text("a,b\n" + "\n".join(rows) + "\n")
    _raises(r"column\(s\) \[.b.\] turn non-numeric after row 1500", path, chunk_size=500)


def test_the_callers_dataframe_is_not_modified():
    df = pd.DataFrame({0: [1.0, 2, 3, 4], 1: [2.0, 1, 4, 3]})
    audit_data(df, feature_names=["a", "b"], figures=False)
    assert list(df.columns) == [0, 1]
