"""Ordered shutdown / restore plans run over SSH (see docs/power-plans.md).

Entry points: ``build_plan(cfg, name, kind=None) -> Plan`` (resolved, typed steps),
``validate_plans(cfg)``, ``run_plan(plan, cfg=, store=, dry_run=, on_step=) -> PlanRun``.

The names are resolved on first use (PEP 562): loading a config validates plans through
``model`` alone, and every command pays for the loader, not for the executor's imports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsctl.power.plans.execute import PlanRun, StepResult, run_plan
    from opsctl.power.plans.model import Plan, Step, build_plan, validate_plans

__all__ = ["Plan", "PlanRun", "Step", "StepResult", "build_plan", "run_plan", "validate_plans"]

_WHERE = {"PlanRun": "execute", "StepResult": "execute", "run_plan": "execute",
          "Plan": "model", "Step": "model", "build_plan": "model", "validate_plans": "model"}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
