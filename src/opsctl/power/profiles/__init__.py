"""UPS, switch and sensor profiles as data tables; see base.py and docs/power.md."""
