"""opsctl: run a machine room — storage, power, inspections, duty log, daemon."""

__version__ = "0.1.0"
