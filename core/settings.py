"""Typed settings, read once per process from environment variables (pure).

`Settings.from_env(os.environ)` is called at the edge (the CLI); everything
else receives the object explicitly.  Each part of the configuration is a
small frozen dataclass that reads and checks its own variables
(`HandoffSettings.from_env(env, ...)`); `Settings` composes the parts and
checks only what spans two of them.  A bad value fails loudly with the
variable's name.  Every variable is documented in `.env.example`.

    Settings
    ├── site      SiteSettings      centres and seats, seat mode, queue timeout
    ├── paths     PathSettings      state directory, Asterisk build
    ├── network   NetworkSettings   SIP, RTP, FastAGI and HTTP addresses
    ├── ami       AmiSettings       AMI port, user, secret
    ├── redis     RedisSettings     live state URL and key prefix
    ├── database  DatabaseSettings  orders database URL
    ├── handoff   HandoffSettings   the *1 / *8 keys (一键携号转接)
    ├── threeway  ThreeWaySettings  the three-way call's keys and timeout
    ├── seats     SeatSettings      signing in and pausing (签入/签出, 示忙/示闲), auto-pause
    ├── orders    OrderSettings     catalogue, time limits, number masking
    ├── overflow  OverflowSettings  the surge detector's timing
    ├── federation FederationSettings  peer platforms, push retries, this deployment's codes
    ├── trunks    TrunkSettings     SIP trunks to other PBXs, centres reached through them
    └── logging   LogSettings       log level and format (text, json)

Tests build settings directly: `Settings(site=SiteSettings(centres=...))`,
then `settings.with_(redis={"prefix": "t:"})` to change a part.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
from collections import ChainMap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.catalogue import JURISDICTIONS
from core.centres import MAX_SEATS, SEAT_MAX_DIGITS, Centre, SeatMode, parse_centres
from core.feature_keys import (
    BUILTIN_FEATURE_KEYS,
    THREE_WAY_KEYS,
    FeatureKeyError,
    check_feature_keys,
)
from core.federation import (
    PeerError,
    is_division_code,
    is_org_code,
    parse_peers,
    parse_schedule,
)
from core.federation_mapping import FieldMapping, MappingError, parse_mapping
from core.handoff import parse_release_modes, parse_routes
from core.safety import UnsafeValue, check_line, check_token
from core.seats import DEFAULT_PAUSE_REASONS, ReasonError, parse_pause_reasons
from core.sla import TimeLimits, parse_limits
from core.trunks import Trunk, TrunkError, parse_remote_centres, parse_trunks

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting has a bad value; `name` is the environment variable."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"setting {name}: {reason}")
        self.name = name
        self.reason = reason


class _Env:
    """Reads variables for one part: an empty value means unset, and no value
    may hold a control character.  Every failure is a SettingsError."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def text(self, name: str, default: str, *, max_len: int = 1024) -> str:
        return self._check(name, self.env.get(name) or default, max_len)

    def optional(self, name: str) -> str | None:
        """The value, or None when unset or empty."""
        value = self.env.get(name) or None
        return None if value is None else self._check(name, value)

    def exact(self, name: str) -> str | None:
        """The value as set, empty included (for lists where empty means none); None when unset."""
        value = self.env.get(name)
        return None if value is None else self._check(name, value)

    def port(self, name: str, default: int) -> int:
        raw = self.text(name, str(default))
        if not raw.isdigit() or not 1 <= int(raw) <= 65535:
            raise SettingsError(name, f"{raw!r} is not a TCP/UDP port (1-65535)")
        return int(raw)

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name, "yes" if default else "no").lower()
        if raw not in ("yes", "no", "true", "false", "1", "0"):
            raise SettingsError(name, f"{raw!r}: expected yes or no")
        return raw in ("yes", "true", "1")

    def whole(self, name: str, default: int, maximum: int, minimum: int = 1) -> int:
        raw = self.text(name, str(default))
        if not raw.isdigit() or not minimum <= int(raw) <= maximum:
            raise SettingsError(name, f"{raw!r} must be a whole number from {minimum} to {maximum}")
        return int(raw)

    def seconds(self, name: str, default: float, minimum: float, maximum: float) -> float:
        raw = self.text(name, f"{default:g}")
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(name, f"{raw!r} is not a number of seconds") from None
        if not minimum <= value <= maximum:  # also refuses nan
            raise SettingsError(name, f"{raw!r} must be from {minimum:g} to {maximum:g} seconds")
        return value

    @staticmethod
    def _check(name: str, value: str, max_len: int = 1024) -> str:
        try:
            return check_line(name, value, max_len=max_len)
        except UnsafeValue as exc:
            raise SettingsError(name, exc.reason) from None


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hotline-link"


