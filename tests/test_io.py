"""mathguard.io: every table kind reads the same whole, in chunks and on Dask, and every reader
refuses a bad file with the same one-line message."""

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mathguard import io
from mathguard.cli.audit import load_split
from mathguard.data.source import open_source
from mathguard.drift.frames import iter_frames
from mathguard.errors import InputError
from mathguard.partitioned import dask_table

SUFFIXES = [".csv", ".txt", ".parquet", ".pq"]


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    return pd.DataFrame({"a": rng.normal(size=23), "b": rng.integers(0, 5, 23), "s": list("xyz" * 7 + "xy"),
                         "label": rng.integers(0, 2, 23)})


def _write(frame, path, row_group_size=None):
    if io.kind(path) == "csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=row_group_size)
    return path


def _chunks(path, size=5):
    return pd.concat(list(io.iter_table(path, size)), ignore_index=True)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_each_kind_reads_the_same_whole_in_chunks_and_on_dask(frame, tmp_path, suffix):
    path = _write(frame, tmp_path / f"t{suffix}")
    whole = io.read_table(path)
    pd.testing.assert_frame_equal(whole, frame, check_dtype=False)
    pd.testing.assert_frame_equal(_chunks(path), whole)
    dask = dask_table(path).compute().reset_index(drop=True)
    pd.testing.assert_frame_equal(dask, whole, check_dtype=False)  # Dask picks its own string NA flavour


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_every_reader_accepts_every_suffix(frame, tmp_path, suffix):
    path = _write(frame, tmp_path / f"t{suffix}")
    assert open_source(path, y="label").names == ["a", "b"]
    assert sum(len(f) for f in iter_frames(path, chunk_size=4)) == len(frame)
    with pytest.raises(InputError, match=r"column\(s\) \['s'\] are not numeric"):
        load_split(str(path), "label")
    path = _write(frame.drop(columns="s"), tmp_path / f"n{suffix}")
    x, y, names = load_split(str(path), "label")
    assert x.shape == (23, 2) and names == ["a", "b"] and len(y) == 23


@pytest.mark.parametrize("size", [1, 3, 4, 7, 100])
def test_parquet_chunks_over_several_row_groups_are_exactly_the_whole_file(frame, tmp_path, size):
    path = _write(frame, tmp_path / "t.parquet", row_group_size=4)
    assert pq.ParquetFile(path).num_row_groups == 6
    chunks = list(io.iter_table(path, size))
    assert all(len(c) <= size for c in chunks)
    pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), io.read_table(path))


READERS = {
    "whole": io.read_table,
    "chunks": lambda p: list(io.iter_table(p, 5)),
    "dask": dask_table,
    "data audit": lambda p: open_source(p),
    "drift": lambda p: list(iter_frames(p)),
    "audit split": lambda p: load_split(str(p), "label"),
}


def _bad_inputs(tmp_path):
    (tmp_path / "folder.csv").mkdir()
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    (tmp_path / "bad.pq").write_bytes(b"\x00" * 64)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("a,label\n")
    (tmp_path / "ragged.csv").write_text("a,label\n1,2\n3,4,5\n")
    (tmp_path / "latin.txt").write_bytes("a,label\n\xe9,1\n".encode("latin-1"))
    pq.write_table(pa.table({"a": pa.array([], pa.float64()), "label": pa.array([], pa.int64())}),
                   tmp_path / "norows.parquet")
    (tmp_path / "t.xlsx").write_bytes(b"")
    return [
        ("missing.csv", "no such file: "),
        ("folder.csv", "folder.csv is a folder with no CSV or Parquet files"),
        ("t.xlsx", "unsupported file type '.xlsx' (t.xlsx); use .csv, .txt, .parquet, .pq"),
        ("bad.parquet", "bad.parquet is not a readable Parquet file: "),
        ("bad.pq", "bad.pq is not a readable Parquet file: "),
        ("empty.csv", "empty.csv is empty"),
        ("header.csv", "header.csv is empty"),
        ("norows.parquet", "norows.parquet is empty"),
        ("ragged.csv", "ragged.csv is not a rectangular CSV: "),
        ("latin.txt", "latin.txt is not UTF-8 text"),
    ]


@pytest.mark.parametrize("reader", READERS)
def test_every_reader_refuses_each_bad_input_with_one_line(tmp_path, reader):
    for name, message in _bad_inputs(tmp_path):
        with pytest.raises(InputError) as exc:
            READERS[reader](tmp_path / name)
        text = str(exc.value)
        assert message in text and "\n" not in text, (name, text)


