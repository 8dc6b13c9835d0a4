"""Detectors that know when not to trust a prediction.

>>> det = mg.detect.Energy(clf).fit(x_train).calibrate(x_val, fpr=0.05)
>>> det.score(x), det.p_values(x), det.predict(x)   # higher score = more suspicious
>>> mg.detect.evaluate_detectors([det, other], x_test, shifts={"noise": x_noise}, attacks={"pgd": 0.1}, y=y_test)

Every detector shares one forward pass with the prediction (``score_many``), and
``calibrate`` sets a split-conformal threshold: P(false alarm) ≤ fpr on clean data
exchangeable with the calibration inputs.
"""

from mathguard.detect.adaptive import adaptive_attack
from mathguard.detect.base import Detector, score_many
from mathguard.detect.combine import Combined
from mathguard.detect.evaluate import evaluate_detectors
from mathguard.detect.feature import KNN, ActivationEntropy, Mahalanobis
from mathguard.detect.input import FeatureSqueezing, GaussianMixture, Reconstruction
from mathguard.detect.logit import ODIN, Energy, Entropy, MaxSoftmax
from mathguard.detect.metrics import DetectionScores, detection_scores
from mathguard.detect.pipeline import DETECTORS, detect_report, make_detector
from mathguard.detect.uncertainty import DeepEnsemble, MCDropout

__all__ = ["DETECTORS", "KNN", "ODIN", "ActivationEntropy", "Combined", "DeepEnsemble", "DetectionScores",
           "Detector", "Energy", "Entropy", "FeatureSqueezing", "GaussianMixture", "MCDropout", "Mahalanobis",
           "MaxSoftmax", "Reconstruction", "adaptive_attack", "detect_report", "detection_scores", "evaluate_detectors",
           "make_detector", "score_many"]