DEFAULT_CENTRES = "12345:1001-1004;110:2001-2002"
# Seats may be listed one by one (no range): room for MAX_SEATS of them.
CENTRES_MAX_LEN = MAX_SEATS * (SEAT_MAX_DIGITS + 1) + 1024
DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class SiteSettings:
    """Which centres this PBX serves and their seats, how seats are reached,
    and how long a citizen waits in a centre's queue before the safe path."""

    centres: tuple[Centre, ...] = field(default_factory=lambda: parse_centres(DEFAULT_CENTRES))
    seat_mode: SeatMode = "sip"
    queue_timeout_s: int = 300

    @property
    def centre_ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.centres)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SiteSettings:
        read = _Env(env)
        try:
            centres = parse_centres(read.text("HOTLINE_CENTRES", DEFAULT_CENTRES, max_len=CENTRES_MAX_LEN))
        except UnsafeValue as exc:
            raise SettingsError("HOTLINE_CENTRES", exc.reason) from None
        seat_mode = read.text("HOTLINE_SEAT_MODE", "sip")
        if seat_mode not in ("sip", "simulated"):
            raise SettingsError("HOTLINE_SEAT_MODE", f"{seat_mode!r}: expected 'sip' or 'simulated'")
        return cls(centres=centres, seat_mode=seat_mode,  # type: ignore[arg-type]
                   queue_timeout_s=read.whole("HOTLINE_QUEUE_TIMEOUT", 300, 3600))


def project_path(value: str | Path) -> Path:
    """`value` as an absolute path: `~` expanded, a relative path taken from
    the project root (where `./hotline` runs), not from the current
    directory — Asterisk reads its `-C` path from its own config dir, and the
    processes of one installation must agree on where its state is."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


@dataclass(frozen=True)
class PathSettings:
    """Where this installation keeps its state, and which Asterisk build it
    runs.  Both are absolute: a relative value (`HOTLINE_STATE_DIR=./var`,
    as documented) is taken from the project root (`project_path`)."""

    state_dir: Path = PROJECT_ROOT / "var"
    asterisk_prefix: Path = field(default_factory=lambda: _default_cache() / "asterisk-current")

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_dir", project_path(self.state_dir))
        object.__setattr__(self, "asterisk_prefix", project_path(self.asterisk_prefix))

    @property
    def run_dir(self) -> Path:
        """Where the rendered Asterisk configuration and its sockets live."""
        return self.state_dir / "asterisk"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PathSettings:
        read = _Env(env)
        return cls(
            state_dir=project_path(read.text("HOTLINE_STATE_DIR", str(PROJECT_ROOT / "var"))),
            asterisk_prefix=project_path(read.text("HOTLINE_ASTERISK_PREFIX",
                                                   str(_default_cache() / "asterisk-current"))))


WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]"})
# the private networks (RFC 1918) and loopback: phones there are reached directly, not through NAT
DEFAULT_LOCAL_NETS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8")
_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")


@dataclass(frozen=True)
class NetworkSettings:
    """Where SIP, RTP, the FastAGI server and the web service listen."""

    bind_host: str = "127.0.0.1"  # SIP
    sip_port: int = 5060
    rtp_start: int = 10000
    rtp_end: int = 10999
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Behind NAT: the address phones and trunks outside `local_nets` reach
    # (pjsip.conf transports' external_signaling_address/external_media_address)
    external_address: str | None = None
    local_nets: tuple[str, ...] = DEFAULT_LOCAL_NETS
    # Prometheus' /metrics on an address of its own, without a token (None: off;
    # the web service always serves it behind a token)
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None

    @property
    def agi_url(self) -> str:
        return f"agi://{self.agi_host}:{self.agi_port}"

    @property
    def binds_all(self) -> bool:
        """SIP listens on every interface (0.0.0.0 or ::)."""
        return self.bind_host in WILDCARD_HOSTS

    def sip_hosts(self, host_addresses: Sequence[str] = ()) -> list[str]:
        """Addresses a phone can register to: the external address when one is
        set, then the bind address — or, bound to every interface, this
        host's own addresses (`host_addresses`, loopback last)."""
        hosts = [self.external_address] if self.external_address else []
        if not self.binds_all:
            hosts.append(self.bind_host)
        else:
            hosts += sorted(host_addresses, key=lambda a: ipaddress.ip_address(a).is_loopback)
        return list(dict.fromkeys(hosts))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> NetworkSettings:
        read = _Env(env)
        rtp = read.text("HOTLINE_RTP_PORTS", "10000-10999")
        try:
            rtp_start, rtp_end = (int(x) for x in rtp.split("-", 1))
            if not 1024 <= rtp_start < rtp_end <= 65535:
                raise ValueError
        except ValueError:
            raise SettingsError("HOTLINE_RTP_PORTS", f"{rtp!r}: expected LOW-HIGH between 1024 and 65535") from None
        return cls(bind_host=read.text("HOTLINE_BIND_HOST", "127.0.0.1"),
                   sip_port=read.port("HOTLINE_SIP_PORT", 5060),
                   rtp_start=rtp_start, rtp_end=rtp_end,
                   agi_host=read.text("HOTLINE_AGI_HOST", "127.0.0.1"),
                   agi_port=read.port("HOTLINE_AGI_PORT", 4573),
                   http_host=read.text("HOTLINE_HTTP_HOST", "127.0.0.1"),
                   http_port=read.port("HOTLINE_HTTP_PORT", 8080),
                   external_address=_external_address(read.optional("HOTLINE_EXTERNAL_ADDRESS")),
                   local_nets=_local_nets(read.text("HOTLINE_LOCAL_NETS", ",".join(DEFAULT_LOCAL_NETS))),
                   metrics_host=read.text("HOTLINE_METRICS_HOST", "127.0.0.1"),
                   metrics_port=read.port("HOTLINE_METRICS_PORT", 0) if read.optional("HOTLINE_METRICS_PORT")
                   else None)