def test_npz_is_checked_like_a_table(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((3, 2)), y=np.arange(3))
    np.savez(tmp_path / "none.npz", x=np.ones((0, 2)))
    (tmp_path / "trunc.npz").write_bytes(b"PK\x03\x04 broken")
    assert set(io.read_npz(tmp_path / "d.npz", ("x", "y"))) == {"x", "y"}
    assert io.npz_names(tmp_path / "d.npz") == ["x", "y"]
    for name, message in [("gone.npz", "no such file"), ("d.csv", "unsupported file type '.csv' (d.csv); use .npz"),
                          ("trunc.npz", "trunc.npz is not a readable .npz file"), ("none.npz", "none.npz is empty")]:
        with pytest.raises(InputError, match=re.escape(message)):
            io.read_npz(tmp_path / name, ("x",))


def test_kind_names_each_suffix_in_any_case():
    assert [io.kind(f"f{s.upper()}") for s in SUFFIXES + [".npz", ".json"]] == \
        ["csv", "csv", "parquet", "parquet", "npz", "json"]
    assert io.kind("f.xlsx") is None


def test_a_folder_or_glob_of_files_reads_as_one_table(tmp_path):
    """The layout Dask and Spark write (part files, a _SUCCESS marker, sub-folders) is one table (#24)."""
    import pandas as pd

    from mathguard.io import iter_table, read_table, table_files

    whole = pd.DataFrame({"a": np.arange(30.0), "label": np.arange(30) % 2})
    root = tmp_path / "dataset.parquet"
    (root / "sub").mkdir(parents=True)
    whole.iloc[:10].to_parquet(root / "part-0.parquet")
    whole.iloc[10:20].to_parquet(root / "part-1.parquet")
    whole.iloc[20:].to_parquet(root / "sub" / "part-2.parquet")
    (root / "_SUCCESS").write_text("")
    assert [f.name for f in table_files(root)[0]] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    pd.testing.assert_frame_equal(read_table(root), whole)
    pd.testing.assert_frame_equal(pd.concat(list(iter_table(root, 7)), ignore_index=True), whole)
    pd.testing.assert_frame_equal(dask_table(root).compute().reset_index(drop=True), whole)
    pd.testing.assert_frame_equal(read_table(str(root / "part-*.parquet")), whole.iloc[:20])
    with pytest.raises(InputError, match="no file matches"):
        read_table(str(tmp_path / "nothing-*.csv"))
    whole.to_csv(root / "part-3.csv", index=False)
    with pytest.raises(InputError, match="must all be CSV or all Parquet"):
        read_table(root)


def test_the_commands_read_folders_and_npz(tmp_path):
    """profile takes a folder, an .npz and a --target; audit-data a glob (#24)."""
    import pandas as pd
    from click.testing import CliRunner

    import mathguard as mg
    from mathguard.cli import main

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200), "label": rng.integers(0, 2, 200)})
    (tmp_path / "ds").mkdir()
    frame.iloc[:100].to_parquet(tmp_path / "ds" / "part-0.parquet")
    frame.iloc[100:].to_parquet(tmp_path / "ds" / "part-1.parquet")
    res = CliRunner().invoke(main, ["profile", str(tmp_path / "ds"), "--json", str(tmp_path / "p.json"),
                                    "--target", "label"])
    assert res.exit_code == 0, res.output
    assert list(mg.drift.Profile.load(tmp_path / "p.json").features) == ["a", "b"]
    np.savez(tmp_path / "x.npz", x=rng.random((50, 2, 2)), y=np.zeros(50))
    res = CliRunner().invoke(main, ["profile", str(tmp_path / "x.npz"), "--json", str(tmp_path / "x.json")])
    assert res.exit_code == 0, res.output
    assert list(mg.drift.Profile.load(tmp_path / "x.json").features) == ["x0", "x1", "x2", "x3"]
    res = CliRunner().invoke(main, ["audit-data", str(tmp_path / "ds" / "part-*.parquet"), "--target", "label",
                                    "--quiet"])
    assert res.exit_code in (0, 1), res.output
    res = CliRunner().invoke(main, ["drift", str(tmp_path / "p.json"), str(tmp_path / "ds"), "--quiet"])
    assert res.exit_code in (0, 1), res.output
