"""The DTMF feature keys a seat presses in a call: the one list, and the prefix rule (pure).

Asterisk matches a seat's digits against all of its channel's feature keys at
once (main/bridge_channel.c `ast_bridge_channel_feature_digit`: a partial-key
lookup in a sorted list).  When one key is a prefix of another — `*0` and
`*0*` — the lookup stops at the shorter one, which fires at once: the longer
can never fire.  (Were the longer found first, Asterisk would wait
`featuredigittimeout` for more digits and then pass them to the citizen: the
shorter would never fire.)  So the keys of every feature that can be active
on a seat's leg must be pairwise prefix-free.

The features are: the handoff keys (`*1`, `*8`; core/settings.py
HandoffSettings), Asterisk's built-in `featuremap` keys
(asterisk-conf/features.conf.j2: `BUILTIN_FEATURE_KEYS` must list what it
sets), and the three-way call's keys (ThreeWaySettings; their defaults are
`THREE_WAY_KEYS`).  `check_feature_keys` is the one check of them all: the
settings call it.  Nothing here does I/O.
"""
from __future__ import annotations

from collections.abc import Mapping
from itertools import combinations

# Asterisk's built-in features that features.conf.j2's [featuremap] enables.
# Kept for the transfer benchmark's comparison (blind transfer) and the seats'
# consultative transfer.  No `disconnect`: a seat hangs up with its phone.
BUILTIN_FEATURE_KEYS: dict[str, str] = {
    "blindxfer": "#1",
    "atxfer": "#2",
}

# Three-way call (三方通话, issue 4): start it, leave and hand over, cancel,
# mark the case as endangering life or property.  The defaults of
# ThreeWaySettings; the names are the features' names in check_feature_keys.
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


class FeatureKeyError(ValueError):
    """A feature key that cannot be used; `feature` names it."""

    def __init__(self, feature: str, reason: str) -> None:
        super().__init__(f"{feature} key: {reason}")
        self.feature = feature
        self.reason = reason


def check_feature_keys(keys: Mapping[str, str]) -> None:
    """Check every feature key a seat's leg may carry (feature name -> key).

    Each key must be 1-4 of `0-9 * #` and must neither equal nor be a prefix
    of, nor extend, a key listed before it.  The first key that fails is
    blamed: list fixed keys (Asterisk's `BUILTIN_FEATURE_KEYS`) first, so a
    configurable key is blamed for a clash with one.  Raises FeatureKeyError.
    """
    earlier: dict[str, str] = {}
    for feature, key in keys.items():
        if not is_feature_key(key):
            raise FeatureKeyError(feature, f"{key!r}: expected 1-4 of 0-9 * #")
        for other, other_key in earlier.items():
            if key.startswith(other_key) or other_key.startswith(key):
                raise FeatureKeyError(feature, f"{key!r} clashes with the {other} key {other_key!r} "
                                               "(equal, or one is a prefix of the other)")
        earlier[feature] = key


def prefix_conflicts(keys: Mapping[str, str]) -> list[tuple[str, str]]:
    """Pairs of feature names whose keys clash: equal, or one a prefix of the
    other (see the module docstring).  Empty: every key can fire."""
    return [(a, b) for (a, ka), (b, kb) in combinations(keys.items(), 2)
            if ka.startswith(kb) or kb.startswith(ka)]
