"""Calculus lens: watch training through its gradients, and look at the weights it produced."""

from mathguard.training.monitor import ActivationProbe, History, Monitor
from mathguard.training.weights import inspect, layer_spectrum

__all__ = ["ActivationProbe", "History", "Monitor", "inspect", "layer_spectrum"]
