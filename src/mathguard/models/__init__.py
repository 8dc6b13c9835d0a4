"""One model protocol: `wrap(obj)` turns torch, scikit-learn, ONNX or a callable into a Classifier."""

from mathguard.models.base import Classifier
from mathguard.models.torch_model import Normalize, TorchClassifier
from mathguard.models.wrap import wrap

__all__ = ["Classifier", "Normalize", "TorchClassifier", "wrap"]
