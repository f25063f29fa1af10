"""Wiring of the inbound call: a citizen's call reaching a centre's queue."""
from __future__ import annotations

from typing import TYPE_CHECKING

from app.inbound import agi

if TYPE_CHECKING:
    from app.runtime.features import Dependencies

ROUTES: tuple = ()
WEB_CONTEXTS: tuple = ()
ON_SHUTDOWN: tuple = ()


def setup(deps: Dependencies) -> None:
    if deps.agi is not None:
        agi.register(deps.agi, deps.settings)
