"""Masking of citizens' numbers for roles without the privilege (保护隐私) (pure).

What a masked viewer sees: the first three and the last four characters of a
number of eleven or more (`13800138000` → `138****8000`, a mobile or a
landline with area code), the first two and last two of seven to ten
(`88123456` → `88****56`), only the first character of a shorter one
(`12345` → `1****`).  At least four characters are always hidden.  Which roles see numbers in
full is configuration (`Settings.orders.unmasked_roles`), decided at the edge.
"""
from __future__ import annotations


def mask_number(number: str | None) -> str | None:
    """The number as a viewer without the privilege sees it."""
    if not number:
        return number
    n = len(number)
    if n >= 11:
        return number[:3] + "*" * (n - 7) + number[-4:]
    if n >= 7:
        return number[:2] + "*" * (n - 4) + number[-2:]
    return number[0] + "*" * (n - 1)


def shown_number(number: str | None, role: str, unmasked_roles: frozenset[str]) -> str | None:
    """`number` in full for a role in `unmasked_roles`, masked otherwise."""
    return number if role in unmasked_roles else mask_number(number)
