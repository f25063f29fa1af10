"""`hotline install-service`: systemd units for a production host (edge: writes files).

Four services and a target that holds them, one process per role as the
README's production section describes:

    hotline-link.target          everything below (`systemctl enable --now hotline-link.target`)
    hotline-agi.service          `hotline agi` (FastAGI; before Asterisk, so its first call finds it)
    hotline-asterisk.service     Asterisk in the foreground, its configuration rendered just before
    hotline-ami-bridge.service   `hotline ami-bridge` (live mirror, handoff journal, surge controller)
    hotline-web.service          `hotline web` (REST API, dashboard, /metrics behind a token)

All run as the unprivileged system user `--user` (default `hotline`, made
by the sysusers.d file written beside the units), with the state directory
`/var/lib/hotline-link` (systemd's StateDirectory: created and owned for
that user) and the settings in `/etc/hotline-link/hotline.env` (written from
`.env.example` if missing, mode 0640).  Every service restarts on failure;
the Python ones after Asterisk restarts re-sync over AMI on their own.
`hotline agi` and `hotline ami-bridge` serve /metrics on 127.0.0.1 ports of
their own (`--metrics-ports`, no token: keep them on loopback).

`--root DIR` writes under DIR instead of `/` (packaging, tests); `--dry-run`
prints the units instead.  Templates: `deploy/systemd/*.j2`.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import jinja2

from core.settings import PROJECT_ROOT, Settings

TEMPLATES = PROJECT_ROOT / "deploy" / "systemd"
STATE_DIR = Path("/var/lib/hotline-link")
ENV_FILE = Path("/etc/hotline-link/hotline.env")
UNITS = ("hotline-link.target", "hotline-agi.service", "hotline-asterisk.service",
         "hotline-ami-bridge.service", "hotline-web.service")
SYSUSERS = Path("etc/sysusers.d/hotline-link.conf")


@dataclass(frozen=True)
class UnitOptions:
    user: str = "hotline"
    hotline: Path = Path(sys.executable).parent / "hotline"  # the venv's console script
    asterisk: Path = Path("/usr/sbin/asterisk")
    agi_metrics_port: int = 9571
    bridge_metrics_port: int = 9572


def render_units(settings: Settings, options: UnitOptions) -> dict[str, str]:
    """Unit file name -> text (and the sysusers.d file under its relative path)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, autoescape=False)
    values = {
        "user": options.user, "hotline": str(options.hotline), "asterisk": str(options.asterisk),
        "state_dir": str(STATE_DIR), "state_name": STATE_DIR.name, "env_file": str(ENV_FILE),
        "asterisk_conf": str(STATE_DIR / "asterisk" / "etc" / "asterisk.conf"),
        "agi_metrics_port": options.agi_metrics_port, "bridge_metrics_port": options.bridge_metrics_port,
        "project": str(PROJECT_ROOT),
        # the venv or the Asterisk build in a home directory (a development box): readable, not writable
        "protect_home": "read-only" if any(str(p).startswith(("/home/", "/root/"))
                                           for p in (options.hotline, options.asterisk, PROJECT_ROOT)) else "yes",
    }
    out = {name: env.get_template(name + ".j2").render(**values) for name in UNITS}
    out[str(SYSUSERS)] = env.get_template("sysusers.conf.j2").render(**values)
    return out


def install(settings: Settings, options: UnitOptions, root: Path, *, dry_run: bool = False) -> list[Path]:
    """Write the units under `root` (and the env file if missing); return what was written."""
    rendered = render_units(settings, options)
    if dry_run:
        for name, text in rendered.items():
            print(f"# ---- {name}\n{text}")
        return []
    written: list[Path] = []
    for name, text in rendered.items():
        path = root / (name if "/" in name else f"etc/systemd/system/{name}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o644)
        written.append(path)
    env_file = root / ENV_FILE.relative_to("/")
    if not env_file.exists():
        env_file.parent.mkdir(parents=True, exist_ok=True)
        example = (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8")
        env_file.write_text(f"# hotline-link settings for the systemd units (from .env.example)\n"
                            f"HOTLINE_STATE_DIR={STATE_DIR}\nHOTLINE_ASTERISK_PREFIX={options.asterisk.parent.parent}\n"
                            f"{example}", encoding="utf-8")
        env_file.chmod(0o640)
        written.append(env_file)
    return written


def cmd_install_service(settings: Settings, args: argparse.Namespace) -> int:
    asterisk = Path(args.asterisk) if args.asterisk else settings.paths.asterisk_prefix.resolve() / "sbin" / "asterisk"
    agi_port, bridge_port = (int(p) for p in args.metrics_ports.split(","))
    options = UnitOptions(user=args.user, hotline=Path(args.hotline), asterisk=asterisk,
                          agi_metrics_port=agi_port, bridge_metrics_port=bridge_port)
    root = Path(args.root)
    written = install(settings, options, root, dry_run=args.dry_run)
    for path in written:
        print(f"wrote {path}")
    if args.dry_run:
        return 0
    if root == Path("/") and os.geteuid() == 0 and shutil.which("systemctl"):
        subprocess.call(["systemd-sysusers", str(root / SYSUSERS)])
        subprocess.call(["systemctl", "daemon-reload"])
        print(f"next: edit {ENV_FILE}, then `systemctl enable --now hotline-link.target`")
    else:
        print(f"next (as root): systemd-sysusers {root / SYSUSERS}; systemctl daemon-reload; "
              "systemctl enable --now hotline-link.target")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("install-service", help="write systemd units for agi, ami-bridge, web and Asterisk")
    p.add_argument("--root", default="/", help="write under this directory instead of / (packaging, tests)")
    p.add_argument("--dry-run", action="store_true", help="print the units, write nothing")
    p.add_argument("--user", default="hotline", help="the unprivileged user the services run as")
    p.add_argument("--hotline", default=str(UnitOptions.hotline), help="the `hotline` command the units run")
    p.add_argument("--asterisk", default="", help="the asterisk binary (default: HOTLINE_ASTERISK_PREFIX's)")
    p.add_argument("--metrics-ports", default="9571,9572",
                   help="loopback /metrics ports of `hotline agi` and `hotline ami-bridge`")
    p.set_defaults(fn=cmd_install_service)
