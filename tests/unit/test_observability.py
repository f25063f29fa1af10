"""The operator's settings (log format, metrics address) and the JSON log lines."""
from __future__ import annotations

import io
import json
import logging
from datetime import UTC

import pytest

from app.runtime.logs import JsonFormatter, configure
from core import log_context
from core.settings import LogSettings, Settings, SettingsError


def test_when_log_format_is_json_or_text_then_settings_take_it() -> None:
    assert Settings.from_env({}).logging.format == "text"
    assert Settings.from_env({"HOTLINE_LOG_FORMAT": "JSON"}).logging.format == "json"


def test_when_log_format_is_unknown_then_settings_name_the_variable() -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"HOTLINE_LOG_FORMAT": "yaml"})
    assert err.value.name == "HOTLINE_LOG_FORMAT"


def test_when_metrics_port_is_unset_then_no_metrics_address() -> None:
    assert Settings.from_env({}).network.metrics_port is None
    network = Settings.from_env({"HOTLINE_METRICS_PORT": "9108", "HOTLINE_METRICS_HOST": "10.0.0.5"}).network
    assert (network.metrics_host, network.metrics_port) == ("10.0.0.5", 9108)


@pytest.mark.parametrize("bad", ["0", "70000", "metrics"])
def test_when_metrics_port_is_bad_then_settings_name_the_variable(bad: str) -> None:
    with pytest.raises(SettingsError) as err:
        Settings.from_env({"HOTLINE_METRICS_PORT": bad})
    assert err.value.name == "HOTLINE_METRICS_PORT"


def _json_line(emit: logging.Logger, message: str, *args: object, **kw: object) -> dict[str, object]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    emit.addHandler(handler)
    try:
        emit.warning(message, *args, **kw)  # type: ignore[arg-type]
    finally:
        emit.removeHandler(handler)
    return json.loads(stream.getvalue())


def test_when_fields_are_bound_then_json_line_carries_them() -> None:
    emit = logging.getLogger("test.observability")
    with log_context.bind(channel="Local/1001@hotline-seat-phones-0001;1", handoff_id="1764500000.42"):
        line = _json_line(emit, "handoff %s moved", "1764500000.42", extra={"order": "12345-20261130-0007",
                                                                           "seat": "1001"})
    assert line["message"] == "handoff 1764500000.42 moved"
    assert line["level"] == "WARNING" and line["logger"] == "test.observability"
    assert line["channel"] == "Local/1001@hotline-seat-phones-0001;1"
    assert line["handoff_id"] == "1764500000.42"
    assert line["order"] == "12345-20261130-0007" and line["seat"] == "1001"
    assert str(line["time"]).endswith("+00:00")
    # outside the block the fields are gone
    assert "channel" not in _json_line(emit, "later")


def test_when_a_line_has_chinese_text_or_an_exception_then_json_keeps_it() -> None:
    emit = logging.getLogger("test.observability")
    try:
        raise ValueError("坏了")
    except ValueError:
        line = _json_line(emit, "转接失败", exc_info=True)
    assert line["message"] == "转接失败"
    assert "ValueError: 坏了" in str(line["exc"])


def test_when_an_unknown_field_is_bound_then_refused() -> None:
    with pytest.raises(ValueError):
        with log_context.bind(citizen="13800138000"):
            pass


def test_when_configured_for_json_then_root_handler_writes_json() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure(LogSettings(level="INFO", format="json"))
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        configure(LogSettings(level="WARNING", format="text"))
        assert not isinstance(root.handlers[0].formatter, JsonFormatter)
        assert root.level == logging.WARNING
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


# ------------------------------------------------------------------ counting handoffs

def test_when_a_handoff_order_ends_then_it_is_counted_once_by_direction_and_outcome() -> None:
    from datetime import datetime, timedelta

    from prometheus_client import REGISTRY

    from app.metrics.collect import OrderMetrics
    from app.orders.services import OrderChange
    from app.runtime.models import Order

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    labels = {"mode": "transfer", "direction": "110->12345"}
    before = (value("hotline_handoffs_total", outcome="accepted", **labels),
              value("hotline_handoff_key_to_answer_seconds_count", **labels),
              value("hotline_handoffs_started_total", **labels))
    created = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    order = Order(mode="transfer", direction="110->12345", created_at=created,
                  accepted_at=created + timedelta(seconds=2), wait_ms=1800)
    metrics = OrderMetrics()
    metrics.committed(order, OrderChange(None, "pending", "system"))
    metrics.committed(order, OrderChange("pending", "accepted", "system"))
    metrics.committed(order, OrderChange("accepted", "dispatched", "seat:x"))  # not the call's outcome
    assert value("hotline_handoffs_started_total", **labels) == before[2] + 1
    assert value("hotline_handoffs_total", outcome="accepted", **labels) == before[0] + 1
    assert value("hotline_handoff_key_to_answer_seconds_count", **labels) == before[1] + 1
    assert value("hotline_handoff_key_to_answer_seconds_bucket", le="2.0", **labels) >= 1
    online = Order(mode="online", direction="web->12345", created_at=created)
    metrics.committed(online, OrderChange(None, "accepted", "seat:x"))
    assert value("hotline_handoffs_started_total", mode="online", direction="web->12345") == 0
