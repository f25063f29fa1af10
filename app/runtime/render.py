"""Render asterisk-conf/ and dialplan/ into a run directory (I/O, no telephony).

The templates are Jinja2 files (`*.j2`); Asterisk's own `${...}` syntax passes
through untouched.  Ports, bind address, the AMI secret and seat passwords come
from `Settings` and `Secrets`; nothing is read from /etc/asterisk.

The dialplan is `extensions.conf` plus one included file per feature.  The
test rig's contexts (simulated seat phones, the simulated destination and
citizen handsets, the AGI benchmark: `dialplan/hotline-test-rig.conf.j2`) are
rendered only when asked for (`test_rig`), which simulated seats imply: a
simulated seat *is* a phone in that file.  A production render (SIP seats)
has none of them.
"""
from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import jinja2

from app.runtime.secrets import Secrets
from core import channel_vars as cv
from core.centres import Centre, centre_by_id, centres_spec, extension_patterns
from core.contexts import KNOWN_SEATS
from core.fast_path import (
    AFTER_MOVE,
    CHECKED_PARTS,
    CHECKS,
    GUARD,
    MOVE_TO,
    ON_ARRIVAL,
    PHONE_GUARD,
    PHONE_HANDOFF_ID,
    PHONE_SEAT_STEPS,
    PHONE_WRITES,
    REMOTE_HEADER,
    TO_ASTDB,
    checked_expression,
    guard_expression,
    move_pattern,
    mset,
    number_check,
    partner_of,
    partner_ready_source,
    phone_guard_expression,
    phone_move_to,
    regex,
)
from core.handoff import seat_interfaces
from core.overflow import TRUNK_CALL_GROUP, trunk_state_interface
from core.safety import (
    INVALID_NUMBER_LABEL,
    NUMBER_MAX,
    PRESENTED_MAX,
    check_line,
)
from core.seats import (
    BOOT_CONTEXT,
    DEFAULT_PAUSE_REASON,
    SEAT_FAMILY,
    SIGNED_IN,
    SIGNED_OUT,
    state_interface,
)
from core.settings import CENTRES_MAX_LEN, PROJECT_ROOT, Settings
from core.trunks import HANDOFF_HEADER, HANDOFF_HEADER_MAX, HANDOFF_HEADER_PATTERN

TEMPLATE_DIRS = (PROJECT_ROOT / "asterisk-conf", PROJECT_ROOT / "dialplan")
# Debian's asterisk-core-sounds-en-wav / asterisk-moh-opsound-wav packages.
SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
MOH_DIR = Path("/usr/share/asterisk/moh")
CLASSIC_AGI_ENV = "hotline-agi.env"  # in <run>/etc, mode 0600
# Rendered (and included by extensions.conf) only for the test rig.
TEST_RIG_TEMPLATES = frozenset({"hotline-test-rig.conf.j2"})


def _seat_patterns(settings: Settings) -> list[str]:
    """Every configured seat as few extension patterns (the handoff key's "a
    seat of ours", a seat phone dialling another seat)."""
    return extension_patterns(seat.extension for centre in settings.site.centres for seat in centre.seats)


def _known_seats(settings: Settings) -> list[dict[str, str]]:
    """The seats of each centre as extension patterns, each returning its
    centre: `Gosub(hotline-known-seats,<seat>,1)` sets GOSUB_RETVAL to the
    seat's centre (signing in and pausing), DIALPLAN_EXISTS says "a seat of ours"."""
    return [{"pattern": pattern, "centre": centre.id}
            for centre in settings.site.centres
            for pattern in extension_patterns(seat.extension for seat in centre.seats)]


def _handoff_centres(settings: Settings) -> list[dict[str, str]]:
    """The handoff key's globals per centre: partner (here or remote), its
    linkage queue (none for a remote partner), what says it is ready, release mode."""
    centres, remote = settings.site.centres, settings.trunks.remote_centres
    rows = []
    for centre in centres:
        partner = partner_of(centres, remote, centre.id)
        ready = partner_ready_source(centres, remote, centre.id)
        if partner is None or ready is None:
            continue
        local = centre_by_id(centres, partner)
        mode = settings.handoff.release_modes.get(centre.id, "on_answer")
        rows.append({"id": centre.id, "partner": partner, "partner_queue": local.linkage_queue if local else "",
                     "ready": ready, "release": "immediate" if mode == "immediate" else "on_answer"})
    return rows


