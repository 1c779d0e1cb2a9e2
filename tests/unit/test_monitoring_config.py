"""The monitoring files in deploy/ agree with the code: Prometheus scrapes every doudi HTTP process on
the port the service registry gives it, the alert rules the issue asks for exist, and every doudi metric
that the rules and the Grafana dashboard name is one shared/infra/metrics.py defines (a renamed metric
would silence an alert without a word)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

from shared.infra import metrics  # noqa: F401  # defines the doudi metrics in REGISTRY
from shared.services import FRONT_DOOR, SERVICES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC = re.compile(r"\bdoudi_[a-z_]+\b")


def defined_samples() -> set[str]:
    """Every sample name the doudi metrics expose (a counter's ``_total``, a histogram's ``_bucket``)."""
    # the registry's own index of sample names (prometheus_client has no public view of it)
    return {name for name in REGISTRY._names_to_collectors if name.startswith("doudi_")}  # noqa: SLF001


def test_prometheus_scrapes_every_http_service_on_its_port() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for service in (s for s in SERVICES if s.default_port is not None):
        sd = jobs[service.name]["dns_sd_configs"][0]
        assert sd["names"] == [service.name] and sd["port"] == service.default_port
        assert jobs[service.name].get("metrics_path", "/metrics") == "/metrics"
    assert FRONT_DOOR in jobs
    worker = next(s for s in SERVICES if s.metrics_port is not None)  # the workflow worker: Temporal SDK metrics
    compose = yaml.safe_load((DEPLOY.parent / "docker-compose.yml").read_text(encoding="utf-8"))
    container = next(name for name, c in compose["services"].items() if worker.module in c.get("command", []))
    assert compose["services"][container]["environment"]["DOUDI_METRICS_PORT"] == str(worker.metrics_port)
    sd = jobs[container]["dns_sd_configs"][0]
    assert sd["names"] == [container] and sd["port"] == worker.metrics_port


def test_the_alerts_the_issue_asks_for_exist_and_name_real_metrics() -> None:
    rules = {r["alert"]: r for g in yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text(
        encoding="utf-8"))["groups"] for r in g["rules"]}
    assert {"DoudiCasesStalled", "DoudiDeadLetters", "DoudiConsumerLag", "DoudiReserveBelowThreshold",
            "DoudiPaymentFailures"} <= set(rules)
    assert rules["DoudiCasesStalled"]["for"] == "10m" and "doudi_cases_stalled" in rules["DoudiCasesStalled"]["expr"]
    assert "> 0" in rules["DoudiDeadLetters"]["expr"]
    known = defined_samples()
    for name, rule in rules.items():
        used = set(METRIC.findall(rule["expr"]))
        assert used - known == set(), f"{name} uses undefined metrics {used - known}"


def test_the_dashboard_names_real_metrics_and_the_provisioned_datasource() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "doudi.json").read_text(encoding="utf-8"))
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
                                .read_text(encoding="utf-8"))["datasources"][0]
    known = defined_samples()
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
    for expr in exprs:
        assert set(METRIC.findall(expr)) - known == set(), expr
    used = {m for e in exprs for m in METRIC.findall(e)}
    assert {"doudi_cases", "doudi_consumer_pending", "doudi_reserve_balance_fen", "doudi_ledger_amount_fen",
            "doudi_http_requests_total"} <= used
