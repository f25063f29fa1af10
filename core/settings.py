"""Typed settings, read once per process from environment variables (pure).

`Settings.from_env(os.environ)` is called at the edge (the CLI); everything
else receives the object explicitly.  A bad value fails loudly with the
variable's name.  Every variable is documented in `.env.example`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from core.catalogue import JURISDICTIONS
from core.centres import Centre, SeatMode, parse_centres
from core.feature_keys import (
    BUILTIN_FEATURE_KEYS,
    THREE_WAY_KEYS,
    is_feature_key,
    prefix_conflicts,
)
from core.handoff import parse_release_modes, parse_routes
from core.safety import UnsafeValue, check_line, check_token
from core.sla import TimeLimits, parse_limits

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting has a bad value; `name` is the environment variable."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"setting {name}: {reason}")
        self.name = name
        self.reason = reason


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hotline-link"


@dataclass(frozen=True)
class Settings:
    centres: tuple[Centre, ...]
    seat_mode: SeatMode = "sip"
    state_dir: Path = PROJECT_ROOT / "var"
    asterisk_prefix: Path = field(default_factory=lambda: _default_cache() / "asterisk-current")
    bind_host: str = "127.0.0.1"
    sip_port: int = 5060
    rtp_start: int = 10000
    rtp_end: int = 10999
    ami_port: int = 5038
    ami_user: str = "hotline"
    ami_secret: str | None = None  # None: generated once into state_dir/secrets.json
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "hotline:"
    database_url: str | None = None  # None: SQLite file in state_dir
    queue_timeout_s: int = 300
    transfer_key: str = "*1"
    # One-key transfer (core/handoff.py): the key followed by digits sends the
    # citizen to a catalogue destination; how long a handoff may ring before
    # the citizen comes back; 成功转/释放转 per centre; routes per destination.
    transfer_to_key: str = "*8"
    transfer_timeout_s: int = 30
    release_modes: dict[str, str] = field(default_factory=dict)
    # The common transfer (partner centre, a citizen on the call, a seat
    # logged in there) decided in dialplan and recorded through the AstDB
    # outbox, without waiting for Python (core/handoff.py OutboxRecord).
    # Off: every key press asks the `transfer_key` AGI route first.
    transfer_fast_path: bool = True
    destination_routes: dict[str, str] = field(default_factory=dict)
    # Three-way call (三方通话, core/threeway.py): the start key (two-party
    # call, features.conf), the keys inside the conference (ConfBridge menu:
    # leave and hand over, cancel, mark as endangering life or property),
    # and how long the other centre may ring before the citizen comes back.
    threeway_start_key: str = THREE_WAY_KEYS["three_way_start"]
    threeway_leave_key: str = THREE_WAY_KEYS["three_way_leave"]
    threeway_cancel_key: str = THREE_WAY_KEYS["three_way_cancel"]
    emergency_key: str = THREE_WAY_KEYS["emergency_mark"]
    threeway_timeout_s: int = 30
    log_level: str = "INFO"
    # Work orders: the diversion catalogue this deployment follows, the
    # per-class time limits, how often overdue orders are looked for, and
    # which roles see citizens' numbers unmasked (保护隐私).
    jurisdiction: str = "qinzhou"
    time_limits: TimeLimits = field(default_factory=TimeLimits)
    overdue_check_s: float = 30.0
    unmasked_roles: frozenset[str] = frozenset({"seat", "supervisor"})
    # Remote-seat overflow (core/overflow.py): how often the surge detector
    # looks at the live state, how long a threshold must hold before a
    # group opens, and how long all must stay clear before it closes.
    overflow_check_s: float = 1.0
    overflow_open_after_s: float = 2.0
    overflow_clear_after_s: float = 30.0

    @property
    def run_dir(self) -> Path:
        """Where the rendered Asterisk configuration and its sockets live."""
        return self.state_dir / "asterisk"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.state_dir / 'hotline.db'}"

    @property
    def feature_keys(self) -> dict[str, str]:
        """Every DTMF feature key a seat's leg may carry: feature name -> key."""
        return {"transfer": self.transfer_key, "transfer_to": self.transfer_to_key,
                **BUILTIN_FEATURE_KEYS, **self.threeway_keys}

    @property
    def threeway_keys(self) -> dict[str, str]:
        """The three-way call's keys, named as in core.feature_keys.THREE_WAY_KEYS."""
        return {"three_way_start": self.threeway_start_key, "three_way_leave": self.threeway_leave_key,
                "three_way_cancel": self.threeway_cancel_key, "emergency_mark": self.emergency_key}

    @property
    def agi_url(self) -> str:
        return f"agi://{self.agi_host}:{self.agi_port}"

    def with_(self, **changes: object) -> "Settings":
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        def get(name: str, default: str) -> str:
            value = env.get(name, "")
            value = value if value != "" else default
            try:
                return check_line(name, value, max_len=1024)
            except UnsafeValue as exc:
                raise SettingsError(name, exc.reason) from None

        def port(name: str, default: int) -> int:
            raw = get(name, str(default))
            if not raw.isdigit() or not 1 <= int(raw) <= 65535:
                raise SettingsError(name, f"{raw!r} is not a TCP/UDP port (1-65535)")
            return int(raw)

        def flag(name: str, default: bool) -> bool:
            raw = get(name, "yes" if default else "no").lower()
            if raw not in ("yes", "no", "true", "false", "1", "0"):
                raise SettingsError(name, f"{raw!r}: expected yes or no")
            return raw in ("yes", "true", "1")

        def positive(name: str, default: int, maximum: int) -> int:
            raw = get(name, str(default))
            if not raw.isdigit() or not 1 <= int(raw) <= maximum:
                raise SettingsError(name, f"{raw!r} must be a whole number from 1 to {maximum}")
            return int(raw)

        try:
            centres = parse_centres(get("HOTLINE_CENTRES", "12345:1001-1004;110:2001-2002"))
        except UnsafeValue as exc:
            raise SettingsError("HOTLINE_CENTRES", exc.reason) from None

        seat_mode = get("HOTLINE_SEAT_MODE", "sip")
        if seat_mode not in ("sip", "simulated"):
            raise SettingsError("HOTLINE_SEAT_MODE", f"{seat_mode!r}: expected 'sip' or 'simulated'")

        rtp = get("HOTLINE_RTP_PORTS", "10000-10999")
        try:
            rtp_start, rtp_end = (int(x) for x in rtp.split("-", 1))
            if not 1024 <= rtp_start < rtp_end <= 65535:
                raise ValueError
        except ValueError:
            raise SettingsError("HOTLINE_RTP_PORTS", f"{rtp!r}: expected LOW-HIGH between 1024 and 65535") from None

        redis_url = get("HOTLINE_REDIS_URL", "redis://127.0.0.1:6379/0")
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("HOTLINE_REDIS_URL", "must start with redis://, rediss:// or unix://")
        db_url = env.get("HOTLINE_DATABASE_URL") or None
        if db_url is not None:
            get("HOTLINE_DATABASE_URL", db_url)
            if not db_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
                raise SettingsError("HOTLINE_DATABASE_URL",
                                    "must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        ami_user = get("HOTLINE_AMI_USER", "hotline")
        try:
            check_token("HOTLINE_AMI_USER", ami_user)
        except UnsafeValue as exc:
            raise SettingsError("HOTLINE_AMI_USER", exc.reason) from None
        ami_secret = env.get("HOTLINE_AMI_SECRET") or None
        if ami_secret is not None:
            get("HOTLINE_AMI_SECRET", ami_secret)
            if len(ami_secret) < 12:
                raise SettingsError("HOTLINE_AMI_SECRET", "must be at least 12 characters (or unset to generate one)")
        transfer_key = get("HOTLINE_TRANSFER_KEY", "*1")
        if not is_feature_key(transfer_key):
            raise SettingsError("HOTLINE_TRANSFER_KEY", f"{transfer_key!r}: expected 1-4 of 0-9 * #")
        transfer_to_key = get("HOTLINE_TRANSFER_TO_KEY", "*8")
        if not is_feature_key(transfer_to_key):
            raise SettingsError("HOTLINE_TRANSFER_TO_KEY", f"{transfer_to_key!r}: expected 1-4 of 0-9 * #")
        threeway_keys: dict[str, str] = {}
        for var, name in (("HOTLINE_THREEWAY_START_KEY", "three_way_start"),
                          ("HOTLINE_THREEWAY_LEAVE_KEY", "three_way_leave"),
                          ("HOTLINE_THREEWAY_CANCEL_KEY", "three_way_cancel"),
                          ("HOTLINE_EMERGENCY_KEY", "emergency_mark")):
            key = get(var, THREE_WAY_KEYS[name])
            if not is_feature_key(key):
                raise SettingsError(var, f"{key!r}: expected 1-4 of 0-9 * #")
            for first, other in prefix_conflicts({name: key, **threeway_keys}):
                raise SettingsError(var, f"{key!r} clashes with the {other} key {threeway_keys[other]!r} "
                                         "(equal, or one is a prefix of the other)")
            threeway_keys[name] = key
        # every key a seat can press in a call must be able to fire (core/feature_keys.py)
        others = {**BUILTIN_FEATURE_KEYS, **threeway_keys}
        for var, name, key in (("HOTLINE_TRANSFER_KEY", "transfer", transfer_key),
                               ("HOTLINE_TRANSFER_TO_KEY", "transfer_to", transfer_to_key)):
            for first, other in prefix_conflicts({name: key, **others}):
                if first == name:
                    raise SettingsError(var, f"{key!r} clashes with the {other} key {others[other]!r} "
                                             "(equal, or one is a prefix of the other)")
        if prefix_conflicts({"transfer": transfer_key, "transfer_to": transfer_to_key}):
            raise SettingsError("HOTLINE_TRANSFER_TO_KEY",
                                f"{transfer_to_key!r} and HOTLINE_TRANSFER_KEY {transfer_key!r} overlap")
        try:
            release_modes = parse_release_modes(get("HOTLINE_RELEASE_MODES", ""), tuple(c.id for c in centres))
        except ValueError as exc:
            raise SettingsError("HOTLINE_RELEASE_MODES", str(exc)) from None
        try:
            destination_routes = parse_routes(get("HOTLINE_DESTINATION_ROUTES", ""))
        except ValueError as exc:
            raise SettingsError("HOTLINE_DESTINATION_ROUTES", str(exc)) from None
        clash = sorted(set(destination_routes) & {c.id for c in centres})
        if clash:
            raise SettingsError("HOTLINE_DESTINATION_ROUTES", f"{clash[0]} is a centre: it needs no route")
        prefix = get("HOTLINE_REDIS_PREFIX", "hotline:")
        log_level = get("HOTLINE_LOG_LEVEL", "INFO").upper()
        if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError("HOTLINE_LOG_LEVEL", f"{log_level!r}: expected DEBUG, INFO, WARNING or ERROR")

        jurisdiction = get("HOTLINE_JURISDICTION", "qinzhou")
        if jurisdiction not in JURISDICTIONS:
            raise SettingsError("HOTLINE_JURISDICTION", f"{jurisdiction!r}: expected one of {', '.join(JURISDICTIONS)}")
        limits: dict[str, object] = {}
        for name, key, default in (("HOTLINE_SIGN_LIMITS", "sign", "urgent=30,major=30"),
                                   ("HOTLINE_ON_SITE_LIMITS", "on_site", "urgent=120,major=120")):
            raw = env.get(name)
            try:
                limits[key] = parse_limits(get(name, default) if raw is None else check_line(name, raw))
            except (ValueError, UnsafeValue) as exc:
                raise SettingsError(name, str(exc)) from None
        roles_raw = env.get("HOTLINE_UNMASKED_ROLES")
        roles = frozenset(r.strip() for r in (get("HOTLINE_UNMASKED_ROLES", "seat,supervisor")
                                               if roles_raw is None else roles_raw).split(",") if r.strip())
        if not roles <= {"seat", "supervisor", "admin"}:
            raise SettingsError("HOTLINE_UNMASKED_ROLES", f"{roles_raw!r}: expected a comma list of seat, supervisor, admin")

        def seconds(name: str, default: float, minimum: float, maximum: float) -> float:
            raw = get(name, f"{default:g}")
            try:
                value = float(raw)
            except ValueError:
                raise SettingsError(name, f"{raw!r} is not a number of seconds") from None
            if not minimum <= value <= maximum:  # also refuses nan
                raise SettingsError(name, f"{raw!r} must be from {minimum:g} to {maximum:g} seconds")
            return value

        return cls(
            centres=centres,
            seat_mode=seat_mode,  # type: ignore[arg-type]
            state_dir=Path(get("HOTLINE_STATE_DIR", str(PROJECT_ROOT / "var"))).expanduser(),
            asterisk_prefix=Path(get("HOTLINE_ASTERISK_PREFIX", str(_default_cache() / "asterisk-current"))).expanduser(),
            bind_host=get("HOTLINE_BIND_HOST", "127.0.0.1"),
            sip_port=port("HOTLINE_SIP_PORT", 5060),
            rtp_start=rtp_start,
            rtp_end=rtp_end,
            ami_port=port("HOTLINE_AMI_PORT", 5038),
            ami_user=ami_user,
            ami_secret=ami_secret,
            agi_host=get("HOTLINE_AGI_HOST", "127.0.0.1"),
            agi_port=port("HOTLINE_AGI_PORT", 4573),
            http_host=get("HOTLINE_HTTP_HOST", "127.0.0.1"),
            http_port=port("HOTLINE_HTTP_PORT", 8080),
            redis_url=redis_url,
            redis_prefix=prefix,
            database_url=db_url,
            queue_timeout_s=positive("HOTLINE_QUEUE_TIMEOUT", 300, 3600),
            transfer_key=transfer_key,
            transfer_to_key=transfer_to_key,
            transfer_timeout_s=positive("HOTLINE_TRANSFER_TIMEOUT", 30, 600),
            release_modes=release_modes,
            transfer_fast_path=flag("HOTLINE_TRANSFER_FAST_PATH", True),
            destination_routes=destination_routes,
            threeway_start_key=threeway_keys["three_way_start"],
            threeway_leave_key=threeway_keys["three_way_leave"],
            threeway_cancel_key=threeway_keys["three_way_cancel"],
            emergency_key=threeway_keys["emergency_mark"],
            threeway_timeout_s=positive("HOTLINE_THREEWAY_TIMEOUT", 30, 600),
            log_level=log_level,
            jurisdiction=jurisdiction,
            time_limits=TimeLimits(sign=limits["sign"], on_site=limits["on_site"]),  # type: ignore[arg-type]
            overdue_check_s=positive("HOTLINE_OVERDUE_CHECK_INTERVAL", 30, 3600),
            unmasked_roles=roles,
            overflow_check_s=seconds("HOTLINE_OVERFLOW_CHECK_INTERVAL", 1.0, 0.05, 60),
            overflow_open_after_s=seconds("HOTLINE_OVERFLOW_OPEN_AFTER", 2.0, 0, 600),
            overflow_clear_after_s=seconds("HOTLINE_OVERFLOW_CLEAR_AFTER", 30.0, 0, 3600),
        )
