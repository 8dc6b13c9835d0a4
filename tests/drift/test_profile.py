"""Profiles: one streaming pass, exact merge, versioned JSON, clear errors."""

import json

import numpy as np
import pandas as pd
import pytest

import mathguard as mg
from mathguard.drift import Profile
from mathguard.errors import InputError


def _exact_parts(doc: dict) -> dict:
    """Everything but the float moments (which agree to rounding, checked separately)."""
    out = json.loads(json.dumps(doc))
    for f in list(out["features"].values()) + [out["entropy"]]:
        if f and f["kind"] == "numeric":
            f.pop("mean"), f.pop("m2")
    return out


def test_profile_of_halves_merges_into_the_profile_of_the_whole(frame):
    df = frame(6000, 0)
    proba = np.random.default_rng(1).dirichlet([1, 2, 3], size=len(df))
    whole = mg.drift.profile(df, proba, sample_size=300)
    a = mg.drift.profile(df.iloc[:2500], proba[:2500], sample_size=300)
    b = mg.drift.profile(df.iloc[2500:], proba[2500:], sample_size=300, chunk_size=777)
    merged = a + b
    assert _exact_parts(merged.to_dict()) == _exact_parts(whole.to_dict())
    for name in ["f0", "f1", "f2"]:
        m, w = merged.features[name], whole.features[name]
        assert m.mean == pytest.approx(w.mean, rel=1e-12, abs=1e-15)
        assert m.std == pytest.approx(w.std, rel=1e-12)
    assert whole.features["f0"].mean == pytest.approx(df["f0"].mean(), rel=1e-12)
    assert whole.features["f1"].std == pytest.approx(df["f1"].std(), rel=1e-12)
    assert whole.features["f1"].n_missing == df["f1"].isna().sum()
    assert whole.features["colour"].counts == df["colour"].value_counts().to_dict()
    assert len(whole.sample.rows) == 300


def test_save_load_round_trip_and_schema(tmp_path, frame):
    prof = mg.drift.profile(frame(2000, 2))
    path = tmp_path / "ref.json"
    prof.save(path)
    doc = json.loads(path.read_text())
    assert doc["schema"] == "mathguard.profile/1"
    back = Profile.load(path)
    assert back.to_dict() == prof.to_dict()
    path.write_text(json.dumps({**doc, "schema": "other/9"}))
    with pytest.raises(InputError, match="not a mathguard profile"):
        Profile.load(path)
    path.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        Profile.load(path)


def test_files_and_chunk_iterables_give_the_same_profile(tmp_path, frame):
    df = frame(3000, 3)
    csv, parquet = tmp_path / "d.csv", tmp_path / "d.parquet"
    df.to_csv(csv, index=False)
    df.to_parquet(parquet, index=False)
    ref = _exact_parts(mg.drift.profile(df).to_dict())
    assert _exact_parts(mg.drift.profile(parquet, chunk_size=500).to_dict()) == ref
    assert _exact_parts(mg.drift.profile(pd.read_csv(csv, chunksize=1000)).to_dict())["features"]["f0"] == \
        ref["features"]["f0"]


def test_proba_columns_are_taken_out_of_the_features():
    rng = np.random.default_rng(4)
    p = rng.dirichlet([1, 1], size=500)
    df = pd.DataFrame({"a": rng.normal(size=500), "p0": p[:, 0], "p1": p[:, 1]})
    prof = mg.drift.profile(df, proba=["p0", "p1"])
    assert list(prof.features) == ["a"] and prof.n_classes == 2
    assert prof.prediction.counts == pd.Series(p.argmax(1).astype(str)).value_counts().to_dict()


def test_integer_categories_keep_one_label_whatever_the_chunk_dtype():
    chunks = [pd.DataFrame({"c": pd.Series([1, 2, 2])}), pd.DataFrame({"c": pd.Series([2.0, np.nan, 1.0])})]
    prof = mg.drift.profile(iter(chunks), categorical=["c"])
    assert prof.features["c"].counts == {"1": 2, "2": 3}
    assert prof.features["c"].n_missing == 1


@pytest.mark.parametrize("data, proba, message", [
    (np.zeros((0, 3)), None, "empty"),
    (np.ones((5, 2)), np.ones((5, 2)), "sum to 1"),
    (np.ones((5, 2)), np.full((4, 2), 0.5), "4 rows"),
    (np.ones((5, 2)), np.array([[np.nan, 1]] * 5), "NaN"),
    (np.ones((2, 2, 2)), None, "2-D"),
])
def test_bad_input_is_one_clear_error(data, proba, message):
    with pytest.raises(InputError, match=message):
        mg.drift.profile(data, proba)


def test_a_column_turning_non_numeric_mid_stream_is_named():
    chunks = iter([pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": ["a", "b"]})])
    with pytest.raises(InputError, match="'x' holds non-numeric values after row 2"):
        mg.drift.profile(chunks)


def test_high_cardinality_categories_are_folded_and_flagged():
    df = pd.DataFrame({"id": [f"u{i}" for i in range(300)] + ["u0"] * 10})
    feat = mg.drift.profile(df, max_categories=50).features["id"]
    assert feat.truncated and len(feat.counts) == 50 and feat.n == 310 and feat.counts["u0"] == 11


def test_dask_partitions_profile_and_compare_like_pandas(frame):
    import dask.dataframe as dd
    df = frame(8000, 5)
    ref = _exact_parts(mg.drift.profile(df, sample_size=200).to_dict())
    assert _exact_parts(mg.drift.profile(dd.from_pandas(df, npartitions=6), sample_size=200).to_dict()) == ref
    cur = frame(8000, 6, shift=0.3)
    on_dask = mg.drift.compare(df, dd.from_pandas(cur, npartitions=3), multivariate=False)
    on_pandas = mg.drift.compare(df, cur, multivariate=False)
    for name, stats in on_pandas.metrics["features"].items():  # equal up to the rounding of merged moments
        for key in ("statistic", "p_value", "psi", "kl", "js", "effect"):
            assert on_dask.metrics["features"][name][key] == pytest.approx(stats[key], rel=1e-9)
    assert on_dask.metrics["drifted_features"] == ["f0"]


def test_repr_is_a_summary_not_thousands_of_numbers():
    import numpy as np

    import mathguard as mg

    prof = mg.drift.profile(np.random.default_rng(0).random((500, 40)))
    text = repr(prof)
    assert len(text) < 200 and "500 rows" in text and "(+35)" in text
