"""The DTMF feature keys a seat presses in a call: the one list, and the prefix rule (pure).

Asterisk matches a seat's digits against all of its channel's feature keys at
once (main/bridge_channel.c `ast_bridge_channel_feature_digit`: a partial-key
lookup in a sorted list).  When one key is a prefix of another — `*0` and
`*0*` — the lookup stops at the shorter one, which fires at once: the longer
can never fire.  (Were the longer found first, Asterisk would wait
`featuredigittimeout` for more digits and then pass them to the citizen: the
shorter would never fire.)  So the keys of every feature that can be active
on a seat's leg must be pairwise prefix-free.

The features are: our transfer keys (settings), Asterisk's built-in
`featuremap` keys (asterisk-conf/features.conf.j2: `BUILTIN_FEATURE_KEYS`
must list what it sets), and the three-way call's keys (issue 4), reserved
here with their defaults until its settings exist.  Nothing here does I/O.
"""
from __future__ import annotations

from itertools import combinations
from typing import Mapping

# Asterisk's built-in features that features.conf.j2's [featuremap] enables.
# Kept for the transfer benchmark's comparison (blind transfer) and the seats'
# consultative transfer.  No `disconnect`: a seat hangs up with its phone.
BUILTIN_FEATURE_KEYS: dict[str, str] = {
    "blindxfer": "#1",
    "atxfer": "#2",
}

# Three-way call (三方通话, issue 4): start it, leave and hand over, cancel,
# mark the case as endangering life or property.  Reserved with the issue's
# defaults: no other feature may take them or a key they are a prefix of.
THREE_WAY_KEYS: dict[str, str] = {
    "three_way_start": "*2",
    "three_way_leave": "*3",
    "three_way_cancel": "*0",
    "emergency_mark": "*9",
}

DTMF_KEY_CHARS = "0123456789*#"


def is_feature_key(key: str) -> bool:
    """1 to 4 DTMF digits (`0-9 * #`)."""
    return 1 <= len(key) <= 4 and all(c in DTMF_KEY_CHARS for c in key)


def prefix_conflicts(keys: Mapping[str, str]) -> list[tuple[str, str]]:
    """Pairs of feature names whose keys clash: equal, or one a prefix of the
    other (see the module docstring).  Empty: every key can fire."""
    return [(a, b) for (a, ka), (b, kb) in combinations(keys.items(), 2)
            if ka.startswith(kb) or kb.startswith(ka)]
