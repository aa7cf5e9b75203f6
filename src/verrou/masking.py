"""Masking of values that must be shown somewhere (reports of rejected rows, dry runs).

A masked value keeps enough shape for an operator to recognise a systematic problem (a column of
phone numbers in the email field, a value cut short) and never enough to recover the identifier:
at most the first and last character, and the length.
"""

from __future__ import annotations

MASK = "•"


def mask_value(value: str | None) -> str:
    """``"jean.dupont@example.fr"`` → ``"j••••••••••••••••••••r (22)"``.

    Values of six characters or fewer are masked whole.
    """
    if value is None:
        return ""
    text = value.strip()
    n = len(text)
    if n == 0:
        return "(blank)"
    if n <= 6:
        return f"{MASK * n} ({n})"
    shown = min(n - 2, 20)
    return f"{text[0]}{MASK * shown}{text[-1]} ({n})"
