"""Demo section: sklearn models behind the protocol, and the pitfalls the protocol catches."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from mathguard.demo.context import DemoContext
from mathguard.models.diagnose import describe, model_report
from mathguard.models.wrap import wrap
from mathguard.report import Figure, Report
from mathguard.report.figure import new_axes


def _twins(ctx: DemoContext) -> Report:
    """Exact twins of logistic regression and an MLP, and a forest as black box, with their deviations."""
    import warnings

    from sklearn.ensemble import RandomForestClassifier
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    bc, dg = ctx.breast_cancer, ctx.digits
    # float64 like the twin: an MLP fitted on float32 keeps float32 weights and rounds at ~1e-7
    X_train, X_test = dg.X_train.astype(np.float64), dg.X_test.astype(np.float64)
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(bc.X_train, bc.y_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=60 if ctx.quick else 200,
                            random_state=ctx.random_state).fit(X_train, dg.y_train)
    forest = RandomForestClassifier(n_estimators=20 if ctx.quick else 100, random_state=ctx.random_state).fit(
        dg.X_train, dg.y_train)

    lr_clf = wrap(logreg)  # the scaler folds into the twin's first layer: raw-space inputs
    mlp_clf, forest_clf = wrap(mlp), wrap(forest)
    with torch.no_grad():
        lr_logits = lr_clf.logits(torch.as_tensor(bc.X_test)).numpy()
        mlp_proba = mlp_clf.proba(torch.as_tensor(X_test)).numpy()
        forest_proba = forest_clf.proba(torch.as_tensor(dg.X_test)).numpy()
    W, b = lr_clf.linear_weights
    w = (W[1] - W[0]).numpy()
    d = lr_logits[:, 1]
    metrics = {
        "logreg_twin_max_abs_error": float(np.abs(d - logreg.decision_function(bc.X_test)).max()),
        "mlp_twin_max_abs_proba_error": float(np.abs(mlp_proba - mlp.predict_proba(X_test)).max()),
        "forest_max_abs_proba_error": float(np.abs(forest_proba - forest.predict_proba(dg.X_test)).max()),
        "logreg_median_l2_distance_to_boundary": float(np.median(np.abs(d) / np.linalg.norm(w))),
        "models": {"logistic regression": describe(lr_clf), "MLP": describe(mlp_clf), "random forest": describe(forest_clf)},
    }
    return Report(
        title="Model protocol: scikit-learn models",
        summary="Logistic regression in a StandardScaler pipeline (breast cancer, the scaler folded into the "
        "first layer) and an MLP (digits) "
        "become exact float64 torch twins with gradients; a random forest is queried as a black box. The "
        "errors are the largest deviation from scikit-learn's own decision_function / predict_proba. For the "
        "linear twin the exact L2 distance of each test point to the decision boundary is |d(x)| / ‖w‖.",
        metrics=metrics,
    )


def _pitfalls(ctx: DemoContext) -> list[Report]:
    """The demo CNN as trained, then two planted copies: softmax at the end, dropout left on."""
    x = ctx.digits_images[1]
    clean = model_report(ctx.classifier, x, title="Pitfall checks: the demo CNN")
    clean.summary = "The demo CNN in eval mode, returning raw logits: none of the pitfalls should fire."

    softmaxed = wrap(nn.Sequential(ctx.cnn, nn.Softmax(dim=1)), input_shape=(1, 8, 8), bounds=(0.0, 1.0))
    cnn = copy.deepcopy(ctx.cnn)
    dropout_net = nn.Sequential(*cnn[:-1], nn.Dropout(0.3), cnn[-1]).train()
    dropped = wrap(dropout_net, input_shape=(1, 8, 8), bounds=(0.0, 1.0))
    planted = Report(title="Pitfall checks: planted defects",
                     summary="Two copies of the CNN with planted defects: one ends in a softmax (so its 'logits' are "
                     "probabilities), one has dropout left in training mode. Both must be flagged.",
                     findings=model_report(softmaxed, x).findings + model_report(dropped, x).findings)

    with torch.no_grad():
        xt = torch.as_tensor(x)
        top_ok = torch.softmax(ctx.classifier.logits(xt), dim=1).max(dim=1).values.numpy()
        top_double = torch.softmax(softmaxed.logits(xt), dim=1).max(dim=1).values.numpy()
    planted.figures.append(Figure.later(
        lambda: _draw_top_probabilities(top_ok, top_double), "What a loss sees when softmax is applied twice",
        "With 10 classes softmax of a probability vector can never exceed e/(e+9) ≈ 0.23: every input is squeezed "
        "into a narrow band, so losses saturate and gradients shrink."))
    planted.metrics["max_top_probability_after_double_softmax"] = float(top_double.max())
    return [clean, planted]


def demo_section(ctx: DemoContext) -> Report:
    """Twins vs scikit-learn, black-box wrapping, and the pitfall checks (clean and planted)."""
    return Report(title="Model protocol", summary="One protocol for torch, scikit-learn, ONNX and callables, and "
                  "the model pitfalls that silently invalidate attacks and certificates.",
                  sections=[_twins(ctx), *_pitfalls(ctx)])


def _draw_top_probabilities(top_ok: np.ndarray, top_double: np.ndarray) -> Any:
    fig, ax = new_axes()
    bins = np.linspace(0, 1, 41)
    ax.hist(top_ok, bins=bins, alpha=0.7, label="softmax(logits): healthy CNN")
    ax.hist(top_double, bins=bins, alpha=0.7, label="softmax(probabilities): softmax inside the net")
    ax.set_xlabel("top-class probability an attack's loss sees")
    ax.set_ylabel("test inputs")
    ax.legend()
    return fig