def _external_address(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(raw):
        raise SettingsError("HOTLINE_EXTERNAL_ADDRESS", f"{raw!r}: expected an IP address or a host name")
    return raw


def _local_nets(raw: str) -> tuple[str, ...]:
    try:
        return tuple(str(ipaddress.ip_network(n.strip(), strict=False)) for n in raw.split(",") if n.strip())
    except ValueError as exc:
        raise SettingsError("HOTLINE_LOCAL_NETS", f"{raw!r}: {exc}") from None


DEFAULT_DISABLED_EVENTS = ("Newexten", "VarSet")
# AMI events whose whole Stasis message type can be declined (stasis.conf
# `[declined_message_types]`) when the event is disabled: nothing else in the
# modules we load reads that message.  Asterisk's manager thread otherwise
# formats the event (the channel's whole state, every `ChanVariable`) for
# each one, and drops it only then; one is published for every variable set
# on every channel.  (Newexten has no message type of its own: it is made
# from channel snapshots, which everything reads.)
DECLINABLE_EVENTS = {"VarSet": "ast_channel_varset_type"}
_EVENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class AmiSettings:
    """The Asterisk Manager Interface (bound to 127.0.0.1, whatever
    HOTLINE_BIND_HOST says: manager.conf is rendered with `host`, and every
    AMI client connects there)."""

    host = "127.0.0.1"  # not a field: not settable
    port: int = 5038
    user: str = "hotline"
    secret: str | None = None  # None: generated once into state_dir/secrets.json
    # Events Asterisk never raises (manager.conf `disabledevents`): one for
    # every dialplan step (Newexten) and variable set (VarSet) of every call,
    # and nothing of ours reads them.  Empty: none.
    disabled_events: tuple[str, ...] = DEFAULT_DISABLED_EVENTS

    @property
    def declined_message_types(self) -> tuple[str, ...]:
        """The Stasis message types of the disabled events that can go too
        (`DECLINABLE_EVENTS`): never created, so never formatted."""
        return tuple(DECLINABLE_EVENTS[name] for name in self.disabled_events if name in DECLINABLE_EVENTS)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AmiSettings:
        read = _Env(env)
        raw = read.exact("HOTLINE_AMI_DISABLED_EVENTS")
        disabled = DEFAULT_DISABLED_EVENTS if raw is None else tuple(n.strip() for n in raw.split(",") if n.strip())
        for name in disabled:
            if not _EVENT_NAME.fullmatch(name):
                raise SettingsError("HOTLINE_AMI_DISABLED_EVENTS",
                                    f"{name!r} is not an AMI event name (letters, digits and _)")
        user = read.text("HOTLINE_AMI_USER", "hotline")
        try:
            check_token("HOTLINE_AMI_USER", user)
        except UnsafeValue as exc:
            raise SettingsError("HOTLINE_AMI_USER", exc.reason) from None
        secret = read.optional("HOTLINE_AMI_SECRET")
        if secret is not None and len(secret) < 12:
            raise SettingsError("HOTLINE_AMI_SECRET", "must be at least 12 characters (or unset to generate one)")
        return cls(port=read.port("HOTLINE_AMI_PORT", 5038), user=user, secret=secret,
                   disabled_events=disabled)


@dataclass(frozen=True)
class RedisSettings:
    """The Redis holding the live state; every key starts with `prefix`."""

    url: str = "redis://127.0.0.1:6379/0"
    prefix: str = "hotline:"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RedisSettings:
        read = _Env(env)
        url = read.text("HOTLINE_REDIS_URL", "redis://127.0.0.1:6379/0")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError("HOTLINE_REDIS_URL", "must start with redis://, rediss:// or unix://")
        return cls(url=url, prefix=read.text("HOTLINE_REDIS_PREFIX", "hotline:"))


@dataclass(frozen=True)
class DatabaseSettings:
    """The orders database; None: a SQLite file in the state directory
    (`Settings.effective_database_url`)."""

    url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> DatabaseSettings:
        url = _Env(env).optional("HOTLINE_DATABASE_URL")
        if url is not None and not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise SettingsError("HOTLINE_DATABASE_URL", "must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return cls(url=url if url is None else _sqlite_from_root(url))


def _sqlite_from_root(url: str) -> str:
    """A SQLite file given by a relative path (`sqlite+aiosqlite:///var/x.db`) taken
    from the project root, as HOTLINE_STATE_DIR is; anything else unchanged."""
    scheme = "sqlite+aiosqlite:///"
    path = url[len(scheme):] if url.startswith(scheme) else ""
    if not path or path.startswith(("/", ":memory:", "file:")):
        return url
    return scheme + str(project_path(path))


# The *1 feature was called "transfer": its variables' old names are still
# read (`deprecated_variables` says so).  Old name -> new name.
RENAMED_VARIABLES: dict[str, str] = {
    "HOTLINE_TRANSFER_KEY": "HOTLINE_HANDOFF_KEY",
    "HOTLINE_TRANSFER_TO_KEY": "HOTLINE_HANDOFF_TO_KEY",
    "HOTLINE_TRANSFER_TIMEOUT": "HOTLINE_HANDOFF_TIMEOUT",
    "HOTLINE_TRANSFER_FAST_PATH": "HOTLINE_HANDOFF_FAST_PATH",
}


def deprecated_variables(env: Mapping[str, str]) -> list[str]:
    """One notice per old variable name set in `env` (RENAMED_VARIABLES);
    the edge shows them once."""
    return [f"{old} is deprecated: use {new}" for old, new in RENAMED_VARIABLES.items() if env.get(old)]


def _name_set(env: Mapping[str, str], name: str) -> str:
    """The variable the user set for `name`: its old name when only that is set."""
    old = next((o for o, n in RENAMED_VARIABLES.items() if n == name), None)
    return old if old is not None and env.get(old) and not env.get(name) else name


def _renamed_read(env: Mapping[str, str]) -> Mapping[str, str]:
    """`env` with each old name's value under its new name.  Both set and
    different: a SettingsError naming both."""
    renamed: dict[str, str] = {}
    for old, new in RENAMED_VARIABLES.items():
        if not env.get(old):
            continue
        if env.get(new) and env[new] != env[old]:
            raise SettingsError(new, f"{env[new]!r} differs from {old}={env[old]!r} (its deprecated name): "
                                     f"set {new} only")
        renamed[new] = env[old]
    return ChainMap(renamed, env)  # type: ignore[arg-type]  # reads through to env


@dataclass(frozen=True)
class HandoffSettings:
    """The one-key handoff (一键携号转接, core/handoff.py): `key` sends the
    citizen to the partner centre, `to_key` + digits + `#` to a catalogue
    destination through `destination_routes`; how long a handoff may ring
    before the citizen comes back; 成功转/释放转 per centre."""

    key: str = "*1"
    to_key: str = "*8"
    timeout_s: int = 30
    release_modes: dict[str, str] = field(default_factory=dict)
    # The common handoff (partner centre, a citizen on the call, a seat logged
    # in there) decided in dialplan and recorded through the AstDB outbox,
    # without waiting for Python (core/handoff.py OutboxRecord).  Off: every
    # key press asks Python (the key's AGI route) first.
    fast_path: bool = True
    destination_routes: dict[str, str] = field(default_factory=dict)
    # On the fast path, how long the seat's leg waits after it has moved the
    # citizen before it writes the order (AstDB, its event) and starts its
    # ringback: the citizen's own way into the target queue goes first, not
    # sharing the machine and Asterisk's one manager thread with that
    # bookkeeping.  A leg that hangs up meanwhile writes the order from its
    # hangup handler.  0: at once.
    yield_ms: int = 4

    @property
    def keys(self) -> dict[str, str]:
        """Named as features for core.feature_keys.check_feature_keys."""
        return {"handoff": self.key, "handoff_to": self.to_key}

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, centre_ids: tuple[str, ...]) -> HandoffSettings:
        """`centre_ids`: the site's centres (release modes name them; a route
        must not).  Reads the deprecated HOTLINE_TRANSFER_* names too."""
        try:
            return cls._from_env(_renamed_read(env), centre_ids)
        except SettingsError as exc:
            name = _name_set(env, exc.name)
            raise (exc if name == exc.name else SettingsError(name, exc.reason)) from None

    @classmethod
    def _from_env(cls, env: Mapping[str, str], centre_ids: tuple[str, ...]) -> HandoffSettings:
        read = _Env(env)
        key, to_key = read.text("HOTLINE_HANDOFF_KEY", "*1"), read.text("HOTLINE_HANDOFF_TO_KEY", "*8")
        _check_keys(env, {"handoff": key, "handoff_to": to_key},
                    {"handoff": "HOTLINE_HANDOFF_KEY", "handoff_to": "HOTLINE_HANDOFF_TO_KEY"})
        try:
            release_modes = parse_release_modes(read.text("HOTLINE_RELEASE_MODES", ""), centre_ids)
        except ValueError as exc:
            raise SettingsError("HOTLINE_RELEASE_MODES", str(exc)) from None
        try:
            routes = parse_routes(read.text("HOTLINE_DESTINATION_ROUTES", ""))
        except ValueError as exc:
            raise SettingsError("HOTLINE_DESTINATION_ROUTES", str(exc)) from None
        clash = sorted(set(routes) & set(centre_ids))
        if clash:
            raise SettingsError("HOTLINE_DESTINATION_ROUTES", f"{clash[0]} is a centre: it needs no route")
        return cls(key=key, to_key=to_key, timeout_s=read.whole("HOTLINE_HANDOFF_TIMEOUT", 30, 600),
                   release_modes=release_modes, fast_path=read.flag("HOTLINE_HANDOFF_FAST_PATH", True),
                   destination_routes=routes, yield_ms=read.whole("HOTLINE_HANDOFF_YIELD_MS", 4, 50, minimum=0))


_THREEWAY_VARIABLES: dict[str, str] = {
    "three_way_start": "HOTLINE_THREEWAY_START_KEY",
    "three_way_leave": "HOTLINE_THREEWAY_LEAVE_KEY",
    "three_way_cancel": "HOTLINE_THREEWAY_CANCEL_KEY",
    "emergency_mark": "HOTLINE_EMERGENCY_KEY",
}


@dataclass(frozen=True)
class ThreeWaySettings:
    """Three-way call (三方通话, core/threeway.py): the start key (two-party
    call, features.conf), the keys inside the conference (ConfBridge menu:
    leave and hand over, cancel, mark as endangering life or property), and
    how long the other centre may ring before the citizen comes back."""

    start_key: str = THREE_WAY_KEYS["three_way_start"]
    leave_key: str = THREE_WAY_KEYS["three_way_leave"]
    cancel_key: str = THREE_WAY_KEYS["three_way_cancel"]
    emergency_key: str = THREE_WAY_KEYS["emergency_mark"]
    timeout_s: int = 30

    @property
    def keys(self) -> dict[str, str]:
        """Named as in core.feature_keys.THREE_WAY_KEYS."""
        return {"three_way_start": self.start_key, "three_way_leave": self.leave_key,
                "three_way_cancel": self.cancel_key, "emergency_mark": self.emergency_key}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ThreeWaySettings:
        read = _Env(env)
        keys = {name: read.text(var, THREE_WAY_KEYS[name]) for name, var in _THREEWAY_VARIABLES.items()}
        _check_keys(env, keys, _THREEWAY_VARIABLES)
        return cls(start_key=keys["three_way_start"], leave_key=keys["three_way_leave"],
                   cancel_key=keys["three_way_cancel"], emergency_key=keys["emergency_mark"],
                   timeout_s=read.whole("HOTLINE_THREEWAY_TIMEOUT", 30, 600))


def _check_keys(env: Mapping[str, str], keys: Mapping[str, str], variables: Mapping[str, str]) -> None:
    """core.feature_keys.check_feature_keys over Asterisk's built-in keys and
    `keys`, a failure named by its variable (`variables`: feature -> variable).
    Keys set in `env` are checked after those left at their default, so a
    clash blames a key the user set."""
    ordered = sorted(keys, key=lambda feature: bool(env.get(variables[feature])))
    try:
        check_feature_keys({**BUILTIN_FEATURE_KEYS, **{feature: keys[feature] for feature in ordered}})
    except FeatureKeyError as exc:
        raise SettingsError(variables[exc.feature], exc.reason) from None


@dataclass(frozen=True)
class SeatSettings:
    """Seats signing in and out (签入/签出) and pausing (示忙/示闲), core/seats.py:
    the keys a seat dials on its phone, the pause reason codes and their names,
    whether a seat never seen before starts signed in, how long a seat rings
    before the queue gives up on it, and after how many missed rings in a row
    a seat is paused automatically (0: never)."""

    signin_key: str = "*5"
    pause_key: str = "*6"
    pause_reasons: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PAUSE_REASONS))
    signed_in_at_start: bool = True
    ring_timeout_s: int = 15       # GB/T 33358: answer within 15 s
    autopause_after: int = 3

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SeatSettings:
        read = _Env(env)
        keys = {}
        for name, var, default in (("signin", "HOTLINE_SIGNIN_KEY", "*5"), ("pause", "HOTLINE_PAUSE_KEY", "*6")):
            key = read.text(var, default)
            # dialled on the phone (not pressed in a call): `*` and 1-3 digits
            if not (key.startswith("*") and 2 <= len(key) <= 4 and key[1:].isdigit()):
                raise SettingsError(var, f"{key!r}: expected * and 1-3 digits, such as *5")
            keys[name] = (var, key)
        (_, signin), (pause_var, pause) = keys["signin"], keys["pause"]
        if pause.startswith(signin) or signin.startswith(pause):
            raise SettingsError(pause_var, f"{pause!r} and the sign-in key {signin!r}: one is a prefix of the other")
        raw = read.exact("HOTLINE_PAUSE_REASONS")
        try:
            reasons = parse_pause_reasons(
                ",".join(f"{c}={n}" for c, n in DEFAULT_PAUSE_REASONS.items()) if raw is None else raw)
        except ReasonError as exc:
            raise SettingsError("HOTLINE_PAUSE_REASONS", str(exc)) from None
        autopause = read.text("HOTLINE_AUTOPAUSE_AFTER", "3")
        if not autopause.isdigit() or int(autopause) > 20:
            raise SettingsError("HOTLINE_AUTOPAUSE_AFTER", f"{autopause!r}: missed rings in a row, 0 (off) to 20")
        return cls(signin_key=signin, pause_key=pause, pause_reasons=reasons,
                   signed_in_at_start=read.flag("HOTLINE_SEATS_SIGNED_IN_AT_START", True),
                   ring_timeout_s=read.whole("HOTLINE_SEAT_RING_TIMEOUT", 15, 120),
                   autopause_after=int(autopause))


