"""Configuration: YAML → pydantic, with errors that name file, line and field."""

from opsctl.core.config.loader import DEFAULT_CONFIG, load_config, resolve_config_path
from opsctl.core.config.models import OpsConfig

__all__ = ["DEFAULT_CONFIG", "OpsConfig", "load_config", "resolve_config_path"]
