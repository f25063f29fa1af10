"""Channel variables shared by the dialplan and Python — the one list (pure).

The dialplan templates (`dialplan/*.conf`) read and write exactly these names;
`tests/unit/test_dialplan_vocabulary.py` checks every `${HOTLINE_...}` the dialplan
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
# Set by the entry context when the caller ID is not a number: what was
# presented, URI-escaped (HOTLINE_CITIZEN is then empty), for the order's audit.
CITIZEN_PRESENTED = "HOTLINE_CITIZEN_PRESENTED"
# Written by the `inbound` AGI route: the queue the call waits in.
QUEUE = "HOTLINE_QUEUE"
# Written by AGI routes: OK when the route decided, else the dialplan's safe path.
ROUTE_STATUS = "HOTLINE_ROUTE_STATUS"
# Correlation key of a handoff, inherited and carried in SIP X- headers.
HANDOFF_ID = "HOTLINE_HANDOFF_ID"
# The handoff (一键携号转接, core/handoff.py): the handoff key `*1` / the
# destination key `*8`, or the desktop button.  Written by the `handoff_key`
# route on the seat's leg: OK when the citizen is to be moved, else the
# refusal's prompt.
HANDOFF_STATUS = "HOTLINE_HANDOFF_STATUS"
HANDOFF_PROMPT = "HOTLINE_HANDOFF_PROMPT"
# ...and why it refused (core.handoff Refusal.reason: no_citizen, own_centre, ...).
HANDOFF_REFUSAL = "HOTLINE_HANDOFF_REFUSAL"
# Global, rendered from settings.handoff.fast_path: "yes" when the dialplan
# carries out the common handoff itself (hotline-handoff-key, core/fast_path.py).
HANDOFF_FAST = "HOTLINE_HANDOFF_FAST"
# Globals rendered per centre (prefix + centre id) for that path: the partner
# centre (core.handoff.partner_id: here or on another platform), its linkage
# queue (empty for a remote partner), the release mode.
HANDOFF_PARTNER_PREFIX = "HOTLINE_HANDOFF_PARTNER_"
HANDOFF_PARTNER_QUEUE_PREFIX = "HOTLINE_HANDOFF_PARTNER_QUEUE_"
# ...and what says the partner is ready, read through (`${${...}}`, core/fast_path.py):
# a local partner's QUEUE_MEMBER(<linkage queue>,logged), a remote one's HOTLINE_HANDOFF_REMOTE_READY (1)
HANDOFF_PARTNER_READY_PREFIX = "HOTLINE_HANDOFF_PARTNER_READY_"
HANDOFF_REMOTE_READY = "HOTLINE_HANDOFF_REMOTE_READY"
HANDOFF_RELEASE_PREFIX = "HOTLINE_HANDOFF_RELEASE_"
# The handoff's target on the seat's leg: the destination dialled after the
# destination key (empty: the partner centre); on the fast path, the partner.
HANDOFF_TARGET = "HOTLINE_HANDOFF_TARGET"
# The citizen's leg as the key saw it (BRIDGEPEER when the key was pressed).
HANDOFF_PEER = "HOTLINE_HANDOFF_PEER"
# The fast path's outbox record as the key saw it (core/fast_path.py), on the
# seat's leg: built before the citizen moves, written to AstDB right after.
HANDOFF_RECORD = "HOTLINE_HANDOFF_RECORD"
# on_answer (成功转) or immediate (释放转), for the transferring seat's leg.
RELEASE_MODE = "HOTLINE_RELEASE_MODE"
# On the key's seat leg once it has written the order's record, state and call
# guard to AstDB (core/fast_path.py TO_ASTDB): its hangup handler, pushed at
# the move, writes them when it is not set (the leg hung up first).
HANDOFF_WRITTEN = "HOTLINE_HANDOFF_WRITTEN"
# The pause (a global, seconds) between the key's move and its writes: the
# citizen's way to the target first (core/settings.py HandoffSettings.yield_ms).
HANDOFF_YIELD = "HOTLINE_HANDOFF_YIELD"
# Set on the citizen's channel before it is moved into hotline-handoff:
HANDOFF_QUEUE = "HOTLINE_HANDOFF_QUEUE"      # the target centre's linkage queue, or empty
HANDOFF_DIAL = "HOTLINE_HANDOFF_DIAL"        # a catalogue destination's route, or empty
HANDOFF_HEADER = "HOTLINE_HANDOFF_HEADER"    # X-Hotline-Handoff's value over a peer trunk, or unset
PEER_HANDOFF = "HOTLINE_PEER_HANDOFF"        # on the receiving platform: the peer's handoff id (checked)
PEER_SEAT = "HOTLINE_PEER_SEAT"              # on the receiving platform: the seat that handed over (checked)
# on the receiving platform, inherited: the sending platform's order number (X-Hotline-Handoff order=,
# checked; empty when the header carried none) — the federation layer keys on it with PEER_HANDOFF
PEER_ORDER = "HOTLINE_PEER_ORDER"
HANDOFF_TIMEOUT = "HOTLINE_HANDOFF_TIMEOUT"  # no-answer limit (s); also a global, rendered
RETURN_CENTRE = "HOTLINE_RETURN_CENTRE"      # where the citizen goes back to
RETURN_SEAT = "HOTLINE_RETURN_SEAT"          # the seat that handed it over (both paths set it)
# The citizen's return path (hotline-handoff, back) rings that seat again:
# its dial string and its device (is it free?), rendered from core.handoff.seat_interfaces.
RETURN_DIAL = "HOTLINE_RETURN_DIAL"
RETURN_DEVICE = "HOTLINE_RETURN_DEVICE"
# Queue/Dial result that ended the wait (for the order's outcome_reason).
HANDOFF_OUTCOME = "HOTLINE_HANDOFF_OUTCOME"
# The handoff's AstDB state, read into the citizen's channel when it hangs up.
HANDOFF_STATE = "HOTLINE_HANDOFF_STATE"
# On the citizen, set by the AMI journal (AMI Setvar, never a dialplan or a
# SIP header): the handoff id whose acceptance its order records.  The
# citizen's hangup then skips the `handoff_ended` route for that handoff
# when it ends accepted: nothing would be left for the route to write.
HANDOFF_RECORDED = "HOTLINE_HANDOFF_RECORDED"
# The handoff a seat leg moved by AMI waits for (desktop button, 成功转).
HOLD_ID = "HOTLINE_HOLD_ID"
# On the citizen (inherited by the legs it rings): the seat leg waiting on hold
# for its handoff (成功转), which the answer, the return or the hangup wakes
# (ChannelRedirect; dialplan/hotline-handoff.conf.j2 hotline-handoff-hold).
HOLD_CHANNEL = "HOTLINE_HOLD_CHANNEL"
# On a seat's leg: the facts of the leg and its peer that the handoff
# journal found to pass the key's guard when a queue's seat answered,
# URI-encoded (core/fast_path.py CHECKED_FACTS): the key's first step tests
# those parts of its guard as one comparison.
KEY_CHECKED = "HOTLINE_KEY_CHECKED"
# Three-way call (core/threeway.py).  Set on each party's channel by the
# service before it moves: the call's id (the order id), the party's role
# (citizen / initiator / invited), the conference; on the initiator, the
# citizen's channel; on the Local channel ringing the other centre, the
# linkage queue and the no-answer limit (s).
THREEWAY_ID = "HOTLINE_THREEWAY_ID"
THREEWAY_ROLE = "HOTLINE_THREEWAY_ROLE"
THREEWAY_CONF = "HOTLINE_THREEWAY_CONF"
THREEWAY_PEER = "HOTLINE_THREEWAY_PEER"
THREEWAY_QUEUE = "HOTLINE_THREEWAY_QUEUE"
THREEWAY_DIAL = "HOTLINE_THREEWAY_DIAL"      # a remote centre over its peer trunk, or empty
THREEWAY_HEADER = "HOTLINE_THREEWAY_HEADER"  # X-Hotline-Handoff's value over that trunk, or empty
THREEWAY_TIMEOUT = "HOTLINE_THREEWAY_TIMEOUT"
# The initiator's leg while the other centre rings, on the citizen's channel
# and (inherited) on the Local channel ringing the other centre, so the
# answering seat's leg carries it too: whoever changes the call's phase (an
# answer, no answer, the citizen's hangup) wakes that leg with ChannelRedirect
# (dialplan/hotline-threeway.conf.j2 hotline-threeway-seat).
THREEWAY_INITIATOR = "HOTLINE_THREEWAY_INITIATOR"
# On that leg once woken because the citizen hung up (`gone`): its own hangup
# then is no leaving; without it, a hangup while it waits is the seat leaving.
THREEWAY_WOKEN = "HOTLINE_THREEWAY_WOKEN"
# The call's AstDB phase as the citizen's hangup found it (`joined`: a seat
# answered, whether or not Python has recorded that answer yet).
THREEWAY_PHASE = "HOTLINE_THREEWAY_PHASE"
# Written by the three-way routes: OK, or the refusal's prompt.
THREEWAY_STATUS = "HOTLINE_THREEWAY_STATUS"
THREEWAY_PROMPT = "HOTLINE_THREEWAY_PROMPT"
# Globals rendered from settings.
AGI_URL = "HOTLINE_AGI_URL"
# "fast" (FastAGI server) or "classic" (agi-bin script per call)
AGI_MODE = "HOTLINE_AGI_MODE"
QUEUE_TIMEOUT = "HOTLINE_QUEUE_TIMEOUT"
# The seat's extension, on a seat's leg: a SIP seat's endpoint sets it
# (pjsip.conf set_var), a simulated phone sets it on its queue member leg
# (the test rig).  The handoff key's fast path reads it (core/fast_path.py).
SEAT = "HOTLINE_SEAT"
# Seats pausing (示忙, core/seats.py), globals rendered from settings.seats:
# the reason a bare pause key gives, and one per code (prefix + code = the
# reason's name).
PAUSE_DEFAULT = "HOTLINE_PAUSE_DEFAULT"
PAUSE_REASON_PREFIX = "HOTLINE_PAUSE_REASON_"


ALL = frozenset(
    v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, str) and v.startswith("HOTLINE_")
)
