"""Render asterisk-conf/ and dialplan/ into a run directory (I/O, no telephony).

The templates are Jinja2 files (`*.j2`); Asterisk's own `${...}` syntax passes
through untouched.  Ports, bind address, the AMI secret and seat passwords come
from `Settings` and `Secrets`; nothing is read from /etc/asterisk.
"""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import jinja2

from core.centres import centres_spec
from core.settings import PROJECT_ROOT, Settings
from app.secrets_store import Secrets

TEMPLATE_DIRS = (PROJECT_ROOT / "asterisk-conf", PROJECT_ROOT / "dialplan")
# Debian's asterisk-core-sounds-en-wav / asterisk-moh-opsound-wav packages.
SOUNDS_DIR = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
MOH_DIR = Path("/usr/share/asterisk/moh")
SEAT_RING_TIMEOUT_S = 15  # GB/T 33358: answer within 15 s


def _context(settings: Settings, secrets: Secrets, agi_mode: str, verbose: int) -> dict:
    seats = []
    centres = []
    for centre in settings.centres:
        members = []
        for seat in centre.seats:
            seats.append({"extension": seat.extension, "centre": centre.id,
                          "password": secrets.seat_passwords[seat.extension]})
            iface = seat.interface(settings.seat_mode)
            members.append({"interface": iface, "extension": seat.extension,
                            "state_interface": iface if settings.seat_mode == "sip" else ""})
        centres.append({"id": centre.id, "name": centre.name, "queue": centre.queue,
                        "linkage_queue": centre.linkage_queue, "members": members})
    return {
        "run_dir": str(settings.run_dir),
        "prefix": str(settings.asterisk_prefix),
        "verbose": verbose,
        "bind_host": settings.bind_host,
        "sip_port": settings.sip_port,
        "rtp_start": settings.rtp_start,
        "rtp_end": settings.rtp_end,
        "ami_port": settings.ami_port,
        "ami_bind": "127.0.0.1",
        "ami_user": settings.ami_user,
        "ami_secret": secrets.ami_secret,
        "agi_url": settings.agi_url,
        "agi_mode": agi_mode,
        "queue_timeout": settings.queue_timeout_s,
        "transfer_timeout": settings.transfer_timeout_s,
        "transfer_key": settings.transfer_key,
        "transfer_to_key": settings.transfer_to_key,
        "ring_timeout": SEAT_RING_TIMEOUT_S,
        "centres": centres,
        "seats": seats,
    }


def render(settings: Settings, secrets: Secrets, *, agi_mode: str = "fast", verbose: int = 0) -> Path:
    """Write the complete Asterisk configuration into `settings.run_dir`.

    Returns the path of the rendered `asterisk.conf` (for `asterisk -C`).
    """
    run = settings.run_dir
    etc = run / "etc"
    for sub in ("etc", "lib", "lib/keys", "data", "agi-bin", "spool", "run", "log"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(d) for d in TEMPLATE_DIRS]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    ctx = _context(settings, secrets, agi_mode, verbose)
    for tdir in TEMPLATE_DIRS:
        for tpl in sorted(tdir.glob("*.j2")):
            out = etc / tpl.name[: -len(".j2")]
            out.write_text(env.get_template(tpl.name).render(ctx))
    os.chmod(etc / "manager.conf", 0o600)
    os.chmod(etc / "pjsip.conf", 0o600)
    _link(run / "data" / "sounds" / "en", SOUNDS_DIR)
    _link(run / "data" / "moh", MOH_DIR)
    _write_agi_script(run / "agi-bin" / "hotline-agi", settings)
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


def _write_agi_script(path: Path, settings: Settings) -> None:
    """The classic agi-bin entry: the same routes, process per call (pyst2).

    The settings a route needs are written into the wrapper, so the script
    decides exactly as the FastAGI server does.
    """
    path.write_text(
        "#!/bin/sh\n"
        "# hotline-link classic AGI: AGI(hotline-agi,<route>) — rendered, do not edit\n"
        f"HOTLINE_CENTRES='{centres_spec(settings.centres)}'\n"
        f"HOTLINE_SEAT_MODE='{settings.seat_mode}'\n"
        "export HOTLINE_CENTRES HOTLINE_SEAT_MODE\n"
        f'cd "{PROJECT_ROOT}"\n'
        f'exec "{sys.executable}" -m agi.classic "$@"\n'
    )
    path.chmod(0o755)
