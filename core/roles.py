"""API roles and what each may do (pure).

    seat        read orders and the catalogue, create online orders, move orders
                through their lifecycle, watch the live view
    supervisor  everything a seat may, plus reports and supervision (督办)
    admin       everything, plus configuration (catalogue edits)

Roles are ordered: a route that needs `seat` admits all three.  Whether a
role sees citizens' numbers unmasked is separate (`core.privacy`).
"""
from __future__ import annotations

from typing import Literal

Role = Literal["seat", "supervisor", "admin"]
ROLES: tuple[str, ...] = ("seat", "supervisor", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


def allows(role: str, needed: str) -> bool:
    """Whether `role` may use a route that needs `needed`."""
    return role in _RANK and _RANK[role] >= _RANK[needed]
