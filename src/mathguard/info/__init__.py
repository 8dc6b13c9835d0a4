"""Information lens: the one implementation of entropy, divergences and mutual information, and the tools
built on them (feature relevance and redundancy, information gain, uncertainty sampling)."""

from mathguard.info.active import ActiveLearningCurve, active_learning_curve, select_diverse, select_uncertain
from mathguard.info.divergence import cross_entropy, entropy, js, kl, mutual_information, perplexity, psi
from mathguard.info.relevance import (InformationGain, Redundancy, Relevance, feature_relevance, information_gain,
                                      redundancy)

__all__ = ["ActiveLearningCurve", "active_learning_curve", "select_diverse", "select_uncertain",
           "InformationGain", "Redundancy", "Relevance", "cross_entropy", "entropy", "feature_relevance",
           "information_gain", "js", "kl", "mutual_information", "perplexity", "psi", "redundancy"]
