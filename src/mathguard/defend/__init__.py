"""How to harden: adversarial / IBP / noise training, Lipschitz layers, ensembles, error-correcting output codes."""

from mathguard.defend.ecoc import ECOC, ecoc_hinge_loss, ecoc_loss
from mathguard.models.ensemble import Ensemble
from mathguard.defend.lipschitz_layers import lipschitz_layers
from mathguard.defend.loop import batches, train
from mathguard.defend.training import adversarial_training, gaussian_augmentation, ibp_training

__all__ = ["ECOC", "Ensemble", "adversarial_training", "batches", "ecoc_hinge_loss", "ecoc_loss",
           "gaussian_augmentation", "ibp_training", "lipschitz_layers", "train"]
