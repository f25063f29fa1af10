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


def token_seat(name: str) -> str | None:
    """The seat a `seat` token acts for, read from the token's name: the seat's
    extension itself (`1001`) or a name ending in `-<extension>` (`seat-1001`,
    `zhang-1001`, as `hotline token create --role seat --name seat-1001`).
    None: the token names no seat, so it may not act on any seat's sign-in or pause."""
    tail = name.rsplit("-", 1)[-1]
    return tail if tail.isdigit() and len(tail) <= 32 else None


def may_act_on_seat(role: str, token_name: str, seat: str) -> bool:
    """A seat signs in, out and pauses only itself; supervisors and admins any seat."""
    if allows(role, "supervisor"):
        return True
    return role == "seat" and token_seat(token_name) == seat
