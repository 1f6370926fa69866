"""RAID levels as data: what mdadm accepts and what each level tolerates."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    name: str            # mdadm's --level value
    min_devices: int
    redundancy: int      # members that may fail without data loss
    spares: bool         # hot spares make sense
    growable: bool       # mdadm --grow --raid-devices works


LEVELS: dict[str, Level] = {
    "0": Level("0", 2, 0, False, True),
    "1": Level("1", 2, 1, True, True),
    "4": Level("4", 3, 1, True, True),
    "5": Level("5", 3, 1, True, True),
    "6": Level("6", 4, 2, True, True),
    "10": Level("10", 2, 1, True, False),
}


def level(text: str) -> Level:
    from opsctl.core.errors import UsageError

    key = str(text).lower().removeprefix("raid")
    if key not in LEVELS:
        raise UsageError(f"unknown RAID level {text!r}: expected one of "
                         + ", ".join(LEVELS))
    return LEVELS[key]


def usable_fraction(lv: Level, members: int) -> float:
    if lv.name == "0":
        return members
    if lv.name in ("1",):
        return 1
    if lv.name == "10":
        return members / 2
    return members - lv.redundancy