def _remote_partners(settings: Settings) -> list[dict[str, str]]:
    """Remote centres some local centre hands over to on the fast path: the
    citizen's channel dials them over their peer trunk (hotline-handoff, to-<centre>)."""
    by_name = {t.name: t for t in settings.trunks.trunks}
    wanted = {row["partner"] for row in _handoff_centres(settings) if row["partner_queue"] == ""}
    return [{"id": centre, "dial": by_name[trunk].dial(centre)}
            for centre, trunk in settings.trunks.remote_centres.items() if centre in wanted]


def _handoff_context(settings: Settings) -> dict:
    """What the handoff's dialplan renders from core (core/fast_path.py)."""
    return_dial, return_device = seat_interfaces("${" + cv.RETURN_SEAT + "}", settings.site.seat_mode)
    return {
        "handoff_guard": GUARD,
        "handoff_guard_expression": guard_expression(),
        "handoff_checked_expression": checked_expression(),
        "handoff_checked_parts": CHECKED_PARTS,
        "handoff_move_to": MOVE_TO,
        "move_pattern": move_pattern,
        "handoff_on_arrival": ON_ARRIVAL,
        "handoff_on_arrival_mset": mset(ON_ARRIVAL),
        "handoff_after_move": AFTER_MOVE,
        "handoff_after_move_mset": mset(AFTER_MOVE),
        "handoff_to_astdb": TO_ASTDB,
        "handoff_astdb_mset": mset(TO_ASTDB),
        "return_dial": return_dial,
        "return_device": return_device,
        "seat_patterns": _seat_patterns(settings),
        "known_seats_context": KNOWN_SEATS,
        "known_seats": _known_seats(settings),
        "handoff_centres": _handoff_centres(settings),
        "handoff_remote_partners": _remote_partners(settings),
        "handoff_remote_ready": cv.HANDOFF_REMOTE_READY,
        # `;` starts a comment in a config file
        "handoff_remote_header": REMOTE_HEADER.replace(";", "\\;"),
        "phone_seat_steps": PHONE_SEAT_STEPS,
        "phone_guard": PHONE_GUARD,
        "phone_guard_expression": phone_guard_expression(),
        "phone_writes": PHONE_WRITES,
        "phone_writes_mset": mset(PHONE_WRITES),
        "phone_move_to": phone_move_to,
        "phone_handoff_id": PHONE_HANDOFF_ID,
    }


def _seats_context(settings: Settings) -> dict:
    """Signing in and pausing (core/seats.py): the keys, the reason codes, and
    a seat's interface and queues with `${seat}` / `${centre}` standing for
    the seat and its centre (dialplan/hotline-seats.conf.j2)."""
    iface, _ = seat_interfaces("${seat}", settings.site.seat_mode)
    placeholder = Centre("${centre}")
    return {
        "signin_key": settings.seats.signin_key,
        "pause_key": settings.seats.pause_key,
        "pause_reasons": dict(settings.seats.pause_reasons),
        "pause_default": DEFAULT_PAUSE_REASON,
        "seat_family": SEAT_FAMILY,
        "signed_in": SIGNED_IN,
        "signed_out": SIGNED_OUT,
        "default_signin": SIGNED_IN if settings.seats.signed_in_at_start else SIGNED_OUT,
        "boot_context": BOOT_CONTEXT,
        "seat_iface": iface,
        "seat_state_iface": state_interface(iface, settings.site.seat_mode),
        "seat_queue": placeholder.queue,
        "seat_linkage_queue": placeholder.linkage_queue,
    }


def _trunk_context(settings: Settings) -> dict:
    """Trunks (pjsip.conf) and the receiving side's check of X-Hotline-Handoff
    (hotline-trunks.conf), rendered from core/trunks.py; the limit of
    remote-overflow calls over trunks with max= (core/overflow.py)."""
    limited = [t for t in settings.trunks.trunks if t.max_calls is not None]
    names = "|".join(t.name for t in limited)  # [a-z][a-z0-9-]*: nothing a regex or the dialplan reads
    return {
        "overflow_trunks": [{"name": t.name, "max": t.max_calls, "state": trunk_state_interface(t.name)}
                            for t in limited],
        "overflow_trunk_leg": regex(f"^PJSIP/({names})-[0-9a-f]+$", "${CHANNEL(name)}") if limited else "",
        "trunk_call_group": TRUNK_CALL_GROUP,
        "trunks": settings.trunks.trunks,
        "site_dir": str(settings.paths.state_dir / "site"),
        "handoff_header": HANDOFF_HEADER,
        "handoff_header_max": HANDOFF_HEADER_MAX,
        "handoff_header_ok": regex(HANDOFF_HEADER_PATTERN, "${raw}"),
    }


