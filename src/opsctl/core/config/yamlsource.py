"""YAML loading that remembers where every value came from, so a validation error can
say ``opsctl.yaml:14: devices[2].snmp.version: …``."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from opsctl.core.errors import ConfigError

Loc = tuple[str | int, ...]


@dataclass
class YamlDocument:
    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)

    def line_for(self, loc: Loc) -> int | None:
        """The line of the deepest located ancestor of ``loc``."""
        loc = tuple(loc)
        while True:
            if loc in self.lines:
                return self.lines[loc]
            if not loc:
                return None
            loc = loc[:-1]


class _Loader(yaml.SafeLoader):
    pass


def _construct(node: yaml.Node, loc: Loc, lines: dict[Loc, int], loader: _Loader) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int | float | bool) and key is not None:
                raise ConfigError(
                    f"{loader.name}:{key_node.start_mark.line + 1}: mapping keys must be scalars"
                )
            if key in out:
                raise ConfigError(
                    f"{loader.name}:{key_node.start_mark.line + 1}: "
                    f"{format_loc(loc + (str(key),))}: duplicate key"
                )
            child = loc + (str(key),)
            out[key] = _construct(value_node, child, lines, loader)
            lines[child] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, loc + (i,), lines, loader) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def load_yaml(path: str | Path, *, text: str | None = None) -> YamlDocument:
    path = Path(path)
    if text is None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except PermissionError:
            raise ConfigError(f"{path}: permission denied") from None
        except IsADirectoryError:
            raise ConfigError(f"{path}: is a directory, expected a YAML file") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc.reason})") from None
    loader = _Loader(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        data = {} if node is None else _construct(node, (), lines, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    finally:
        loader.dispose()
    return YamlDocument(path=path, data=data, lines=lines)


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"
