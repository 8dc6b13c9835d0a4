"""`mathguard guard`: put a model behind the guard and decide a batch, writing per-row decisions and a report."""

from __future__ import annotations

import csv
import io
from typing import Any

import click
import numpy as np

from mathguard.cli.app import check_outputs, finish, main, model_file, report_options, severity_option
from mathguard.cli.inputs import classifier_options, has_labels, load_classifier, load_inputs, load_labeled
from mathguard.errors import InputError


def decisions_csv(decision: Any) -> str:
    """One line per row: label (−1 = abstained), where the answer came from, the refusing layer and why, the
    probabilities given (p0, p1, …; empty where nobody answered) and each detector's score and p-value."""
    buf = io.StringIO()
    out = csv.writer(buf)
    k = decision.proba.shape[1] if decision.proba.ndim == 2 else 0
    detectors = list(decision.scores)
    out.writerow(["row", "label", "source", "layer", "reasons", "confidence", *(f"p{j}" for j in range(k)),
                  *(f"{d}_score" for d in detectors), *(f"{d}_p_value" for d in detectors)])

    def num(v: float) -> str:
        return "" if not np.isfinite(v) else repr(float(v))

    for i, (label, source, layer, why) in enumerate(zip(decision.labels, decision.source, decision.layer,
                                                        decision.reasons)):
        p = decision.proba[i] if k else np.zeros(0)
        out.writerow([i, int(label), source, layer, "; ".join(why), num(p.max()) if k else "",
                      *(num(v) for v in p), *(num(decision.scores[d][i]) for d in detectors),
                      *(num(decision.p_values[d][i]) for d in detectors)])
    return buf.getvalue()


@main.command()
@classifier_options
@click.option("--data", required=True, help=".npz with x (and optionally y, for accepted-accuracy figures).")
@click.option("--profile", "profile_path", default=None, help="Training profile (mathguard profile DATA --json ref.json).")
@click.option("--detectors", default="", help="Comma-separated detector names, e.g. energy,mahalanobis.")
@click.option("--train", default=None, help="Clean training .npz (x, y) the detectors learn from.")
@click.option("--val", default=None, help="Clean held-out .npz (x) that sets the detectors' thresholds.")
@click.option("--fpr", type=float, default=0.05, show_default=True, help="False-alarm rate of each detector.")
@click.option("--tolerance", type=float, default=0.1, show_default=True,
              help="Slack beyond the training range, as a share of that range.")
@click.option("--decisions", default=None, help="Write per-row decisions as CSV.")
@report_options
@severity_option("high")
def guard(model_spec: str, input_shape: str | None, bounds: str | None, trust_pickle: bool, data: str,
          profile_path: str | None, detectors: str, train: str | None, val: str | None, fpr: float, tolerance: float,
          decisions: str | None, html: str | None, json_path: str | None, quiet: bool, fail_on: str) -> None:
    """Validate, detect, abstain: decide every row of --data behind the guard."""
    from mathguard.detect.pipeline import make_detector
    from mathguard.drift import Profile
    from mathguard.guard import Guard

    outputs = {"--decisions": decisions, "--json": json_path, "--html": html}
    check_outputs(outputs, [model_file(model_spec), data, profile_path, train, val])
    names = [d.strip() for d in detectors.split(",") if d.strip()]
    if names and not (train and val):
        raise InputError("detectors need --train (to fit) and --val (to calibrate)")
    x = load_inputs(data)
    y = load_labeled(data)[1] if has_labels(data) else None
    clf = load_classifier(model_spec, input_shape, bounds, trust_pickle, tuple(x.shape[1:]))
    built = []
    if names:
        x_train, y_train = load_labeled(train)
        x_val = load_inputs(val)
        built = [make_detector(n, clf).fit(x_train, y_train).calibrate(x_val, fpr=fpr) for n in names]
    g = Guard(clf, profile=Profile.load(profile_path) if profile_path else None, detectors=built,
              tolerance=tolerance)
    decision = g.predict(x, y=y)
    finish(g.report(), html, json_path, fail_on, quiet=quiet,  # decisions land with the reports or not at all
           also={decisions: decisions_csv(decision)} if decisions else None)
