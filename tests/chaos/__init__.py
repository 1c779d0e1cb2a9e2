"""Fault injection: an event storm while processes are SIGKILLed and restarted at random.

``python -m tests.chaos --events N --seconds S --seed K`` (``make chaos``) runs it on its own embedded
stack; ``tests/integration/test_chaos.py`` runs a small storm of the same code in the suite.
"""

from tests.chaos.storm import ChaosReport, PlannedEvent, plan_events, run_chaos

__all__ = ["ChaosReport", "PlannedEvent", "plan_events", "run_chaos"]
