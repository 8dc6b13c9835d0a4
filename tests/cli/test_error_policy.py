"""Exit codes mean one thing each (issue #11): 1 findings, 2 user mistakes, 3 our bugs; outputs checked first."""

import numpy as np
import pytest
from click.testing import CliRunner

from mathguard.cli import main

MODEL = "from torch import nn\n\ndef build():\n    return nn.Linear(4, 2)\n"


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "m.py").write_text(MODEL)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "good.npz", x=rng.random((6, 4)).astype(np.float32), y=np.array([0, 1] * 3))
    np.savez(tmp_path / "str.npz", x=np.array([["a"] * 4] * 6), y=np.array([0, 1] * 3))
    np.savez(tmp_path / "wide.npz", x=np.zeros((6, 5), np.float32), y=np.array([0, 1] * 3))
    raw = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "bin.csv").write_bytes(bytes(range(256)) * 8)
    (tmp_path / "latin.csv").write_bytes("a,b,y\n\xe9,1,0\n2,3,1\n".encode("latin-1"))
    x = rng.normal(size=(200, 3))
    np.savetxt(tmp_path / "table.csv", np.column_stack([x, rng.integers(0, 2, 200)]), delimiter=",",
               header="a,b,c,y", comments="")
    return tmp_path


def _run(*argv):
    res = CliRunner().invoke(main, [str(a) for a in argv])
    return res.exit_code, res.output


def _certify(files, data, *extra):
    return _run("certify", "--model", f"{files / 'm.py'}:build", "--data", files / data, "--n", "100",
                "--n0", "10", *extra)


@pytest.mark.parametrize("data, extra, message", [
    ("str.npz", (), "numeric"),
    ("trunc.npz", (), "not a readable .npz"),
    ("wide.npz", (), "failed on a batch"),
    ("good.npz", ("--input-shape=-1,4",), "input_shape"),
])
def test_bad_model_inputs_exit_2_with_one_line(files, data, extra, message):
    code, out = _certify(files, data, *extra)
    assert code == 2, out
    assert message in out and "Traceback" not in out and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["bin.csv", "latin.csv"])
@pytest.mark.parametrize("command", [
    ("audit-data", "{f}"), ("profile", "{f}", "--json", "{tmp}/p.json"), ("drift", "{f}", "{f}"),
    ("compare", "{f}", "--a", "a", "--b", "b"),
])
def test_undecodable_csv_exits_2(files, name, command):
    argv = [a.format(f=files / name, tmp=files) for a in command]
    code, out = _run(*argv)
    assert code == 2, out
    assert "Traceback" not in out


def test_an_unexpected_exception_is_exit_3_internal_error(files, monkeypatch):
    import mathguard.data

    def boom(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(mathguard.data, "audit_data", boom)
    code, out = _run("audit-data", files / "table.csv")
    assert code == 3
    assert out.strip().splitlines() == ["mathguard: internal error: ZeroDivisionError: division by zero "
                                        "(please report it with the command you ran)"]


def test_output_equal_to_an_input_is_refused_before_work(files):
    before = (files / "table.csv").read_bytes()
    code, out = _run("audit-data", files / "table.csv", "--json", files / "table.csv")
    assert code == 2 and "also an input" in out
    assert (files / "table.csv").read_bytes() == before
    code, out = _certify(files, "good.npz", "--json", files / "good.npz")
    assert code == 2 and "also an input" in out


def test_json_and_html_must_differ(files):
    code, out = _run("audit-data", files / "table.csv", "--json", files / "r.out", "--html", files / "r.out")
    assert code == 2 and "different files" in out
    assert not (files / "r.out").exists()


def test_missing_output_directory_is_refused_not_created(files):
    code, out = _run("audit-data", files / "table.csv", "--json", files / "no" / "such" / "r.json")
    assert code == 2 and "does not exist" in out
    assert not (files / "no").exists()
    code, out = _run("profile", files / "table.csv", "--json", files / "nope" / "p.json")
    assert code == 2 and not (files / "nope").exists()


def test_outputs_are_all_or_nothing(files, monkeypatch):
    from mathguard.report import Report

    def broken(self, path=None):
        raise OSError("disk full")

    monkeypatch.setattr(Report, "to_html", broken)
    code, _ = _run("audit-data", files / "table.csv", "--json", files / "r.json", "--html", files / "r.html")
    assert code == 2
    assert not (files / "r.json").exists() and not (files / "r.html").exists()


def test_demo_out_pointing_at_a_file_exits_2(files):
    (files / "taken").write_text("keep me")
    code, out = _run("demo", "--quick", "--out", files / "taken")
    assert code == 2 and "is a file" in out
    assert (files / "taken").read_text() == "keep me"
    code, out = _run("demo", "--quick", "--out", files / "missing" / "deeper")
    assert code == 2 and "does not exist" in out
