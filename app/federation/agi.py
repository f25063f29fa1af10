"""AGI route of a peer's handoff arriving over a trunk: its order (adapter, I/O).

`peer_handoff` runs on the citizen's channel in `hotline-peer-in` once the
dialplan has checked the X-Hotline-Handoff header (core.trunks
HANDOFF_HEADER_PATTERN) and before the citizen joins the linkage queue.  It
reads what the header carried (the peer's handoff id = its order id, the
source centre, the handing seat, the peer's order number when sent), checks
each value again and that the call came over the trunk of that source
centre, and leaves the order to `FederationService.receive_call` — made now,
or merged into the one the peer's push made first — off the call's path
(`AgiRoutes.later`).  Whatever happens here, the call goes on to the queue.
"""
from __future__ import annotations

import logging
import re
from functools import partial

from agi.call import AgiCall
from agi.registry import AgiRoutes
from app.federation.services import FederationService, PeerCall
from core import channel_vars as cv
from core.safety import UnsafeValue, check_number
from core.settings import Settings

log = logging.getLogger(__name__)

_HANDOFF = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9._]{0,63}$")
_CENTRE = re.compile(r"^[0-9]{2,8}$")
_SEAT = re.compile(r"^[0-9]{1,32}$")
_ORDER = re.compile(r"^[-A-Za-z0-9]{1,40}$")
_CHANNEL = re.compile(r"^[A-Za-z0-9/@;:._\-]{1,128}$")
_LINKEDID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")

NAMES = (cv.PEER_HANDOFF, cv.FIRST_CENTRE, cv.PEER_SEAT, cv.PEER_ORDER, cv.CENTRE, cv.CITIZEN,
         "CHANNEL(endpoint)", "CHANNEL(linkedid)")


def peer_call(values: dict[str, str], channel: str, settings: Settings) -> PeerCall | str:
    """The call's facts, each checked; or why it is not believed."""
    handoff, src, seat, order = (values[n] for n in (cv.PEER_HANDOFF, cv.FIRST_CENTRE, cv.PEER_SEAT, cv.PEER_ORDER))
    centre, citizen, trunk, linkedid = (values[n] for n in (cv.CENTRE, cv.CITIZEN, "CHANNEL(endpoint)",
                                                            "CHANNEL(linkedid)"))
    if not _HANDOFF.match(handoff) or not _CENTRE.match(src) or not _SEAT.match(seat):
        return "handoff, src or seat malformed"
    if order and not _ORDER.match(order):
        return "order malformed"
    if centre not in settings.site.centre_ids:
        return f"centre {centre[:16]!r} not served here"
    expected = settings.trunks.trunk_of_centre(src)
    if expected is None or expected.name != trunk:
        return f"centre {src} is not reached over trunk {trunk[:32]!r}"
    try:
        check_number("citizen", citizen)
    except UnsafeValue as exc:
        return exc.reason
    return PeerCall(handoff_id=handoff, source_centre=src, seat=seat, order_number=order or None, centre=centre,
                    citizen=citizen, linkedid=linkedid if _LINKEDID.match(linkedid) else None,
                    channel=channel if _CHANNEL.match(channel) else None, trunk=trunk)


async def peer_handoff(call: AgiCall, service: FederationService, routes: AgiRoutes) -> None:
    """A peer's handoff came in over its trunk: record (or merge) its order, off the call's path."""
    packed = await call.read_function("|".join(f"${{{n}}}" for n in NAMES)) or ""
    values = dict(zip(NAMES, (packed.split("|") + [""] * len(NAMES))[:len(NAMES)], strict=True))
    channel = call.headers.get("agi_channel", "")
    checked = peer_call(values, channel, service.settings)
    if isinstance(checked, str):
        log.warning("peer handoff on %s not recorded: %s", channel, checked)
        return
    routes.later(service.receive_call(checked), f"order of peer handoff {checked.handoff_id}")


def register(routes: AgiRoutes, service: FederationService) -> None:
    routes.register("peer_handoff", partial(peer_handoff, service=service, routes=routes))
