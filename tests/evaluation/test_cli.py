"""`mathguard compare` and `mathguard calibration`: exit 0/1 by --fail-on, exit 2 with one line on bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.special import softmax

from mathguard.cli import main


@pytest.fixture()
def preds_csv(tmp_path, cancer_preds):
    d = cancer_preds
    df = pd.DataFrame({"y": d["y"], "tree": d["pred_a"], "lr": d["pred_b"], "p_lr": d["proba_b"][:, 1],
                       "p_tree": d["proba_a"][:, 1],
                       "broken": np.where(np.arange(d["y"].size) % 3 == 0, 1 - d["pred_b"], d["pred_b"])})
    path = tmp_path / "preds.csv"
    df.to_csv(path, index=False)
    return path


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_compare_exit_codes(preds_csv, tmp_path):
    # lr vs tree on this split: +3 pp but not significant (MEDIUM) -> passes the default high gate, fails medium
    ok = _run("compare", preds_csv, "--a", "tree", "--b", "lr", "--resamples", 500, "-q", "--json", tmp_path / "r.json")
    assert ok.exit_code == 0, ok.output
    assert "stats.improvement-not-significant" in (tmp_path / "r.json").read_text()
    assert _run("compare", preds_csv, "--a", "tree", "--b", "lr", "--resamples", 500, "-q",
                "--fail-on", "medium").exit_code == 1
    # a third of lr's predictions flipped: significantly worse (HIGH) -> exit 1 at the default gate
    assert _run("compare", preds_csv, "--a", "lr", "--b", "broken", "--resamples", 500, "-q").exit_code == 1
    assert _run("compare", preds_csv, "--a", "lr", "--b", "broken", "--resamples", 500, "-q",
                "--fail-on", "never").exit_code == 0
    auc = _run("compare", preds_csv, "--a", "p_tree", "--b", "p_lr", "--metric", "auc", "--resamples", 500)
    assert auc.exit_code == 0 and "auc" in auc.output


@pytest.mark.parametrize("args,message", [
    (["--a", "nope", "--b", "lr"], "--a: column(s) ['nope'] not in the file"),
    (["--a", "tree", "--b", "p_lr"], "integer class labels"),
    (["--target", "p_lr", "--a", "tree", "--b", "lr"], "integer class labels"),
])
def test_compare_bad_input_exit_2(preds_csv, args, message):
    res = _run("compare", preds_csv, *args)
    assert res.exit_code == 2
    err = res.stderr if hasattr(res, "stderr") else res.output
    assert message in err and "Traceback" not in res.output and len(err.strip().splitlines()) == 1


def test_calibration_exit_codes(tmp_path, cancer_preds):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 3)) * 6  # random labels, huge logits: badly overconfident
    y = rng.integers(0, 3, 600)
    P = softmax(z, axis=1)
    df = pd.DataFrame({"y": y, "p0": P[:, 0], "p1": P[:, 1], "p2": P[:, 2], "z0": z[:, 0], "z1": z[:, 1],
                       "z2": z[:, 2]})
    path = tmp_path / "cal.csv"
    df.to_csv(path, index=False)
    bad = _run("calibration", path, "--proba", "p0,p1,p2", "-q")
    assert bad.exit_code == 1
    assert _run("calibration", path, "--logits", "z0,z1,z2", "-q", "--fail-on", "never").exit_code == 0
    good = tmp_path / "good.csv"
    pd.DataFrame({"y": cancer_preds["y"], "p": cancer_preds["proba_b"][:, 1]}).to_csv(good, index=False)
    res = _run("calibration", good, "--proba", "p", "--threshold", "0.1", "--html", tmp_path / "c.html")
    assert res.exit_code == 0 and (tmp_path / "c.html").exists()
    for args, msg in [(["--proba", "p0,p1"], "rows must sum to 1"), ([], "exactly one of --proba or --logits"),
                      (["--proba", "p0,p1,p2", "--target", "zz"], "--target: column(s)")]:
        r = _run("calibration", path, *args)
        assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output
    assert _run("calibration", tmp_path / "missing.csv", "--proba", "p").exit_code == 2


def test_help_documents_columns():
    out = _run("compare", "--help").output
    assert "--target" in out and "one row per example" in out
    assert "one per class" in _run("calibration", "--help").output
