"""The service's routes, one router per resource; ``create_app`` includes them all."""

from mathguard.monitor.routes import alerts, drift, events, models, runs, service

ROUTERS = (models.router, events.router, drift.router, alerts.router, runs.router, service.router)
