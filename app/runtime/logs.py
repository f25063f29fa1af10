"""Logging set-up for every `hotline` process: text or JSON lines (edge).

`HOTLINE_LOG_FORMAT=json` writes one JSON object a line: `time` (UTC, ISO
8601 with milliseconds), `level`, `logger`, `message` (the %-arguments
applied), the fields of `core.log_context` bound where the line was logged
or passed with `extra=` (`handoff_id`, `channel`, `seat`, `order`, `route`),
and `exc` with the traceback when there is one.  Text is the default.
"""
from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from core import log_context
from core.settings import LogSettings

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        out.update(log_context.current())
        for name in log_context.FIELDS:
            value = getattr(record, name, None)
            if value:
                out[name] = str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            out["exc"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False)


def configure(settings: LogSettings) -> None:
    """The root logger as `settings` say (replacing earlier handlers)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if settings.format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=settings.level, handlers=[handler], force=True)
