"""One registry of anatomical labels and Modic types, shared by every stage and the CLI."""

from __future__ import annotations

from enum import IntEnum


class ModicType(IntEnum):
    """Modic classes as written in ``modic_map.nii.gz`` and the CSV tables."""

    NONE = 0
    TYPE1 = 1  # oedema: T1 dark, T2 bright
    TYPE2 = 2  # fatty: T1 bright, T2 iso/bright
    TYPE3 = 3  # sclerosis: T1 dark, T2 dark


def _verse_names() -> dict[str, int]:
    names: dict[str, int] = {}
    for i in range(1, 8):
        names[f"C{i}"] = i
    for i in range(1, 13):
        names[f"T{i}"] = 7 + i
    for i in range(1, 7):
        names[f"L{i}"] = 19 + i
    names["S1"] = 26
    return names


#: VerSe label codes of the vertebral bodies: C1-C7 = 1-7, T1-T12 = 8-19,
#: L1-L5 = 20-24, L6 = 25, sacrum (S1) = 26.
VERTEBRA_CODES: dict[str, int] = _verse_names()
VERTEBRA_NAMES: dict[int, str] = {code: name for name, code in VERTEBRA_CODES.items()}
SACRUM_CODE = VERTEBRA_CODES["S1"]
L5_CODE = VERTEBRA_CODES["L5"]
L6_CODE = VERTEBRA_CODES["L6"]


def vertebra_name(code: int) -> str:
    """VerSe code -> name (``24`` -> ``"L5"``)."""
    try:
        return VERTEBRA_NAMES[int(code)]
    except KeyError:
        raise ValueError(f"{code} is not a VerSe vertebral-body code (1-26)") from None


def vertebra_code(name: str) -> int:
    """Name -> VerSe code (``"L5"`` -> ``24``)."""
    try:
        return VERTEBRA_CODES[name.upper()]
    except KeyError:
        raise ValueError(f"{name!r} is not a vertebra name (C1-C7, T1-T12, L1-L6, S1)") from None


def codes_from_sacrum(n_above: int, *, sacrum_code: int = SACRUM_CODE) -> list[int]:
    """Codes of the ``n_above`` bodies above the sacrum, lowest first (L5, L4, ...).

    The lumbar spine normally has five bodies; a sixth lumbar-type body (L6) only
    exists when the caller has decided the anatomy is transitional, so this plain
    count always goes L5 -> L4 -> ... -> L1 -> T12 -> ...
    """
    codes = []
    code = sacrum_code
    for _ in range(n_above):
        code = L5_CODE if code == sacrum_code else code - 1
        if code < 1:
            break
        codes.append(code)
    return codes


def level_name(upper_code: int, lower_code: int) -> str:
    """Disc level name from its two bodies, e.g. ``L4-L5`` or ``L5-S1``."""
    return f"{vertebra_name(upper_code)}-{vertebra_name(lower_code)}"
