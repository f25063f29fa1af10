"""`.env.example` against the settings code: every variable the settings read is
documented there, nothing else is, and each value shown is the default the code
really uses — so the two cannot drift (issue 15: the file once said the handoff
fast path was off while the code said on)."""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import pytest

from core.settings import PROJECT_ROOT, RENAMED_VARIABLES, Settings

EXAMPLE = PROJECT_ROOT / ".env.example"
# `# NAME=value`: a setting and its default, commented out
DOCUMENTED = re.compile(r"^# (HOTLINE_[A-Z0-9_]+)=(.*)$")


class RecordingEnv(Mapping[str, str]):
    """An empty environment that remembers every variable asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        self.asked.add(str(name))
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def documented() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = DOCUMENTED.match(line)
        if m:
            assert m.group(1) not in found, f"{m.group(1)} documented twice"
            found[m.group(1)] = m.group(2)
    return found


def test_every_variable_the_settings_read_is_documented_and_nothing_else() -> None:
    env = RecordingEnv()
    Settings.from_env(env)
    read = env.asked - set(RENAMED_VARIABLES)  # the old names are named in a comment, not as settings
    assert read, "the recording environment saw no read"
    assert sorted(read - set(documented())) == [], "read by core/settings.py, missing from .env.example"
    assert sorted(set(documented()) - read) == [], "in .env.example, never read by core/settings.py"


@pytest.mark.parametrize("name,value", sorted(documented().items()))
def test_each_value_shown_in_env_example_is_the_default(name: str, value: str) -> None:
    assert Settings.from_env({name: value}) == Settings.from_env({}), \
        f".env.example shows {name}={value}, which is not what the code does when it is unset"


def test_every_variable_in_the_readme_settings_table_is_in_env_example() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("| variable | default | meaning |", 1)[1].split("\n\n", 1)[0]
    named = set(re.findall(r"`(HOTLINE_[A-Z0-9_]+)`", table))
    assert len(named) > 20, "the README's settings table was not found"
    assert sorted(named - set(documented())) == []
