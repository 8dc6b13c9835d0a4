"""Demo section: the digits CNN behind the guard under clean data, shifts, PGD and an attack on the whole guard."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from mathguard.attacks import PGD
from mathguard.demo.context import DemoContext
from mathguard.demo.detect import shifted_digits
from mathguard.detect import Energy, Mahalanobis, adaptive_attack
from mathguard.drift import profile
from mathguard.guard import Guard
from mathguard.report import Figure, Report, new_axes

EPS = 0.1


def demo_section(ctx: DemoContext) -> Report:
    clf = ctx.classifier
    x_train, x_held = ctx.digits_images
    half = len(x_held) // 2
    x_val, x_test, y_test = x_held[:half], x_held[half:], ctx.digits.y_test[half:]
    fpr = 0.025  # per detector: two of them keep the clean false-alarm rate at most 5 % (union bound)
    detectors = [Energy(clf).calibrate(x_val, fpr=fpr),
                 Mahalanobis(clf).fit(x_train, ctx.digits.y_train).calibrate(x_val, fpr=fpr)]
    ref = profile(x_train.reshape(len(x_train), -1))

    def guarded() -> Guard:
        return Guard(clf, profile=ref, detectors=detectors)

    scenarios = {"clean": x_test, **shifted_digits(x_test, ctx.random_state)}
    n_attack = 80 if ctx.quick else 200
    xa, ya = torch.tensor(x_test[:n_attack]), torch.tensor(y_test[:n_attack])
    scenarios[f"PGD eps={EPS:g}"] = PGD(steps=40, random_state=ctx.random_state)(clf, xa, ya, eps=EPS).adversarial[0].numpy()
    # The adaptive attacker knows all of it: the range check (kept inside the profile's box) and both detectors.
    box = (guarded().validator.lo, guarded().validator.hi)
    ok = guarded().validator(x_test[:n_attack]).valid
    scenarios[f"adaptive eps={EPS:g}"] = adaptive_attack(
        detectors, x_test[:n_attack][ok], y_test[:n_attack][ok], eps=EPS, steps=20 if ctx.quick else 50, box=box,
        random_state=ctx.random_state).adversarial
    labels = {"clean": y_test, f"PGD eps={EPS:g}": y_test[:n_attack], f"adaptive eps={EPS:g}": y_test[:n_attack][ok]}
    table: dict[str, dict[str, float]] = {}
    for name, x in scenarios.items():
        g = guarded()
        out = g.predict(x, y=labels.get(name, y_test))
        m = g.report().metrics
        table[name] = {"abstention_rate": m["abstention_rate"], "accepted_accuracy": m["accepted_accuracy"],
                       "unguarded_accuracy": m["unguarded_accuracy"],
                       "refused_by_validation": m["abstention_by_layer"].get("validation", 0.0),
                       "refused_by_detectors": m["abstention_by_layer"].get("detector", 0.0)}
        if name == "clean":
            example = next((r for r in out.reasons if r), [])
    report = Report(
        title="Guard: validate, detect, abstain",
        summary=(f"The digits CNN behind mg.Guard: per-pixel ranges from the training profile (±10 % slack), "
                 f"energy and Mahalanobis detectors each calibrated at fpr {fpr:.1%} on {half} held-out digits. "
                 "For each batch: the share of rows the guard refused, the accuracy on the rows it accepted, and "
                 "the bare model's accuracy on the same batch. The adaptive attack stays inside the profile's "
                 "ranges and lowers both detectors' scores at once."))
    adv, pgd = table[f"adaptive eps={EPS:g}"], table[f"PGD eps={EPS:g}"]
    report.summary += (f" Against PGD the guard refused {pgd['abstention_rate']:.0%} of rows and kept "
                       f"{_pct(pgd['accepted_accuracy'])} accuracy on the rest (bare model: "
                       f"{_pct(pgd['unguarded_accuracy'])}); the adaptive attacker got {1 - adv['abstention_rate']:.0%} "
                       f"of its rows accepted at {_pct(adv['accepted_accuracy'])} accuracy: detectors raise the cost "
                       "of an attack, they do not make the model robust.")
    report.metrics.update({"scenarios": table, "per_detector_fpr": fpr, "example_clean_refusal": "; ".join(example)})
    report.figures.append(_figure(table))
    return report


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0%}"


def _figure(table: dict[str, dict[str, float]]) -> Figure:
    bars = {key: [table[n][key] or 0.0 for n in table]
            for key in ("unguarded_accuracy", "accepted_accuracy", "abstention_rate")}
    return Figure.later(lambda: _draw_guard(list(table), bars), "The guard under shift and attack",
                        "Per batch: the bare model's accuracy, the guard's accuracy on the rows it accepted, "
                        "and the share it refused. A guard earns its keep when the middle bar stays high.")


def _draw_guard(names: list[str], bars: dict[str, list[float]]) -> Any:
    xs = np.arange(len(names))
    fig, ax = new_axes(8.5, 3.8)
    for off, key, label in ((-0.27, "unguarded_accuracy", "bare model accuracy"),
                            (0.0, "accepted_accuracy", "accuracy on accepted rows"),
                            (0.27, "abstention_rate", "abstention rate")):
        ax.bar(xs + off, bars[key], width=0.26, label=label)
    ax.set_xticks(xs, names, rotation=15, ha="right")
    ax.set_ylim(0, 1.05)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3)
    return fig
