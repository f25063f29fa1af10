"""The product's dialplan contexts as one namespace (pure).

Every context the dialplan templates (`dialplan/`) define is named `hotline-…`:
the prefix is the product's namespace in Asterisk's dialplan, and
`tests/unit/test_contexts.py` checks that every context in the templates
keeps it, so a rule written against the prefix covers the contexts added
later as well as today's.

Two kinds of context live in the namespace:

* the call flow — everything a citizen's call, a seat's leg or a key runs
  through (`hotline-inbound`, the queues' member legs, the transfer and
  three-way contexts, the AGI wrapper...).  Entering one of these from
  outside starts hotline logic: a queue, an AGI route, a key's handling;
* the simulated phones — contexts that stand for telephones in the test rig
  and the demo (`SIMULATED_PHONES`): a call there rings "a person" and runs
  no hotline logic.
"""
from __future__ import annotations

PREFIX = "hotline-"

# Each context stands for telephones: the seats' and remote seats' handsets
# (`Local/<extension>@hotline-seat-phones`), a catalogue destination (120,
# 119, ...) and the citizen's handset.
SIMULATED_PHONES: frozenset[str] = frozenset({
    "hotline-seat-phones", "hotline-destination-phone", "hotline-citizen-phone",
})


# The configured seats as extension patterns (core.centres.extension_patterns):
# the handoff key's "a seat of ours", asked with DIALPLAN_EXISTS — a few lines
# for 2,000 seats, where a global per seat made Asterisk's global variable
# list (searched one by one on every ${...} of a global) as long as the seats.
KNOWN_SEATS = "hotline-known-seats"


def is_call_flow(context: str) -> bool:
    """True for a context of the product's own call flow: any `hotline-`
    context but the simulated phones.

    Compared without regard to case, so the answer does not depend on how
    Asterisk matches context names: refusing `Hotline-Inbound` costs nothing.
    """
    name = context.lower()
    return name.startswith(PREFIX) and name not in SIMULATED_PHONES
