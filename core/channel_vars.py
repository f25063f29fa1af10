"""Channel variables shared by the dialplan and Python — the one list (pure).

The dialplan templates (`dialplan/*.conf`) read and write exactly these names;
`tests/unit/test_channel_vars.py` checks every `${HOTLINE_...}` the dialplan
uses is defined here.  A leading `__` in the dialplan makes a variable
inherited by every channel the call creates (queue member legs, transfers).
"""
from __future__ import annotations

# Set by the entry context, inherited: the centre the citizen dialled.
CENTRE = "HOTLINE_CENTRE"
# Set by the entry context, inherited: the centre that first received the call
# (首接负责: it accepts the case when the centres cannot agree).
FIRST_CENTRE = "HOTLINE_FIRST_CENTRE"
# Set by the entry context, inherited: the citizen's own number, kept apart from
# CALLERID so no transfer or connected-line update can lose it.
CITIZEN = "HOTLINE_CITIZEN"
# Written by the `inbound` AGI route: the queue the call waits in.
QUEUE = "HOTLINE_QUEUE"
# Written by AGI routes: OK when the route decided, else the dialplan's safe path.
ROUTE_STATUS = "HOTLINE_ROUTE_STATUS"
# Correlation key of a handoff, inherited and carried in SIP X- headers.
HANDOFF_ID = "HOTLINE_HANDOFF_ID"
# Globals rendered from settings.
AGI_URL = "HOTLINE_AGI_URL"
# "fast" (FastAGI server) or "classic" (agi-bin script per call)
AGI_MODE = "HOTLINE_AGI_MODE"
QUEUE_TIMEOUT = "HOTLINE_QUEUE_TIMEOUT"
# Seat-phone simulator (demo/tests): what the phone did and saw.
SEAT = "HOTLINE_SEAT"

ALL = frozenset(
    v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, str) and v.startswith("HOTLINE_")
)
