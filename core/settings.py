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
    transfer_to_key: str = "*2"
    transfer_timeout_s: int = 30
    release_modes: dict[str, str] = field(default_factory=dict)
    destination_routes: dict[str, str] = field(default_factory=dict)
    log_level: str = "INFO"
    # Work orders: the diversion catalogue this deployment follows, the
    # per-class time limits, how often overdue orders are looked for, and
    # which roles see citizens' numbers unmasked (保护隐私).
    jurisdiction: str = "qinzhou"
    time_limits: TimeLimits = field(default_factory=TimeLimits)
    overdue_check_s: float = 30.0
    unmasked_roles: frozenset[str] = frozenset({"seat", "supervisor"})

    @property
    def run_dir(self) -> Path:
        """Where the rendered Asterisk configuration and its sockets live."""
        return self.state_dir / "asterisk"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.state_dir / 'hotline.db'}"

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
        if not (1 <= len(transfer_key) <= 4 and all(c in "0123456789*#" for c in transfer_key)):
            raise SettingsError("HOTLINE_TRANSFER_KEY", f"{transfer_key!r}: expected 1-4 of 0-9 * #")
        transfer_to_key = get("HOTLINE_TRANSFER_TO_KEY", "*2")
        if not (1 <= len(transfer_to_key) <= 4 and all(c in "0123456789*#" for c in transfer_to_key)):
            raise SettingsError("HOTLINE_TRANSFER_TO_KEY", f"{transfer_to_key!r}: expected 1-4 of 0-9 * #")
        for a, b in ((transfer_key, transfer_to_key), (transfer_to_key, transfer_key)):
            if a.startswith(b):
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
            destination_routes=destination_routes,
            log_level=log_level,
            jurisdiction=jurisdiction,
            time_limits=TimeLimits(sign=limits["sign"], on_site=limits["on_site"]),  # type: ignore[arg-type]
            overdue_check_s=positive("HOTLINE_OVERDUE_CHECK_INTERVAL", 30, 3600),
            unmasked_roles=roles,
        )