@dataclass(frozen=True)
class OrderSettings:
    """Work orders: the diversion catalogue this deployment follows, the
    per-class time limits, how often overdue orders are looked for, and
    which roles see citizens' numbers unmasked (保护隐私)."""

    jurisdiction: str = "qinzhou"
    time_limits: TimeLimits = field(default_factory=TimeLimits)
    overdue_check_s: float = 30.0
    unmasked_roles: frozenset[str] = frozenset({"seat", "supervisor"})
    # The deployment's time zone (an IANA name): the calendar day of order
    # numbers, of `from=YYYY-MM-DD` in queries and of report file names.
    timezone: str = DEFAULT_TIMEZONE

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OrderSettings:
        read = _Env(env)
        jurisdiction = read.text("HOTLINE_JURISDICTION", "qinzhou")
        if jurisdiction not in JURISDICTIONS:
            raise SettingsError("HOTLINE_JURISDICTION", f"{jurisdiction!r}: expected one of {', '.join(JURISDICTIONS)}")
        limits = {}
        for name, default in (("HOTLINE_SIGN_LIMITS", "urgent=30,major=30"),
                              ("HOTLINE_ON_SITE_LIMITS", "urgent=120,major=120")):
            raw = read.exact(name)  # empty: no limit at all
            try:
                limits[name] = parse_limits(default if raw is None else raw)
            except ValueError as exc:
                raise SettingsError(name, str(exc)) from None
        raw_roles = read.exact("HOTLINE_UNMASKED_ROLES")  # empty: nobody
        roles = frozenset(r.strip() for r in ("seat,supervisor" if raw_roles is None else raw_roles).split(",")
                          if r.strip())
        if not roles <= {"seat", "supervisor", "admin"}:
            raise SettingsError("HOTLINE_UNMASKED_ROLES",
                                f"{raw_roles!r}: expected a comma list of seat, supervisor, admin")
        timezone = read.text("HOTLINE_TIMEZONE", DEFAULT_TIMEZONE)
        try:
            ZoneInfo(timezone)
        except (ValueError, OSError, ZoneInfoNotFoundError):  # OSError: a directory such as 'Asia'
            raise SettingsError("HOTLINE_TIMEZONE", f"{timezone!r}: not an IANA time zone (e.g. Asia/Shanghai, "
                                                    "Asia/Urumqi)") from None
        return cls(jurisdiction=jurisdiction, timezone=timezone,
                   time_limits=TimeLimits(sign=limits["HOTLINE_SIGN_LIMITS"],
                                          on_site=limits["HOTLINE_ON_SITE_LIMITS"]),
                   overdue_check_s=read.whole("HOTLINE_OVERDUE_CHECK_INTERVAL", 30, 3600),
                   unmasked_roles=roles)