# The global the test rig's hotline-rig-checks reads (set over AMI by the test).
RIG_CHECK_VALUE = "RIG_CHECK_VALUE"


def _context(settings: Settings, secrets: Secrets, agi_mode: str, verbose: int, test_rig: bool) -> dict:
    seats = []
    centres = []
    for centre in settings.site.centres:
        # seats are dynamic queue members (core/seats.py): queues.conf lists none
        for seat in centre.seats:
            seats.append({"extension": seat.extension, "centre": centre.id,
                          "password": secrets.seat_passwords[seat.extension]})
        centres.append({"id": centre.id, "name": centre.name, "queue": centre.queue,
                        "linkage_queue": centre.linkage_queue})
    return {
        "run_dir": str(settings.paths.run_dir),
        "prefix": str(settings.paths.asterisk_prefix),
        "verbose": verbose,
        "bind_host": settings.network.bind_host,
        "external_address": settings.network.external_address,
        "local_nets": settings.network.local_nets,
        "sip_port": settings.network.sip_port,
        "rtp_start": settings.network.rtp_start,
        "rtp_end": settings.network.rtp_end,
        "ami_port": settings.ami.port,
        "ami_bind": settings.ami.host,
        "ami_user": settings.ami.user,
        "ami_disabled_events": settings.ami.disabled_events,
        "stasis_declined": settings.ami.declined_message_types,
        "ami_secret": secrets.ami_secret,
        "agi_url": settings.network.agi_url,
        "agi_mode": agi_mode,
        "queue_timeout": settings.site.queue_timeout_s,
        "handoff_timeout": settings.handoff.timeout_s,
        "handoff_key": settings.handoff.key,
        "handoff_to_key": settings.handoff.to_key,
        "threeway_start_key": settings.threeway.start_key,
        "threeway_leave_key": settings.threeway.leave_key,
        "threeway_cancel_key": settings.threeway.cancel_key,
        "emergency_key": settings.threeway.emergency_key,
        "threeway_timeout": settings.threeway.timeout_s,
        "ring_timeout": settings.seats.ring_timeout_s,
        "centres": centres,
        "seats": seats,
        "handoff_fast": "yes" if settings.handoff.fast_path else "no",
        "handoff_yield": f"{settings.handoff.yield_ms / 1000:g}",
        "test_rig": test_rig,
        "rig_checks": [(name, check(RIG_CHECK_VALUE)) for name, check in CHECKS.items()] if test_rig else [],
        "number_max": NUMBER_MAX,
        "number_ok": "$[" + number_check("digits") + "]",
        "presented_max": PRESENTED_MAX,
        "invalid_label": INVALID_NUMBER_LABEL,
        **_handoff_context(settings),
        **_trunk_context(settings),
        **_seats_context(settings),
    }


def render(settings: Settings, secrets: Secrets, *, agi_mode: str = "fast", verbose: int = 0,
           test_rig: bool | None = None) -> Path:
    """Write the complete Asterisk configuration into `settings.paths.run_dir`.

    `test_rig`: render the test rig's contexts too (tests, demo, benchmarks);
    None: when the seats are simulated.  Returns the path of the rendered
    `asterisk.conf` (for `asterisk -C`).
    """
    if test_rig is None:
        test_rig = settings.site.seat_mode == "simulated"
    run = settings.paths.run_dir
    etc = run / "etc"
    for sub in ("etc", "lib", "lib/keys", "data", "agi-bin", "spool", "run", "log"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in TEMPLATE_DIRS]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    ctx = _context(settings, secrets, agi_mode, verbose, test_rig)
    for tdir in TEMPLATE_DIRS:
        for tpl in sorted(tdir.glob("*.j2")):
            out = etc / tpl.name[: -len(".j2")]
            if tpl.name in TEST_RIG_TEMPLATES and not test_rig:
                out.unlink(missing_ok=True)  # left by an earlier render of the rig
                continue
            out.write_text(env.get_template(tpl.name).render(ctx))
    os.chmod(etc / "manager.conf", 0o600)
    os.chmod(etc / "pjsip.conf", 0o600)
    _link(run / "data" / "sounds" / "en", SOUNDS_DIR)
    _link(run / "data" / "moh", MOH_DIR)
    write_agi_script(settings)
    return etc / "asterisk.conf"


