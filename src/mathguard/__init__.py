"""mathguard: audit, attack, certify, defend and monitor ML models through their mathematics.

>>> import mathguard as mg
>>> report = mg.audit_data(X)          # linear-algebra audit of a feature matrix
>>> clf = mg.wrap(model, bounds=(0, 1)) # one protocol for torch, sklearn, onnx, callables
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from mathguard.errors import InputError, MathguardError, ModelError, UnsupportedError
from mathguard.report import Finding, Report, Severity

__version__ = "0.1.0"

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