@dataclass(frozen=True)
class OverflowSettings:
    """Remote-seat overflow (core/overflow.py): how often the surge detector
    looks at the live state, how long a threshold must hold before a group
    opens, and how long all must stay clear before it closes."""

    check_s: float = 1.0
    open_after_s: float = 2.0
    clear_after_s: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> OverflowSettings:
        read = _Env(env)
        return cls(check_s=read.seconds("HOTLINE_OVERFLOW_CHECK_INTERVAL", 1.0, 0.05, 60),
                   open_after_s=read.seconds("HOTLINE_OVERFLOW_OPEN_AFTER", 2.0, 0, 600),
                   clear_after_s=read.seconds("HOTLINE_OVERFLOW_CLEAR_AFTER", 30.0, 0, 3600))


@dataclass(frozen=True)
class Peer:
    """A peer platform (core/federation.py): its name, base URL, centres, and
    the shared secret (read from the variable the peer's declaration names;
    never shown)."""

    name: str
    url: str
    centres: tuple[str, ...]
    secret: str = field(repr=False)
    mapping: FieldMapping | None = None  # a foreign peer (core.federation_mapping); None: hotline-link


MAPPINGS_DIR = PROJECT_ROOT / "data" / "federation"


def load_mapping(name: str, directory: Path | None = None) -> FieldMapping:
    """A foreign peer's field mapping, read and checked (`data/federation/<name>.json`).
    Raises `SettingsError` naming HOTLINE_PEERS, the file and the key at fault."""
    path = (directory or MAPPINGS_DIR) / f"{name}.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError("HOTLINE_PEERS", f"mapping={name}: no file {path.name} in {path.parent}") from None
    except ValueError as exc:
        raise SettingsError("HOTLINE_PEERS", f"mapping={name}: {path.name} is not JSON: {exc}") from None
    try:
        return parse_mapping(raw, name)
    except MappingError as exc:
        raise SettingsError("HOTLINE_PEERS", f"mapping={name}: {path.name}: {exc}") from None


