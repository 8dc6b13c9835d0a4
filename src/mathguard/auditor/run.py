"""`mg.audit`: every lens that applies to a model and its data, one report that opens with a scorecard."""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

import numpy as np

from mathguard.auditor.budget import OverBudget, make_plan
from mathguard.auditor.config import AuditConfig, load_config, with_overrides
from mathguard.auditor.lenses import LENS_FUNCS, AuditInputs, NotApplicable
from mathguard.errors import InputError, MathguardError
from mathguard.models.base import Classifier
from mathguard.models.wrap import as_classifier
from mathguard.report import Finding, Report, Severity
from mathguard.report.lenses import TITLES
from mathguard.report.scorecard import scorecard_table, section_row
from mathguard.partitioned import check_client

RESERVE = 0.05  # share of the budget kept back: a lens does not start with less than this left


def _split(clf: Classifier, pair: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        x, y = pair
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a pair (x, y)") from None
    xt = clf.as_input(x)  # validates shape and values; the lenses get the data at the precision given
    yt = clf.as_labels(y, len(xt))
    if len(xt) == 0:
        raise InputError(f"{name} holds no rows")
    raw = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if raw.dtype.kind != "f" or raw.size != xt.numel():
        raw = xt.cpu().numpy()
    return raw.reshape(tuple(xt.shape)), yt.cpu().numpy()


def audit(clf: Any, *, train: tuple[Any, Any], test: tuple[Any, Any], baseline: Any = None,
          config: "str | os.PathLike[str] | Mapping[str, Any] | AuditConfig | None" = None,
          feature_names: list[str] | None = None, progress: Callable[[str, int, int], None] | None = None,
          client: Any = None, **overrides: Any) -> Report:
    """Audit ``clf`` through every applicable lens → Report; ``metrics["scorecard"]`` has one row per lens.

    ``train`` and ``test`` are (x, y) pairs; ``baseline`` a model to test against; ``config``
    a mathguard.toml path, a mapping shaped like it or an AuditConfig; keyword ``overrides``
    (``budget=120``, ``fail_on="medium"``, ``lenses=(...)``) win over the file.
    ``progress(lens, done, total)`` is called before each lens. With a ``dask.distributed.Client``
    the adversarial lens shards its points over the cluster (same outcomes as without).
    """
    check_client(client)
    cfg = with_overrides(load_config(config), **overrides)
    model = as_classifier(clf)
    x_train, y_train = _split(model, train, "train")
    x_test, y_test = _split(model, test, "test")
    base = None if baseline is None else as_classifier(baseline, "baseline")
    plan = make_plan(model, model.as_input(x_test), cfg.budget)
    inputs = AuditInputs(model, x_train, y_train, x_test, y_test, cfg, plan, feature_names, base, client=client)
    root = Report(title="mathguard audit",
                  summary=f"{model.kind} classifier with {model.n_classes} classes; {len(x_train)} training and "
                          f"{len(x_test)} test rows; gate: {cfg.fail_on}"
                          + (f"; budget {cfg.budget:.0f} s" if cfg.budget else "") + ".")
    rows: dict[str, dict[str, Any]] = {}
    plan.pending = list(cfg.lenses)
    for i, lens in enumerate(cfg.lenses):
        if progress is not None:
            progress(lens, i, len(cfg.lenses))
        rows[lens] = _run_lens(lens, inputs, root, cfg)
        plan.pending.remove(lens)
    for note in plan.notes + inputs.notes:
        root.add(Finding(id="audit.scaled-down", lens="audit", severity=Severity.INFO, title=note))
    root.metrics["scorecard"] = rows
    root.metrics["budget"] = {"seconds": cfg.budget, "used": plan.elapsed(), "points": dict(plan.sizes)}
    root.tables.append(scorecard_table({TITLES[k]: r for k, r in rows.items()}, cfg.fail_on))
    return root


def _run_lens(lens: str, inputs: AuditInputs, root: Report, cfg: AuditConfig) -> dict[str, Any]:
    plan = inputs.plan
    if cfg.budget is not None and plan.left() < RESERVE * cfg.budget:
        return {"status": "skipped", "worst": None, "key": f"budget spent ({plan.elapsed():.0f} s)"}
    try:
        section, key = LENS_FUNCS[lens](inputs)
    except NotApplicable as why:
        return {"status": "n/a", "worst": None, "key": str(why)}
    except OverBudget as why:
        return {"status": "skipped", "worst": None, "key": f"budget too small: {why}"}
    except MathguardError as exc:  # the lens met data or a model it cannot judge: say so, loudly
        root.add(Finding(id="audit.lens-failed", lens="audit", severity=Severity.HIGH,
                         title=f"the {TITLES[lens].lower()} lens could not run: {str(exc).splitlines()[0]}",
                         fix="Fix the input it names; the audit is incomplete without this lens."))
        why = str(exc).splitlines()[0]
        return {"status": "error", "worst": str(Severity.HIGH), "key": why,
                "failing": [f"high: audit.lens-failed: {why}"]}
    section.title = TITLES[lens] + (f": {section.title}" if section.title != TITLES[lens] else "")
    root.add_section(section)
    row = section_row(section, key, cfg.fail_on)
    if lens in ("adversarial", "certified"):
        row["rule"] = inputs.rule + f" and no finding ≥ {cfg.fail_on}"
    return row
