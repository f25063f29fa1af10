"""Pure domain of hotline-link: centres, seats, routing decisions, live-state model.

This package does no I/O and imports nothing from panoramisk, aiohttp,
SQLAlchemy or redis; `agi`, `ami_bridge` and `app` translate and carry out.
"""
