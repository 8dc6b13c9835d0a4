"""The whole-model audit: every applicable lens, a scorecard, a budget and one gate.

>>> rep = mg.audit(clf, train=(X_tr, y_tr), test=(X_te, y_te), config="mathguard.toml")
>>> rep.metrics["scorecard"]      # lens -> status, worst finding, key number
"""

from mathguard.auditor.config import LENSES, TEMPLATE, AuditConfig, load_config
from mathguard.auditor.run import audit
from mathguard.report.scorecard import junit_xml

__all__ = ["LENSES", "TEMPLATE", "AuditConfig", "audit", "junit_xml", "load_config"]