DEFAULT_RETRY = "5,15,30,60,120,300,300,300,300,300"  # ~29 min in all, then failed


@dataclass(frozen=True)
class FederationSettings:
    """Orders across platforms (工单⇄警单, app/federation): this platform's
    name as its peers know it, the peers, this deployment's 行政区划代码 and
    统一社会信用代码 (carried in every pushed document), and how pushes are
    retried: `retry_s` are the waits after each failed try (then the item is
    failed), spread by ±`jitter`; each try times out after `timeout_s`.  A
    signed request older or newer than `window_s` is refused.  The audit log
    of exchanges is kept `audit_days`; the nonces only `nonce_keep_s`."""

    name: str | None = None
    peers: tuple[Peer, ...] = ()
    division_code: str | None = None
    org_code: str | None = None
    unit_name: str | None = None
    retry_s: tuple[float, ...] = field(default_factory=lambda: parse_schedule(DEFAULT_RETRY))
    jitter: float = 0.2
    timeout_s: float = 3.0
    window_s: float = 300.0
    poll_s: float = 1.0
    audit_days: float = 400.0

    @property
    def nonce_keep_s(self) -> float:
        """How long a nonce must be remembered: a request is accepted while its
        timestamp is within `window_s` of now, so one received at t (timestamp
        up to t + window) could be replayed until t + 2 x window."""
        return 2 * self.window_s

    def peer(self, name: str) -> Peer | None:
        return next((p for p in self.peers if p.name == name), None)

    def peer_of_centre(self, centre: str) -> Peer | None:
        return next((p for p in self.peers if centre in p.centres), None)

    @property
    def peer_centres(self) -> tuple[str, ...]:
        return tuple(c for p in self.peers for c in p.centres)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FederationSettings:
        read = _Env(env)
        try:
            specs = parse_peers(read.text("HOTLINE_PEERS", ""))
        except PeerError as exc:
            raise SettingsError("HOTLINE_PEERS", str(exc)) from None
        peers = []
        for spec in specs:
            secret = env.get(spec.secret_env) or ""
            if len(secret) < 16:
                raise SettingsError(spec.secret_env, f"the shared secret of peer {spec.name} must be set, "
                                                     "at least 16 characters")
            mapping = load_mapping(spec.mapping) if spec.mapping else None
            peers.append(Peer(name=spec.name, url=spec.url, centres=spec.centres, secret=secret, mapping=mapping))
        name = read.optional("HOTLINE_FEDERATION_NAME")
        if name is not None:
            try:
                check_token("HOTLINE_FEDERATION_NAME", name)
            except UnsafeValue as exc:
                raise SettingsError("HOTLINE_FEDERATION_NAME", exc.reason) from None
        elif peers:
            raise SettingsError("HOTLINE_FEDERATION_NAME", "required with HOTLINE_PEERS: this platform's name "
                                                           "as its peers declare it")
        division = read.optional("HOTLINE_DIVISION_CODE")
        if division is not None and not is_division_code(division):
            raise SettingsError("HOTLINE_DIVISION_CODE", f"{division!r}: a 行政区划代码 is 6, 9 or 12 digits "
                                                         "(GB/T 2260), e.g. 450700")
        org = read.optional("HOTLINE_ORG_CODE")
        if org is not None and not is_org_code(org):
            raise SettingsError("HOTLINE_ORG_CODE", f"{org!r}: not a valid 18-character 统一社会信用代码 "
                                                    "(GB 32100, check character included)")
        try:
            retry = parse_schedule(read.text("HOTLINE_FEDERATION_RETRY", DEFAULT_RETRY))
        except ValueError as exc:
            raise SettingsError("HOTLINE_FEDERATION_RETRY", str(exc)) from None
        jitter = read.seconds("HOTLINE_FEDERATION_JITTER", 0.2, 0, 1)
        return cls(name=name, peers=tuple(peers), division_code=division, org_code=org,
                   unit_name=read.optional("HOTLINE_UNIT_NAME"), retry_s=retry, jitter=jitter,
                   timeout_s=read.seconds("HOTLINE_FEDERATION_TIMEOUT", 3.0, 0.1, 60),
                   window_s=read.seconds("HOTLINE_FEDERATION_WINDOW", 300.0, 10, 3600),
                   poll_s=read.seconds("HOTLINE_FEDERATION_POLL", 1.0, 0.01, 60),
                   audit_days=_days(read.text("HOTLINE_FEDERATION_AUDIT_DAYS", "400")))


