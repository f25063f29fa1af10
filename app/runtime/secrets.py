"""Per-installation secrets: the AMI secret and the seats' SIP passwords (I/O).

Nothing ships with a default password.  On first start a random secret is
generated for AMI and for every seat and kept in `<state_dir>/secrets.json`
(mode 0600); later starts reuse it so registered softphones keep working.
`HOTLINE_AMI_SECRET` overrides the generated AMI secret.
"""
from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass

from core.settings import Settings


@dataclass(frozen=True)
class Secrets:
    ami_secret: str
    seat_passwords: dict[str, str]


def _new() -> str:
    return secrets.token_urlsafe(18)


def load_or_create(settings: Settings) -> Secrets:
    path = settings.paths.state_dir / "secrets.json"
    data: dict = {}
    if path.exists():
        data = json.loads(path.read_text())
    changed = False
    if not data.get("ami_secret"):
        data["ami_secret"] = _new()
        changed = True
    seats = data.setdefault("seat_passwords", {})
    for centre in settings.site.centres:
        for seat in centre.seats:
            if not seats.get(seat.extension):
                seats[seat.extension] = _new()
                changed = True
    if changed:
        settings.paths.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, path)
    return Secrets(ami_secret=settings.ami.secret or data["ami_secret"], seat_passwords=dict(seats))
