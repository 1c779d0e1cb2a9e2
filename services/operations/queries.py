"""The dashboard's read-model queries live in ``store`` with every other statement of the service; this
name stays only for ``dashboard.py``'s import until that module reads ``store`` itself."""

from services.operations.store import ATTENTION_FLAGS, attention_cases, dashboard_counts, payments_per_day

__all__ = ["ATTENTION_FLAGS", "attention_cases", "dashboard_counts", "payments_per_day"]
