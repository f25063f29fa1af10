"""Classic (process-per-call) AGI entry: `AGI(hotline-agi,<route>)` (I/O).

Asterisk runs the rendered agi-bin wrapper, which runs this module with the
route name as argument; the AGI environment arrives on stdin (pyst2's
`asterisk.agi.AGI`).  Settings come from the environment the wrapper sets.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys

from agi.call import ClassicAgiCall
from agi.dispatch import dispatch
from core.settings import Settings


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="hotline-agi %(levelname)s %(name)s: %(message)s")
    from asterisk.agi import AGI  # pyst2

    agi = AGI()
    settings = Settings.from_env(os.environ)
    name = argv[0] if argv else ""
    outcome = asyncio.run(dispatch(name, ClassicAgiCall(agi), settings))
    return 0 if outcome in ("ok", "hangup") else 1


if __name__ == "__main__":
    sys.exit(main())
