"""Ordered shutdown / restore plans run over SSH (see docs/power-plans.md).

Entry points: ``build_plan(cfg, name, kind=None) -> Plan`` (resolved, typed steps),
``validate_plans(cfg)``, ``run_plan(plan, cfg=, store=, dry_run=, on_step=) -> PlanRun``.
"""

from opsctl.power.plans.execute import PlanRun, StepResult, run_plan
from opsctl.power.plans.model import Plan, Step, build_plan, validate_plans

__all__ = ["Plan", "PlanRun", "Step", "StepResult", "build_plan", "run_plan", "validate_plans"]
