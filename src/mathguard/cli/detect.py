"""`mathguard detect`: fit, calibrate and evaluate detectors of unusual or adversarial inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mathguard.cli.app import (activity, check_outputs, finish, main, model_file, random_state_option, report_options,
                               severity_option)
from mathguard.cli.budget import budget_option, run_within
from mathguard.cli.inputs import classifier_options, load_classifier, load_inputs, load_labeled, parse_floats
from mathguard.errors import InputError


def _attacks(text: str | None) -> dict[str, float] | None:
    """'pgd:0.1,fgsm:0.05' → {'pgd': 0.1, 'fgsm': 0.05}."""
    if not text:
        return None
    out = {}
    for item in text.split(","):
        name, _, eps = item.partition(":")
        (value,) = parse_floats(eps, f"--attacks eps of {name!r}") or (None,)
        if value is None:
            raise InputError(f"--attacks items are name:eps, e.g. pgd:0.1; got {item!r}")
        out[name.strip()] = value
    return out


@main.command()
@classifier_options
@click.option("--train", required=True, help="Clean training .npz (x, y): what the detectors learn from.")
@click.option("--val", required=True, help="Clean held-out .npz (x[, y]): sets the calibrated thresholds.")
@click.option("--test", "test_path", required=True, help="Clean held-out .npz (x, y): measures the detectors.")
@click.option("--ood", default=None, help="Comma-separated out-of-distribution .npz files with x (named by file stem).")
@click.option("--detectors", default="max-softmax,energy,mahalanobis,knn", show_default=True,
              help="Comma-separated detector names.")
@click.option("--layer", default=None, help="Layer for feature detectors (name in the model, 'penultimate', 'input').")
@click.option("--fpr", type=float, default=0.05, show_default=True, help="Promised false-alarm rate on clean data.")
@click.option("--attacks", default=None, help="Attacks to detect, name:eps, e.g. pgd:0.1,fgsm:0.1.")
@click.option("--no-adaptive", is_flag=True, help="Skip the adaptive attack on each detector.")
@budget_option("test points")
@random_state_option("the detectors that sample and every attack")
@report_options
@severity_option("high")
def detect(model_spec: str, input_shape: str | None, bounds: str | None, trust_pickle: bool, train: str, val: str,
           test_path: str, ood: str | None, detectors: str, layer: str | None, fpr: float,
           attacks: str | None, no_adaptive: bool, budget: str | None, random_state: int, html: str | None, json_path: str | None, quiet: bool,
           fail_on: str) -> None:
    """Out-of-distribution and adversarial-input detectors with a guaranteed false-alarm rate."""
    from mathguard.durations import parse_budget
    from mathguard.detect.pipeline import detect_report

    seconds = parse_budget(budget)
    ood_files = [p.strip() for p in (ood or "").split(",") if p.strip()]
    check_outputs({"--json": json_path, "--html": html}, [model_file(model_spec), train, val, test_path, *ood_files])
    x_train, y_train = load_labeled(train)
    clf = load_classifier(model_spec, input_shape, bounds, trust_pickle, tuple(x_train.shape[1:]))
    shifts = {Path(p).stem: load_inputs(p) for p in ood_files}
    x_val, (x_test, y_test) = load_inputs(val), load_labeled(test_path)
    with activity("fitting and attacking detectors", quiet):
        def run(k: int) -> Any:
            return detect_report(clf, train=(x_train, y_train), val=x_val, test=(x_test[:k], y_test[:k]),
                                 detectors=[d.strip() for d in detectors.split(",") if d.strip()],
                                 ood=shifts or None, attacks=_attacks(attacks), fpr=fpr, layer=layer,
                                 adaptive=not no_adaptive, random_state=random_state)

        report = run_within(run, len(x_test), budget=budget, seconds=seconds, what="test points", pilot=8,
                            fix="Give a larger --budget, fewer --detectors or --no-adaptive to measure every test point.")
    finish(report, html, json_path, fail_on, quiet=quiet)
