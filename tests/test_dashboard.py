"""The chart's Grafana dashboard queries only metrics the processes export, and shows them all."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import backend.core.metrics  # noqa: F401  (Levier's metrics, registered)

DASHBOARD = Path(__file__).parent.parent / "helm" / "levier" / "dashboards" / "levier.json"
SUFFIXES = ("", "_total", "_bucket", "_count", "_sum")


def _exported() -> dict[str, set[str]]:
    """Levier's metric families and the series names each exposes."""
    families: dict[str, set[str]] = {}
    for family in REGISTRY.collect():
        if family.name.startswith("levier_"):
            families[family.name] = {family.name + suffix for suffix in SUFFIXES}
    return families


def _queried() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    assert expressions
    return {name for expr in expressions for name in re.findall(r"\blevier_[a-z_]+", expr)}


def test_the_dashboard_queries_only_exported_metrics() -> None:
    exported = set().union(*_exported().values())
    assert _queried() - exported == set()


def test_every_levier_metric_is_on_the_dashboard() -> None:
    queried = _queried()
    missing = [family for family, names in _exported().items() if not names & queried]
    assert missing == []
