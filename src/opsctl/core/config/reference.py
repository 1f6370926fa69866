"""The configuration reference (docs/configuration.md), generated from the schema so the
document cannot drift from what the loader accepts (a test compares them)."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

HEADER = """\
# Configuration reference

Generated from the schema by `opsctl config reference` (a test keeps this file in step).
The file is YAML; unknown keys are errors, reported as `file:line: field.path: message`.
Relative paths are relative to the config file. Secrets (fields marked *secret*) may be
given inline, or as `<field>_file: PATH` (file content, stripped) or `<field>_env: VAR`;
they are masked in `opsctl config show` and never logged.

See `configs/opsctl.example.yaml` for a complete example.
"""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin in (typing.Union, types.UnionType):
        parts = [_type_name(a) for a in args if a is not type(None)]
        name = " | ".join(dict.fromkeys(parts))
        return name + (" (optional)" if type(None) in args else "")
    if origin is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if origin in (list, tuple, set):
        inner = ", ".join(_type_name(a) for a in args if a is not Ellipsis)
        return f"list of {inner}" if origin is list else f"({inner})"
    if origin is dict:
        return f"mapping {_type_name(args[0])} → {_type_name(args[1])}"
    if tp is SecretStr:
        return "string (*secret*)"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return f"[{tp.__name__}](#{tp.__name__.lower()})"
    return getattr(tp, "__name__", str(tp))


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    if info.default_factory is not None:
        try:
            value = info.default_factory()
        except TypeError:
            return "(computed)"
    else:
        value = info.default
    if value is PydanticUndefined:
        return ""
    if isinstance(value, BaseModel):
        return "(section defaults)"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"`{value!r}`" if value == "" else f"`{value}`"
    return f"`{value}`"


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    seen: list[type[BaseModel]] = []

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.append(tp)
            for f in tp.model_fields.values():
                visit(f.annotation)
            return
        for a in typing.get_args(tp):
            visit(a)

    visit(root)
    return seen


def render_markdown() -> str:
    from opsctl.core.config.models import OpsConfig

    out = [HEADER]
    for model in _models(OpsConfig):
        out.append(f"\n## {model.__name__}\n")
        doc = (model.__doc__ or "").strip()
        if doc and model is not OpsConfig:
            out.append(doc.splitlines()[0] + "\n")
        elif model is OpsConfig:
            out.append("The top level of the file.\n")
        out.append("| key | type | default | description |")
        out.append("|---|---|---|---|")
        for name, info in model.model_fields.items():
            desc = (info.description or "").replace("|", "\\|")
            typ = _type_name(info.annotation).replace("|", "\\|")
            out.append(f"| `{name}` | {typ} | {_default(info)} | {desc} |")
    return "\n".join(out) + "\n"
