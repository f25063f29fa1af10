"""`hotline install-service` renders systemd units that systemd accepts."""
from __future__ import annotations

import configparser
import subprocess
from pathlib import Path

import pytest

from app.runtime.cli import main

ROLES = {"hotline-agi.service": "agi", "hotline-ami-bridge.service": "ami-bridge", "hotline-web.service": "web"}


def _unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOTLINE_STATE_DIR", str(tmp_path / "dev-state"))
    asterisk = tmp_path / "asterisk" / "sbin" / "asterisk"
    asterisk.parent.mkdir(parents=True)
    asterisk.write_text("#!/bin/sh\n")
    asterisk.chmod(0o755)
    assert main(["install-service", "--root", str(tmp_path / "root"), "--user", "hotline-svc",
                 "--asterisk", str(asterisk), "--metrics-ports", "9581,9582"]) == 0
    return tmp_path / "root"


def test_when_installed_then_each_role_runs_as_the_unprivileged_user_and_restarts(installed: Path) -> None:
    units = installed / "etc" / "systemd" / "system"
    for name, role in ROLES.items():
        service = _unit(units / name)["Service"]
        assert service["ExecStart"].endswith(f"/hotline {role}")
        assert service["User"] == service["Group"] == "hotline-svc"
        assert service["Restart"] == "always" and service["StateDirectory"] == "hotline-link"
        assert service["NoNewPrivileges"] == "yes" and service["ProtectSystem"] == "strict"
        assert _unit(units / name)["Install"]["WantedBy"] == "hotline-link.target"
    agi = (units / "hotline-agi.service").read_text()
    assert "Environment=HOTLINE_METRICS_PORT=9581" in agi and "Before=hotline-asterisk.service" in agi
    assert "Environment=HOTLINE_METRICS_PORT=9582" in (units / "hotline-ami-bridge.service").read_text()
    asterisk = _unit(units / "hotline-asterisk.service")["Service"]
    assert asterisk["ExecStartPre"].endswith("/hotline render")
    assert asterisk["ExecStart"].endswith("-C /var/lib/hotline-link/asterisk/etc/asterisk.conf -f -n -q")
    assert asterisk["User"] == "hotline-svc" and asterisk["Restart"] == "always"
    wants = _unit(units / "hotline-link.target")["Unit"]["Wants"].split()
    assert sorted(wants) == sorted([*ROLES, "hotline-asterisk.service"])
    assert (installed / "etc/sysusers.d/hotline-link.conf").read_text().splitlines()[-1].startswith(
        'u hotline-svc - "hotline-link services" /var/lib/hotline-link')
    env = installed / "etc/hotline-link/hotline.env"
    assert env.stat().st_mode & 0o777 == 0o640
    assert "HOTLINE_STATE_DIR=/var/lib/hotline-link\n" in env.read_text()


def test_when_installed_twice_then_the_settings_file_is_kept(installed: Path, tmp_path: Path) -> None:
    env = installed / "etc/hotline-link/hotline.env"
    env.write_text("HOTLINE_CENTRES=12345:1001\n")
    assert main(["install-service", "--root", str(installed)]) == 0
    assert env.read_text() == "HOTLINE_CENTRES=12345:1001\n"


def test_when_dry_run_then_units_are_printed_and_nothing_written(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["install-service", "--root", str(tmp_path / "root"), "--dry-run"]) == 0
    assert not (tmp_path / "root").exists()
    out = capsys.readouterr().out
    assert "# ---- hotline-web.service" in out and "ExecStart=" in out


def test_when_rendered_then_systemd_analyze_verify_accepts_the_units(installed: Path) -> None:
    units = sorted((installed / "etc" / "systemd" / "system").iterdir())
    done = subprocess.run(["systemd-analyze", "verify", *map(str, units)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "hotline" not in done.stderr, done.stderr  # no warning about our units
