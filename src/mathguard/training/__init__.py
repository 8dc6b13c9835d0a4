"""Calculus lens: watch training through its gradients."""

from mathguard.training.monitor import History, Monitor

__all__ = ["History", "Monitor"]