def _days(raw: str) -> float:
    try:
        days = float(raw)
    except ValueError:
        raise SettingsError("HOTLINE_FEDERATION_AUDIT_DAYS", f"{raw!r} is not a number of days") from None
    if not 1 <= days <= 36500:
        raise SettingsError("HOTLINE_FEDERATION_AUDIT_DAYS", f"{raw!r} must be from 1 to 36500 days")
    return days


@dataclass(frozen=True)
class TrunkSettings:
    """SIP trunks to other PBXs (core/trunks.py): the peer platforms' and the
    carriers', and the centres served elsewhere, reached through a peer
    trunk (`remote_centres`: centre -> trunk name)."""

    trunks: tuple[Trunk, ...] = ()
    remote_centres: dict[str, str] = field(default_factory=dict)

    def trunk(self, name: str) -> Trunk | None:
        return next((t for t in self.trunks if t.name == name), None)

    def trunk_of_centre(self, centre: str) -> Trunk | None:
        name = self.remote_centres.get(centre)
        return self.trunk(name) if name else None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TrunkSettings:
        read = _Env(env)
        try:
            trunks = parse_trunks(read.text("HOTLINE_TRUNKS", ""), env)
        except TrunkError as exc:
            raise SettingsError(exc.env or "HOTLINE_TRUNKS", str(exc)) from None
        try:
            remote = parse_remote_centres(read.text("HOTLINE_REMOTE_CENTRES", ""), trunks)
        except TrunkError as exc:
            raise SettingsError("HOTLINE_REMOTE_CENTRES", str(exc)) from None
        return cls(trunks=trunks, remote_centres=remote)


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LogFormat = Literal["text", "json"]


