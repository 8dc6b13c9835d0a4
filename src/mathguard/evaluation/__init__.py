"""The probability & statistics lens: is an improvement real, is a model calibrated, where does error come from.

>>> cmp = mg.evaluation.compare(y_true, pred_a, pred_b, metric="accuracy")
>>> cmp.p_value, cmp.ci, cmp.effect, cmp.verdict
>>> cal = mg.evaluation.calibration(y_true, proba); cal.ece, cal.ece_equal_mass, cal.brier, cal.nll
"""

from mathguard.evaluation.abtest import ABTest, ab_test, sample_size
from mathguard.evaluation.bias_variance import BiasVariance, bias_variance, bias_variance_curve
from mathguard.evaluation.bootstrap import BootstrapResult, paired_bootstrap
from mathguard.evaluation.calibration import Calibration, Temperature, calibration, fit_temperature, reliability
from mathguard.evaluation.crossval import CVComparison, compare_cv
from mathguard.evaluation.paired import Comparison, McNemar, compare, compare_many, holm, mcnemar

__all__ = ["ABTest", "BiasVariance", "BootstrapResult", "CVComparison", "Calibration", "Comparison", "McNemar",
           "Temperature", "ab_test", "bias_variance", "bias_variance_curve", "calibration", "compare",
           "compare_cv", "compare_many", "fit_temperature", "holm", "mcnemar", "paired_bootstrap",
           "reliability", "sample_size"]
