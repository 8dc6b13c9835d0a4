"""Model pitfalls that silently invalidate attacks and certificates.

Three things make a robustness number meaningless without any error being raised:

* the network ends in a softmax, so what the protocol calls logits are probabilities:
  attacks apply softmax again, the loss saturates and gradients vanish (false robustness);
* the network is left in training mode: dropout randomises every answer and batch norm
  normalises with batch statistics (and *updates* its running statistics while attacked);
* the forward pass is random: one query says nothing, gradients are noisy, and attacks
  look weaker than they are unless they average over the randomness (EOT).

Each check returns a Finding (lens "model") or None; :func:`output_findings` runs all.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn

from mathguard.errors import InputError
from mathguard.models.base import Classifier
from mathguard.models.torch_model import eval_mode, torch_roots
from mathguard.report import Finding, Report, Severity

#: A row "is a probability vector" when its entries are ≥ -PROB_TOL and it sums to 1 ± PROB_TOL.
PROB_TOL = 1e-4
#: Fraction of rows that must look like probabilities before we say the model outputs them.
PROB_ROW_FRACTION = 0.99
#: Rows per check: enough to be sure, small enough to stay cheap on any model.
MAX_ROWS = 256

_TRAIN_SENSITIVE = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)


def _sample(clf: Classifier, x: Any) -> torch.Tensor:
    xt = clf.as_input(x)[:MAX_ROWS]
    if len(xt) == 0:
        raise InputError("model checks need at least one input row")
    return xt


@contextmanager
def _buffers_restored(clf: Classifier) -> Iterator[None]:
    """Undo any buffer updates our probing causes (batch norm in training mode updates running stats)."""
    saved = [(b, b.detach().clone()) for root in torch_roots(clf) for b in root.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


def _forward(clf: Classifier, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad(), _buffers_restored(clf):
        return clf.logits(x).detach().to(torch.float64)


def probability_output_finding(clf: Classifier, x: Any, *, logits: torch.Tensor | None = None) -> Finding | None:
    """HIGH when the model's "logits" are non-negative rows summing to 1, i.e. softmax is inside the net.

    ``logits`` may pass an already computed forward on ``x`` to save one call.
    """
    xt = _sample(clf, x)
    out = _forward(clf, xt) if logits is None else logits.detach().to(torch.float64)[: len(xt)]
    looks_prob = (out.min(dim=1).values >= -PROB_TOL) & ((out.sum(dim=1) - 1).abs() <= PROB_TOL)
    fraction = float(looks_prob.double().mean())
    if fraction < PROB_ROW_FRACTION:
        return None
    saturated = float((out.max(dim=1).values > 0.99).double().mean())
    return Finding(
        id="model.outputs-probabilities",
        lens="model",
        severity=Severity.HIGH,
        title="Model returns probabilities where logits are expected",
        detail=(f"{fraction:.0%} of {len(xt)} output rows are non-negative and sum to 1: the network ends in a "
                "softmax. Attacks and losses apply softmax again, which squeezes every input into a narrow "
                f"band (here {saturated:.0%} of rows already have a top probability > 0.99), so cross-entropy "
                "gradients shrink through the second softmax, losses saturate and the model looks more robust "
                "than it is (gradient masking)."),
        evidence={"rows": len(xt), "probability_rows_fraction": fraction,
                  "min_output": float(out.min()), "max_row_sum_error": float((out.sum(dim=1) - 1).abs().max()),
                  "saturated_rows_fraction": saturated},
        fix="Remove the final softmax (train with CrossEntropyLoss on raw logits), or wrap a module that "
            "returns the pre-softmax values.",
    )


def training_mode_finding(clf: Classifier) -> Finding | None:
    """HIGH when dropout or batch-norm layers of the model's torch modules (every ensemble member's) are in training mode."""
    roots = torch_roots(clf)
    if not roots:
        return None
    prefix = len(roots) > 1
    layers = [(f"member{i}." if prefix else "") + (name or type(m).__name__)
              for i, root in enumerate(roots) for name, m in root.named_modules()
              if isinstance(m, _TRAIN_SENSITIVE) and m.training]
    if not layers:
        return None
    module = roots[0]
    return Finding(
        id="model.training-mode",
        lens="model",
        severity=Severity.HIGH,
        title="Model is in training mode",
        detail=(f"{len(layers)} dropout/batch-norm layer(s) are in training mode ({', '.join(layers[:5])}"
                f"{', …' if len(layers) > 5 else ''}). Dropout makes every answer random and batch norm uses "
                "batch statistics and updates its running averages, so a model served like this answers "
                "randomly. mathguard's attacks, certificates and detectors switch every layer to eval mode for "
                "the duration of a call, so their figures describe the eval-mode model."),
        evidence={"layers": layers, "module_training": bool(module.training)},
        fix="Call model.eval() before wrapping or auditing it.",
    )


def nondeterminism_finding(clf: Classifier, x: Any, *, first: torch.Tensor | None = None) -> Finding | None:
    """HIGH when two forward passes on the same inputs differ beyond float round-off.

    Model buffers (batch-norm running statistics) are restored after probing.
    """
    xt = _sample(clf, x)
    a = _forward(clf, xt) if first is None else first.detach().to(torch.float64)[: len(xt)]
    b = _forward(clf, xt)
    diff = float((a - b).abs().max())
    tol = 1e-6 * (1.0 + float(a.abs().max()))
    if diff <= tol:
        return None
    flipped = int((a.argmax(dim=1) != b.argmax(dim=1)).sum())
    return Finding(
        id="model.nondeterministic",
        lens="model",
        severity=Severity.HIGH,
        title="Forward pass is not deterministic",
        detail=(f"Two forward passes on the same {len(xt)} inputs differ by up to {diff:.3g} in the logits and "
                f"change the predicted class of {flipped}. Single-query evaluations are noisy and gradient "
                "attacks see a random gradient, so the model can look more robust than it is."),
        evidence={"rows": len(xt), "max_abs_difference": diff, "tolerance": tol, "prediction_changes": flipped},
        fix="Call model.eval() if the randomness is dropout left on; if it is a deliberate randomised defence, "
            "evaluate with repeated queries and attack with expectation over transformation (EOT).",
    )


def output_findings(clf: Classifier, x: Any) -> list[Finding]:
    """Run every pitfall check on ``clf`` with sample inputs ``x`` (at most 256 rows are used).

    Returns the findings in order: training mode, non-determinism, probabilities-as-logits.
    An empty list means none of the pitfalls was seen.
    """
    xt = _sample(clf, x)
    first = _forward(clf, xt)
    found = [training_mode_finding(clf), nondeterminism_finding(clf, xt, first=first),
             probability_output_finding(clf, xt, logits=first)]
    return [f for f in found if f is not None]


def evaluation_findings(clf: Classifier, x: Any) -> list[Finding]:
    """The pitfall checks for a lens that computes its figures in eval mode.

    Training mode is read from the model as the user left it; non-determinism and
    probabilities-as-logits are checked in eval mode, the mode the figures come from, so
    dropout left on is reported once (training mode), while a deliberately random forward
    still shows as non-deterministic.
    """
    mode = training_mode_finding(clf)
    with eval_mode(clf):
        found = output_findings(clf, x)
    return ([mode] if mode is not None else []) + found


def describe(clf: Classifier) -> dict[str, Any]:
    """What the protocol knows about a classifier, as report metrics."""
    return {"kind": clf.kind, "n_classes": clf.n_classes, "input_shape": list(clf.input_shape),
            "bounds": None if clf.bounds is None else list(clf.bounds), "has_gradients": clf.has_gradients}


def model_report(clf: Classifier, x: Any, *, title: str = "Model protocol") -> Report:
    """A Report with :func:`describe` as metrics and :func:`output_findings` as findings."""
    return Report(title=title, findings=output_findings(clf, x), metrics=describe(clf))
