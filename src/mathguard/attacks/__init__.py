"""White-box and black-box attacks on the Classifier protocol; every one returns an AttackResult."""

from mathguard.attacks.apgd import APGD
from mathguard.attacks.base import Attack
from mathguard.attacks.blackbox import ZeroOrderPGD, estimate_gradient
from mathguard.attacks.cw import CW
from mathguard.attacks.deepfool import DeepFool
from mathguard.attacks.eot import EOT, RandomTransform
from mathguard.attacks.hopskipjump import HopSkipJump
from mathguard.attacks.linear import classifier_minimal_perturbation, minimal_perturbation
from mathguard.attacks.patch import Patch, PatchResult
from mathguard.attacks.pgd import FGSM, PGD
from mathguard.attacks.result import AttackResult
from mathguard.attacks.square import Square
from mathguard.attacks.transfer import TransferResult, transfer
from mathguard.attacks.universal import UniversalResult, universal_perturbation

__all__ = ["APGD", "Attack", "AttackResult", "CW", "DeepFool", "EOT", "FGSM", "HopSkipJump", "PGD", "Patch",
           "PatchResult", "RandomTransform", "Square", "ZeroOrderPGD", "TransferResult", "UniversalResult",
           "classifier_minimal_perturbation", "estimate_gradient", "minimal_perturbation", "transfer",
           "universal_perturbation"]
