"""Config hook (called by the config loader): plan steps name existing hosts and UPSes."""

from __future__ import annotations


def validate_config(cfg) -> None:
    from opsctl.power.plans.model import validate_plans

    validate_plans(cfg)
