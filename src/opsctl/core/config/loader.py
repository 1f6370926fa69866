"""Load and validate a config file."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from opsctl.core.config.models import OpsConfig
from opsctl.core.config.yamlsource import YamlDocument, format_loc, load_yaml
from opsctl.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

DEFAULT_CONFIG = Path("/etc/opsctl/opsctl.yaml")


def resolve_config_path(cli_value: str | os.PathLike | None) -> Path:
    if cli_value:
        return Path(cli_value)
    env = os.environ.get("OPSCTL_CONFIG")
    return Path(env) if env else DEFAULT_CONFIG


def _message(err: dict[str, Any]) -> str:
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        # pydantic renders "'1', '2c' or '3'"; people want "1, 2c, 3".
        opts = [o.strip().strip("'\"") for o in expected.replace(" or ", ", ").split(",")]
        return "must be one of " + ", ".join(o for o in opts if o)
    if kind == "extra_forbidden":
        return "unknown key (not part of the schema)"
    if kind == "missing":
        return "required field is missing"
    if kind == "string_pattern_mismatch":
        return f"{err['msg'].lower()} (got {err.get('input')!r})"
    if kind == "value_error":
        return str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
    if kind == "union_tag_invalid":
        return err["msg"]
    msg = err["msg"]
    if "input" in err and not isinstance(err["input"], dict | list):
        msg += f" (got {err['input']!r})"
    return msg


def _clean_loc(loc: tuple) -> tuple:
    # Drop pydantic's union-arm and tag names (e.g. 'check', 'EmailTarget') from the path.
    out = []
    for part in loc:
        if isinstance(part, str) and (part[:1].isupper() or part in {"check", "manual"}) and out \
                and isinstance(out[-1], int):
            continue
        if isinstance(part, str) and (part.startswith("function-") or "[" in part):
            continue
        out.append(part)
    return tuple(out)


def validate_document(doc: YamlDocument, model: type[M], context: dict | None = None) -> M:
    """Validate a YAML document against a model; errors become one ConfigError naming
    file:line: field (all of them in ``.all_messages``)."""
    try:
        return model.model_validate(doc.data, context=context)
    except ValidationError as exc:
        msgs = validation_errors(doc, exc)
        more = f" (and {len(msgs) - 1} more)" if len(msgs) > 1 else ""
        err = ConfigError(msgs[0] + more)
        err.all_messages = msgs  # type: ignore[attr-defined]
        raise err from None


def validation_errors(doc: YamlDocument, exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors(include_url=False):
        loc = _clean_loc(tuple(err["loc"]))
        line = doc.line_for(loc)
        where = f"{doc.path}:{line}" if line else str(doc.path)
        lines.append(f"{where}: {format_loc(loc)}: {_message(err)}")
    return lines


def parse_config(doc: YamlDocument) -> OpsConfig:
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{doc.path}:1: expected a mapping at the top level")
    base = doc.path.resolve().parent
    cfg = validate_document(doc, OpsConfig, context={"base_dir": base})
    if not cfg.state_dir.is_absolute():
        cfg.state_dir = (base / cfg.state_dir).resolve()
    cfg.duty.log_key_file = _rel(base, cfg.duty.log_key_file)
    cfg.store.password_file = _rel(base, cfg.store.password_file)
    cfg.store.sslrootcert = _rel(base, cfg.store.sslrootcert)
    cfg.duty.export_dir = _rel(base, cfg.duty.export_dir)
    for h in cfg.hosts:
        h.key_file = _rel(base, h.key_file)
        h.known_hosts = _rel(base, h.known_hosts)
    if cfg.daemon.export is not None and not cfg.daemon.export.directory.is_absolute():
        cfg.daemon.export.directory = cfg.state_dir / cfg.daemon.export.directory
    cfg._source = doc.path
    cfg._doc = doc
    _publish_names(cfg)
    from opsctl.core.config.secrets import find_unresolved

    for loc, secret in find_unresolved(cfg):
        secret.where = cfg.where(loc)
    return cfg


def _publish_names(cfg: OpsConfig) -> None:
    from opsctl.core.logsetup import register_public

    register_public([cfg.site.name, *(x.name for x in (*cfg.devices, *cfg.hosts, *cfg.people)),
                     *(d.host for d in cfg.devices), *(h.address for h in cfg.hosts),
                     *(p.name for p in cfg.inspection.profiles),
                     *(p.name for p in cfg.power.plans)])


def _rel(base: Path, p: Path | None) -> Path | None:
    if p is None:
        return None
    p = Path(os.path.expanduser(str(p)))
    return p if p.is_absolute() else (base / p)


def _missing(path: Path, given: str | os.PathLike | None) -> ConfigError:
    env = os.environ.get("OPSCTL_CONFIG")
    if env and (not given or str(given) == env):  # click passes the variable on as -c's value
        how = "from $OPSCTL_CONFIG"
    elif given:
        how = "given with -c/--config"
    else:
        how = "the default: neither -c/--config nor $OPSCTL_CONFIG is set"
    return ConfigError(
        f"no config file: {path}: no such file ({how})",
        hint=f"create one with `opsctl config init {path}` (a minimal commented config), "
             "or name yours with `-c PATH` or `export OPSCTL_CONFIG=PATH`")


def load_config(path: str | os.PathLike | None = None, *, cache: str = "off") -> OpsConfig:
    """Load, validate and post-validate (domain hooks) the config at ``path``.

    ``cache``: "off" loads afresh; "use" takes the compiled config from the cache when
    nothing it was made from changed (config/cache.py) and writes it after a fresh load;
    "refresh" loads afresh and writes it (``config check``).
    """
    where = resolve_config_path(path)
    if not where.exists() and not where.is_symlink():
        raise _missing(where, path)
    from opsctl.core.config import cache as compiled

    if cache == "off" or not compiled.enabled():
        return _load(where)
    try:
        raw = where.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return _load(where)  # the fresh load says what is wrong with the file
    if cache == "use":
        cfg = compiled.load(where, raw)
        if cfg is not None:
            return cfg
    with compiled.Recorder() as reads:
        cfg = _load(where, text)
    compiled.save(where, raw, cfg, reads)
    return cfg


def _load(where: Path, text: str | None = None) -> OpsConfig:
    with _no_pydantic_plugins():
        doc = load_yaml(where, text=text)
        cfg = parse_config(doc)
        for hook in _post_validators():
            hook(cfg)
    return cfg


@contextlib.contextmanager
def _no_pydantic_plugins() -> Iterator[None]:
    """Build the config's schemas without pydantic's plugin discovery: it reads the entry
    points of every installed distribution (~15-30 ms of each fresh load) to find
    observability plugins a config has no use for. ``PYDANTIC_DISABLE_PLUGINS`` is
    pydantic's documented switch; one the user set is left alone."""
    if "PYDANTIC_DISABLE_PLUGINS" in os.environ:
        yield
        return
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    try:
        yield
    finally:
        os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)


_POST_VALIDATORS = ("opsctl.inspection.validate", "opsctl.power.validate",
                    "opsctl.daemon.validate", "opsctl.power.plans.validate",
                    "opsctl.handover.validate")


def _post_validators():
    """Domain checks that need domain knowledge (check registry, profile tables).

    Each domain may ship a ``validate`` module with ``validate_config(cfg)`` that raises
    ConfigError using ``cfg.where(loc)``; absent modules are simply skipped.
    """
    import importlib
    import importlib.util

    hooks = []
    for name in _POST_VALIDATORS:
        if importlib.util.find_spec(name) is not None:
            hooks.append(importlib.import_module(name).validate_config)
    return hooks
