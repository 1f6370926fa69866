"""YAML loading that remembers where every value came from, so a validation error can
say ``opsctl.yaml:14: devices[2].snmp.version: …``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opsctl.core.errors import ConfigError

if TYPE_CHECKING:
    import yaml

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


# Aliases make a small file describe a huge tree ("billion laughs": 342 bytes became
# gigabytes and minutes of CPU). Real configs have a few thousand values and a nesting
# depth below 10; anything far beyond that is refused before it is built.
MAX_VALUES = 200_000
MAX_DEPTH = 64

# C0 controls other than tab and newline (and DEL): a NUL or ESC in a value is never
# meant, and an ESC reaches terminals when the value is printed.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


# libyaml's parser (PyYAML's C extension) when it is there: the nodes, marks and
# constructors are the same, and parsing is several times faster than the pure-Python one
# (~25 ms of every command's start-up on the example config). PyYAML itself is imported
# only to parse: a config from the compiled cache (config/cache.py) needs only
# YamlDocument.
@cache
def _loader_class() -> type:
    import yaml

    class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    return _Loader


def _check_size(root: yaml.Node, name: str) -> None:
    """Refuse a node graph whose expansion is too big or too deep, before building it.

    Sizes are computed once per distinct node (aliases share nodes), so even a bomb is
    measured in microseconds."""
    import yaml

    sizes: dict[int, int] = {}
    visiting: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        where = f"{name}:{node.start_mark.line + 1}"
        if key in visiting:
            raise ConfigError(f"{where}: recursive alias (a value that contains itself)")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: nested deeper than {MAX_DEPTH} levels")
        visiting.add(key)
        n = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                n += size(k, depth + 1) + size(v, depth + 1)
        elif isinstance(node, yaml.SequenceNode):
            for v in node.value:
                n += size(v, depth + 1)
        visiting.discard(key)
        if n > MAX_VALUES:
            raise ConfigError(f"{where}: more than {MAX_VALUES} values once aliases are "
                              "expanded (an alias bomb?); refusing to expand it")
        sizes[key] = n
        return n

    size(root, 0)


def _construct(node: yaml.Node, loc: Loc, lines: dict[Loc, int], loader: Any) -> Any:
    import yaml

    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ConfigError(
                    f"{loader.name}:{key_node.start_mark.line + 1}: mapping keys must be scalars"
                )
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
    value = loader.construct_object(node, deep=True)
    if isinstance(value, str) and (bad := _CONTROL.search(value)):
        raise ConfigError(
            f"{loader.name}:{node.start_mark.line + 1}: {format_loc(loc)}: control character "
            f"U+{ord(bad.group()):04X} in a value (not allowed)")
    return value


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
    import yaml

    loader = _loader_class()(text)
    loader.name = str(path)
    try:
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        if node is not None:
            _check_size(node, str(path))
        data = {} if node is None else _construct(node, (), lines, loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nested too deeply") from None
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
