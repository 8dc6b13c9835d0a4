"""mathguard: audit, attack, certify, defend and monitor ML models through their mathematics.

>>> import mathguard as mg
>>> report = mg.audit_data(X)          # linear-algebra audit of a feature matrix
>>> clf = mg.wrap(model, bounds=(0, 1)) # one protocol for torch, sklearn, onnx, callables
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mathguard.errors import InputError, MathguardError, ModelError, UnsupportedError
from mathguard.report import Finding, Report, Severity

__version__ = "0.1.0"

if TYPE_CHECKING:  # what __getattr__ resolves, spelled out (`x as x`: re-exported) so type checkers see real types
    from mathguard import (
        attacks as attacks,
        auditor as auditor,
        certify as certify,
        data as data,
        defend as defend,
        demo as demo,
        detect as detect,
        drift as drift,
        evaluation as evaluation,
        guard as guard,
        info as info,
        models as models,
        monitor as monitor,
        report as report,
        robustness as robustness,
        training as training,
    )
    from mathguard.auditor import audit as audit
    from mathguard.data import audit_data as audit_data
    from mathguard.guard import Guard as Guard
    from mathguard.models import load_model as load_model, wrap as wrap
    from mathguard.robustness.bracket import robustness_bracket as robustness_bracket
    from mathguard.robustness.evaluate import evaluate_robustness as evaluate_robustness

# Lazy attribute → "module:attribute" (subpackages import torch/sklearn; keep `import mathguard` light).
_LAZY: dict[str, str] = {
    "wrap": "mathguard.models:wrap",
    "load_model": "mathguard.models:load_model",
    "audit_data": "mathguard.data:audit_data",
    "robustness_bracket": "mathguard.robustness.bracket:robustness_bracket",
    "evaluate_robustness": "mathguard.robustness.evaluate:evaluate_robustness",
    "Guard": "mathguard.guard:Guard",
    "audit": "mathguard.auditor:audit",
}
_SUBPACKAGES = {"models", "data", "training", "evaluation", "info", "drift", "attacks",
                "robustness", "certify", "defend", "detect", "guard", "auditor", "report", "demo", "monitor"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name].split(":")
        return getattr(import_module(module), attr)
    if name in _SUBPACKAGES:
        return import_module(f"mathguard.{name}")
    raise AttributeError(f"module 'mathguard' has no attribute {name!r}")


__all__ = ["Finding", "InputError", "MathguardError", "ModelError", "Report", "Severity",
           "UnsupportedError", "__version__", *_LAZY]