@dataclass(frozen=True)
class LogSettings:
    """How much is logged, and how: `text` lines for people, or `json`, one
    object a line with the handoff id, channel, seat and order number as
    fields where known (for a log shipper)."""

    level: LogLevel = "INFO"
    format: LogFormat = "text"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LogSettings:
        read = _Env(env)
        level = read.text("HOTLINE_LOG_LEVEL", "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError("HOTLINE_LOG_LEVEL", f"{level!r}: expected DEBUG, INFO, WARNING or ERROR")
        fmt = read.text("HOTLINE_LOG_FORMAT", "text").lower()
        if fmt not in ("text", "json"):
            raise SettingsError("HOTLINE_LOG_FORMAT", f"{fmt!r}: expected text or json")
        return cls(level=level, format=fmt)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Settings:
    """Every part of the configuration; built by `from_env` or directly in tests."""

    site: SiteSettings = field(default_factory=SiteSettings)
    paths: PathSettings = field(default_factory=PathSettings)
    network: NetworkSettings = field(default_factory=NetworkSettings)
    ami: AmiSettings = field(default_factory=AmiSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    threeway: ThreeWaySettings = field(default_factory=ThreeWaySettings)
    seats: SeatSettings = field(default_factory=SeatSettings)
    orders: OrderSettings = field(default_factory=OrderSettings)
    overflow: OverflowSettings = field(default_factory=OverflowSettings)
    federation: FederationSettings = field(default_factory=FederationSettings)
    trunks: TrunkSettings = field(default_factory=TrunkSettings)
    logging: LogSettings = field(default_factory=LogSettings)

    @property
    def effective_database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.paths.state_dir / 'hotline.db'}"

    @property
    def feature_keys(self) -> dict[str, str]:
        """Every DTMF feature key a seat's leg may carry: feature name -> key."""
        return {**BUILTIN_FEATURE_KEYS, **self.threeway.keys, **self.handoff.keys}

    def with_(self, **parts: object) -> Settings:
        """A copy with parts changed.  Each keyword names a part; its value is
        a whole part, or a mapping of that part's fields to change:

            settings.with_(redis={"url": url}, paths=PathSettings(state_dir=tmp))
        """
        changes: dict[str, object] = {}
        for name, value in parts.items():
            if name not in _PART_NAMES:
                raise TypeError(f"Settings has no part {name!r} (parts: {', '.join(_PART_NAMES)})")
            changes[name] = replace(getattr(self, name), **value) if isinstance(value, Mapping) else value
        return replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        site = SiteSettings.from_env(env)
        handoff = HandoffSettings.from_env(env, centre_ids=site.centre_ids)
        threeway = ThreeWaySettings.from_env(env)
        # every key a seat can press in a call must be able to fire (core/feature_keys.py)
        _check_keys(env, {**threeway.keys, **handoff.keys},
                    {**_THREEWAY_VARIABLES, "handoff": _name_set(env, "HOTLINE_HANDOFF_KEY"),
                     "handoff_to": _name_set(env, "HOTLINE_HANDOFF_TO_KEY")})
        federation = FederationSettings.from_env(env)
        local = set(site.centre_ids) & set(federation.peer_centres)
        if local:
            raise SettingsError("HOTLINE_PEERS", f"centre {sorted(local)[0]} is served here (HOTLINE_CENTRES), "
                                                 "not by a peer")
        trunks = TrunkSettings.from_env(env)
        served = sorted(set(site.centre_ids) & set(trunks.remote_centres))
        if served:
            raise SettingsError("HOTLINE_REMOTE_CENTRES", f"centre {served[0]} is served here (HOTLINE_CENTRES), "
                                                          "not through a trunk")
        return cls(site=site, paths=PathSettings.from_env(env), network=NetworkSettings.from_env(env),
                   ami=AmiSettings.from_env(env), redis=RedisSettings.from_env(env),
                   database=DatabaseSettings.from_env(env), handoff=handoff, threeway=threeway,
                   seats=SeatSettings.from_env(env), orders=OrderSettings.from_env(env),
                   overflow=OverflowSettings.from_env(env),
                   federation=federation, trunks=trunks, logging=LogSettings.from_env(env))


_PART_NAMES = tuple(f.name for f in fields(Settings))
