"""What every command gets: global options, lazily loaded config and store, output."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import click

from opsctl.core.output import Output


@dataclass
class AppContext:
    config_path: str | None = None
    json: bool = False
    verbose: int = 0
    color: bool | None = None
    _cfg: object = field(default=None, repr=False)
    _store: object = field(default=None, repr=False)

    @cached_property
    def out(self) -> Output:
        return Output(json_mode=self.json, color=self.color, verbose=self.verbose)

    @property
    def config_file(self) -> Path:
        from opsctl.core.config import resolve_config_path

        return resolve_config_path(self.config_path)

    @property
    def cfg(self):
        if self._cfg is None:
            from opsctl.core import i18n
            from opsctl.core.config import load_config

            # Everyday commands take the compiled config when the file has not changed.
            self._cfg = load_config(self.config_path, cache="use")
            i18n.set_language(self._cfg.site.language)
        return self._cfg

    @property
    def store(self):
        if self._store is None:
            from opsctl.core.store import Store

            # Read-only when the user may read but not write it: read commands and
            # `duty log verify` work for an auditor; a write says why it cannot.
            self._store = Store.for_config(self.cfg, readonly=None)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


pass_app = click.make_pass_decorator(AppContext, ensure=True)
