"""The rendered dialplan as Asterisk reads it: extensions.conf and the files it includes."""
from __future__ import annotations

from core.settings import Settings


def rendered_dialplan(settings: Settings) -> dict[str, str]:
    """{file name: text} of `extensions.conf` and every file it `#include`s,
    as `app.runtime.render.render` wrote them into the run directory."""
    etc = settings.paths.run_dir / "etc"
    files = {"extensions.conf": (etc / "extensions.conf").read_text()}
    for line in files["extensions.conf"].splitlines():
        if line.startswith("#include "):
            name = line.split(None, 1)[1].strip()
            files[name] = (etc / name).read_text()
    return files
