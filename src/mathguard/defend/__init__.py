"""How to harden: adversarial / IBP / noise training, Lipschitz layers, ensembles."""

from mathguard.defend.ensemble import Ensemble
from mathguard.defend.lipschitz_layers import lipschitz_layers
from mathguard.defend.loop import batches, train
from mathguard.defend.training import adversarial_training, gaussian_augmentation, ibp_training

__all__ = ["Ensemble", "adversarial_training", "batches", "gaussian_augmentation", "ibp_training",
           "lipschitz_layers", "train"]
