"""How many refused federation requests are written down (I/O-free, in memory).

A refused request (unknown peer, unsigned, outside the time window, a bad
signature, a replayed nonce) comes from someone not proven to be a peer, so
it must not cost the platform a database write each: a flood of them would
fill the audit log (`FederationExchange`) and the warning log as fast as it
arrives.  Every refusal is still answered 401 and counted in
`hotline_federation_refused_total{reason}`; an audit line and a warning are
written for the first ones only, per client address (`PER_ADDRESS`) and in
all (`IN_ALL`), by the `limits` library's moving windows.  The next line
written for an address says how many of its refusals were not
(`RefusalAudit.admit`).
"""
from __future__ import annotations

from collections import Counter

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from prometheus_client import Counter as Metric

PER_ADDRESS = "10/minute"
IN_ALL = "60/minute"
# addresses whose unwritten refusals are counted one by one; past that, together
MAX_ADDRESSES = 10_000
OTHERS = "*"

# the categories of `reason_of` (fixed strings: labels of the metric)
REASONS = ("unknown_peer", "unsigned", "timestamp", "nonce", "bad_signature", "replayed")

# Prometheus (prometheus_client's default registry; app.metrics serves it)
REFUSED = Metric("hotline_federation_refused", "Federation requests refused (401) before reaching the API, by reason",
                 ["reason"])
for _reason in REASONS:
    REFUSED.labels(_reason)  # every reason shown from the start, at 0


def reason_of(why: str) -> str:
    """The category of a refusal's text (as `app.federation.http` words it)."""
    if why.startswith("unknown peer"):
        return "unknown_peer"
    if why.startswith("unsigned"):
        return "unsigned"
    if why.startswith("timestamp"):
        return "timestamp"
    if why.startswith("nonce already used"):
        return "replayed"
    if why.startswith("nonce"):
        return "nonce"
    return "bad_signature"


class RefusalAudit:
    """Which refused requests get an audit line: at most `per_address` per
    client address and `in_all` altogether, in moving windows (`limits`
    notation: "10/minute")."""

    def __init__(self, per_address: str = PER_ADDRESS, in_all: str = IN_ALL) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_address: RateLimitItem = parse(per_address)
        self._in_all: RateLimitItem = parse(in_all)
        self._unwritten: Counter[str] = Counter()

    def admit(self, address: str, why: str) -> int | None:
        """Count the refusal `why` from `address`.  None: write nothing for
        it.  Else write it, noting the returned number of this address's
        refusals that were not written since its last line."""
        REFUSED.labels(reason_of(why)).inc()
        if not (self._limiter.test(self._per_address, "address", address)
                and self._limiter.hit(self._in_all, "all")):
            key = address if address in self._unwritten or len(self._unwritten) < MAX_ADDRESSES else OTHERS
            self._unwritten[key] += 1
            return None
        self._limiter.hit(self._per_address, "address", address)
        return self._unwritten.pop(address, 0)

    @property
    def unwritten(self) -> int:
        """Refusals not written down, not yet noted on a later line."""
        return sum(self._unwritten.values())
