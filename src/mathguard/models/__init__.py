"""One model protocol: `wrap(obj)` turns torch, scikit-learn, ONNX or a callable into a Classifier."""

from mathguard.models.base import Classifier
from mathguard.models.blackbox import BlackBoxClassifier
from mathguard.models.ensemble import Ensemble
from mathguard.models.diagnose import (
    model_report,
    nondeterminism_finding,
    evaluation_findings,
    output_findings,
    probability_output_finding,
    training_mode_finding,
)
from mathguard.models.load import load_model
from mathguard.models.sklearn_twin import SklearnTwin
from mathguard.models.torch_model import Normalize, TorchClassifier
from mathguard.models.wrap import wrap

__all__ = [
    "BlackBoxClassifier",
    "Classifier",
    "Ensemble",
    "Normalize",
    "SklearnTwin",
    "TorchClassifier",
    "load_model",
    "model_report",
    "nondeterminism_finding",
    "evaluation_findings",
    "output_findings",
    "probability_output_finding",
    "training_mode_finding",
    "wrap",
]