def _link(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_symlink() or link.exists():
        if link.is_symlink() and Path(os.readlink(link)) == target:
            return
        if link.is_dir() and not link.is_symlink():
            shutil.rmtree(link)
        else:
            link.unlink()
    link.symlink_to(target)


def classic_agi_env(settings: Settings) -> dict[str, str]:
    """The settings the AGI routes build their context from (`agi.classic`), as
    the environment variables `Settings.from_env` reads back: centres and seat
    mode (the plan), the orders database and state dir (the order), Redis, the
    handoff keys, limit, release modes and routes,
    the catalogue and time limits (the order service)."""
    def minutes(limits: Mapping[str, timedelta]) -> str:
        return ",".join(f"{name}={int(value.total_seconds() // 60)}" for name, value in limits.items())

    env = {
        "HOTLINE_CENTRES": centres_spec(settings.site.centres),
        "HOTLINE_SEAT_MODE": settings.site.seat_mode,
        "HOTLINE_STATE_DIR": str(settings.paths.state_dir),
        "HOTLINE_DATABASE_URL": settings.database.url or "",
        "HOTLINE_REDIS_URL": settings.redis.url,
        "HOTLINE_REDIS_PREFIX": settings.redis.prefix,
        "HOTLINE_HANDOFF_KEY": settings.handoff.key,
        "HOTLINE_HANDOFF_TO_KEY": settings.handoff.to_key,
        "HOTLINE_HANDOFF_TIMEOUT": str(settings.handoff.timeout_s),
        "HOTLINE_RELEASE_MODES": ";".join(f"{c}:{m}" for c, m in settings.handoff.release_modes.items()),
        "HOTLINE_DESTINATION_ROUTES": ";".join(f"{d}={dial}"
                                               for d, dial in settings.handoff.destination_routes.items()),
        "HOTLINE_JURISDICTION": settings.orders.jurisdiction,
        "HOTLINE_SIGN_LIMITS": minutes(settings.orders.time_limits.sign),
        "HOTLINE_ON_SITE_LIMITS": minutes(settings.orders.time_limits.on_site),
        "HOTLINE_LOG_LEVEL": settings.logging.level,
    }
    for name, value in env.items():  # one line each: no value can start another
        check_line(name, value, max_len=CENTRES_MAX_LEN if name == "HOTLINE_CENTRES" else 1024)
    return env


def write_agi_script(settings: Settings) -> Path:
    """The classic agi-bin entry: the same routes, process per call (pyst2).

    The settings a route needs go into a file of `NAME=value` lines that only
    the owner can read (0600: the database and Redis URLs may hold
    passwords), written before it is renamed into place; the wrapper (0700)
    only names that file, so no value passes through the shell.  `render`
    calls this; a test that points the routes at another database calls it
    again.  Returns the wrapper's path.
    """
    run = settings.paths.run_dir
    (run / "agi-bin").mkdir(parents=True, exist_ok=True)
    env_path = run / "etc" / CLASSIC_AGI_ENV
    env_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = env_path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# hotline-link classic AGI settings — rendered, do not edit\n")
        fh.writelines(f"{name}={value}\n" for name, value in classic_agi_env(settings).items())
    os.chmod(tmp, 0o600)  # O_CREAT's mode only applies to a new file
    os.replace(tmp, env_path)
    path = run / "agi-bin" / "hotline-agi"
    path.write_text(
        "#!/bin/sh\n"
        "# hotline-link classic AGI: AGI(hotline-agi,<route>) — rendered, do not edit\n"
        f"cd {shlex.quote(str(PROJECT_ROOT))} || exit 1\n"
        f'exec {shlex.quote(sys.executable)} -m app.runtime.classic --env-file {shlex.quote(str(env_path))} "$@"\n'
    )
    path.chmod(0o700)
    return path
