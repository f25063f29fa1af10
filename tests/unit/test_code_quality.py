"""The code base passes ruff and mypy with the rule sets in pyproject.toml
([tool.ruff]; [tool.mypy]: strict on core/ and agi/, checked elsewhere), so
`./hotline test` and CI fail on a lint or type finding as on any other test."""
from __future__ import annotations

import subprocess
import sys

import pytest

from core.settings import PROJECT_ROOT


def _run(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`python -m <args>` with this interpreter (the venv's ruff and mypy), in the project root."""
    return subprocess.run([sys.executable, "-m", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_ruff_finds_nothing_in_the_code_base() -> None:
    result = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".", timeout=60)
    if result.returncode != 0:
        pytest.fail(f"ruff check found problems:\n{result.stdout}{result.stderr}", pytrace=False)


@pytest.mark.timeout(300)  # a first run (no .mypy_cache) on a busy 2-core machine
def test_mypy_finds_nothing_in_the_code_base() -> None:
    result = _run("mypy", timeout=280)  # the files and flags come from [tool.mypy]
    if result.returncode != 0:
        pytest.fail(f"mypy found problems:\n{result.stdout}{result.stderr}", pytrace=False)
