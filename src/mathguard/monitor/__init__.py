"""Monitoring service and client: prediction logs in, drift / entropy / accuracy per window out, alerts.

>>> client = mg.monitor.Client("http://127.0.0.1:8800", token, model="fraud")
>>> client.log(features, proba, labels=None)     # batched, retried, spooled to disk until acknowledged

The server (``mathguard serve``) is ``create_app(Settings(...))``; it needs the ``monitor`` extra.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {"Client": "mathguard.monitor.client", "Settings": "mathguard.monitor.config",
         "Store": "mathguard.monitor.store", "create_app": "mathguard.monitor.app"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mathguard.monitor' has no attribute {name!r}")


__all__ = sorted(_LAZY)
