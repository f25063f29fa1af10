"""The Grafana dashboard in deploy/grafana shows only figures the product exports."""
from __future__ import annotations

import json
import re

from prometheus_client import REGISTRY

import agi.dispatch  # noqa: F401 - registers the FastAGI route metrics
import app.federation.refusals
import app.metrics.collect  # noqa: F401 - registers the rest
from core.settings import PROJECT_ROOT

DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "hotline-link.json"


def _exported() -> set[str]:
    names: set[str] = set()
    for metric in REGISTRY.collect():
        names.update(sample.name for sample in metric.samples)
        names.add(metric.name)
        if metric.type == "histogram":
            names.update(f"{metric.name}_{suffix}" for suffix in ("bucket", "count", "sum"))
        if metric.type == "counter":
            names.add(f"{metric.name}_total")
    return names


def test_every_panel_queries_a_metric_hotline_link_exports() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exported = _exported()
    used: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used.update(re.findall(r"\b((?:hotline|process)_[a-z_]+)\b", target["expr"]))
    assert used, "no metric in the dashboard"
    assert used <= exported, f"the dashboard asks for figures nobody exports: {sorted(used - exported)}"
    # and every figure of hotline-link's own is on some panel
    ours = {n for n in exported if n.startswith("hotline_") and not n.endswith(("_created", "_sum"))}
    shown = {re.sub(r"_(bucket|count|total)$", "", n) for n in used}
    missing = {n for n in ours if re.sub(r"_(bucket|count|total)$", "", n) not in shown}
    assert not missing, f"figures on no panel: {sorted(missing)}"
