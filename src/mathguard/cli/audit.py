"""`mathguard init` and `mathguard audit`: the whole-model audit of a user's own model and data."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from mathguard.cli.app import activity, check_outputs, main, model_file, quiet_option, random_state_option
from mathguard.cli.cluster import cluster, cluster_options
from mathguard.cli.inputs import load_classifier, load_labeled
from mathguard.errors import InputError
from mathguard.io import kind, read_table
from mathguard.report import Severity, write_all


def load_split(path: str, target: str | None) -> tuple[np.ndarray, np.ndarray, list[str] | None]:
    """(x, y, feature names) from an .npz (x, y) or a CSV/Parquet table with a --target column."""
    if kind(path) == "npz":
        x, y = load_labeled(path)
        return x, y, None
    if not target:
        raise InputError(f"{path} is a table: name its label column with --target")
    frame = read_table(path)
    if target not in frame.columns:
        raise InputError(f"--target {target!r} is not a column of {path}; it has {list(frame.columns)}")
    features = frame.drop(columns=[target])
    text = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c].dtype)]
    if text:
        raise InputError(f"{path}: column(s) {text[:5]} are not numeric; encode them before the audit")
    return features.to_numpy(dtype=np.float64), frame[target].to_numpy(), [str(c) for c in features.columns]


@main.command()
@click.option("--config", "out", default="mathguard.toml", show_default=True,
              help="The options file to write (what `audit --config` reads).")
def init(out: str) -> None:
    """Write a commented mathguard.toml with every audit option and its default."""
    from mathguard.auditor import TEMPLATE

    if Path(out).exists():
        raise InputError(f"{out} exists; mathguard never overwrites it (remove it or give --config)")
    check_outputs({"--config": out})
    write_all({out: TEMPLATE})
    click.echo(f"wrote {out}")


@main.command()
@click.option("--model", "model_spec", required=True,
              help="file.py:factory, TorchScript .pt, .onnx, or a scikit-learn pickle (needs --trust-pickle).")
@click.option("--train", required=True, help="Training data: .npz (x, y) or .csv/.parquet with --target.")
@click.option("--test", "test_path", required=True, help="Held-out test data, same format.")
@click.option("--target", default=None, help="Label column of CSV/Parquet data.")
@click.option("--baseline", default=None, help="A second model to test against (same formats as --model).")
@click.option("--config", "config_path", default=None, help="mathguard.toml (default: ./mathguard.toml if present).")
@click.option("--out", default=None, help="Folder for report.html and report.json (created if missing, not its parents).")
@click.option("--junit", default=None, help="Write one JUnit test case per lens.")
@click.option("--html", default=None, type=click.Path(dir_okay=False), help="Write the HTML report here.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False), help="Write the JSON report here.")
@click.option("--budget", default=None, help="Time budget, e.g. 90s, 10m (default: from the config, 10m).")
@click.option("--fail-on", type=click.Choice([s.name.lower() for s in Severity] + ["never"], case_sensitive=False),
              default=None, help="Exit 1 when a finding at or above this severity is present (default: config).")
@random_state_option("every lens (default: the config's, 0)", default=None)
@click.option("--input-shape", default=None, help="Shape of one input, e.g. 1,28,28 (default: from the data).")
@click.option("--bounds", default=None, help="Valid input range low,high, e.g. 0,1.")
@click.option("--trust-pickle", is_flag=True, help="Allow loading a pickled model (runs code from the file).")
@quiet_option
@cluster_options
def audit(model_spec: str, train: str, test_path: str, target: str | None, baseline: str | None,
          config_path: str | None, out: str | None, junit: str | None, html: str | None, json_path: str | None,
          budget: str | None, fail_on: str | None, random_state: int | None,
          input_shape: str | None, bounds: str | None, trust_pickle: bool, quiet: bool, scheduler: str | None,
          workers: int | None) -> None:
    """Audit a model and its data through every lens that applies; one scorecard, one gate."""
    from mathguard.auditor import junit_xml, load_config
    from mathguard.durations import parse_budget
    from mathguard.auditor.run import audit as run_audit

    if config_path is None and Path("mathguard.toml").is_file():
        config_path = "mathguard.toml"
    inputs = [model_file(model_spec), train, test_path, baseline and model_file(baseline), config_path]
    folder = Path(out) if out else None
    if folder is not None and folder.exists() and not folder.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for report.html and report.json")
    if folder is not None and not folder.parent.is_dir():
        raise InputError(f"--out: directory {folder.parent} does not exist (mathguard creates only the folder named)")
    outputs: dict[str, str | None] = {"--junit": junit, "--html": html, "--json": json_path}
    if folder is not None and folder.is_dir():
        outputs.update({"--out html": str(folder / "report.html"), "--out json": str(folder / "report.json")})
    check_outputs(outputs, inputs)
    cfg = load_config(config_path)
    x_train, y_train, names = load_split(train, target)
    x_test, y_test, _ = load_split(test_path, target)
    clf = load_classifier(model_spec, input_shape, bounds, trust_pickle, tuple(x_train.shape[1:]))
    base = load_classifier(baseline, input_shape, bounds, trust_pickle, tuple(x_train.shape[1:])) if baseline else None
    overrides: dict[str, Any] = {"fail_on": fail_on}
    if budget is not None:
        overrides["budget"] = parse_budget(budget)
    if random_state is not None:
        overrides["random_state"] = random_state
    with cluster(scheduler, workers) as client, activity("audit", quiet) as shown:
        report = run_audit(clf, train=(x_train, y_train), test=(x_test, y_test), baseline=base, config=cfg,
                           feature_names=names, progress=lambda lens, done, total: shown.update(f"{lens} lens",
                                                                                               done, total),
                           client=client, **overrides)
    texts = {}
    if junit:
        texts[junit] = junit_xml(report)
    if html:
        texts[html] = report.to_html()
    if json_path:
        texts[json_path] = report.to_json()
    if folder is not None:
        folder.mkdir(exist_ok=True)
        texts[str(folder / "report.html")] = report.to_html()
        texts[str(folder / "report.json")] = report.to_json()
    write_all(texts)
    if not quiet:
        report.show()
    gate = fail_on or cfg.fail_on
    sys.exit(0 if gate == "never" else report.gate(gate))
