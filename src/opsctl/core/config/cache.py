"""The compiled config cache: a validated config kept between runs of the CLI.

Parsing the YAML, validating it with pydantic and running the domain checks takes most of
an everyday command's start-up (the model schemas alone ~90 ms on the reference machine).
A config that passed all of that is pickled into ``$XDG_CACHE_HOME/opsctl/config/``
(``~/.cache/opsctl/config/``) and reused while nothing it was made from has changed:

- the config file's bytes (compared by SHA-256, not by mtime: a same-second edit counts),
- every secret file and environment variable it read (``*_file`` / ``*_env``), by SHA-256
  of the value, or the error it gave (a missing key file stays "unresolved" until fixed),
- the working directory and ``$HOME`` (relative paths and ``~`` resolve against them),
- the opsctl code (size and mtime of every module), Python and pydantic.

Anything else — a damaged, foreign or unreadable file — is a miss and the config is loaded
the slow way; the cache is never a reason for an error. Only the CLI uses it; ``config
check`` always validates afresh (and refreshes the cache), the daemon loads directly. The
file holds secrets as the config does, so the directory is 0700 and the file 0600, owned
by the user, and a file anyone else could have written is never unpickled.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import pickle
import sys
import tempfile
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsctl.core.config.models import OpsConfig

log = logging.getLogger(__name__)

FORMAT = 1
# What loading read besides the config file: ("file", path, digest) / ("env", name, digest),
# and the secret values it registered with the log filter, replayed on a hit.
_reads: ContextVar[list[tuple[str, str, str]] | None] = ContextVar("opsctl_config_reads",
                                                                   default=None)


def enabled() -> bool:
    return os.environ.get("OPSCTL_CONFIG_CACHE", "1").lower() not in ("0", "off", "no", "false")


def _digest(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    return hashlib.sha256(data).hexdigest()


def note_file(path: Path, content: str | None, error: str | None) -> None:
    reads = _reads.get()
    if reads is not None:
        reads.append(("file", str(path), _digest(content) if error is None else "!" + error))


def note_env(name: str, value: str | None) -> None:
    reads = _reads.get()
    if reads is not None:
        reads.append(("env", name, "!" if value is None else _digest(value)))


def note_secret(value: str) -> None:
    reads = _reads.get()
    if reads is not None:
        reads.append(("secret", value, ""))


class Recorder:
    """Collects what a load reads (``with Recorder() as reads:``)."""

    def __enter__(self) -> list[tuple[str, str, str]]:
        self.reads: list[tuple[str, str, str]] = []
        self._token = _reads.set(self.reads)
        return self.reads

    def __exit__(self, *exc: object) -> None:
        _reads.reset(self._token)


def _still_same(kind: str, name: str, digest: str) -> bool:
    if kind == "file":
        try:
            content = Path(name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            return digest == "!" + f"cannot read {name}: {exc.strerror}"
        return digest == _digest(content)
    if kind == "env":
        value = os.environ.get(name)
        return digest == ("!" if value is None else _digest(value))
    return kind == "secret"


def _code_stamp() -> str:
    """Sizes and mtimes of opsctl's modules (an edited checkout invalidates the cache),
    Python's version and pydantic's installed version file."""
    import importlib.util

    h = hashlib.sha256(sys.version.encode())
    pkg = Path(__file__).resolve().parents[2]

    def walk(d: str) -> None:
        for e in sorted(os.scandir(d), key=lambda e: e.name):
            if e.is_dir(follow_symlinks=False):
                if e.name != "__pycache__":
                    walk(e.path)
            elif e.name.endswith(".py"):
                st = e.stat()
                h.update(f"{e.path}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())

    walk(str(pkg))
    spec = importlib.util.find_spec("pydantic")
    if spec is not None and spec.origin:
        st = os.stat(Path(spec.origin).with_name("version.py"))
        h.update(f"pydantic\0{st.st_mtime_ns}\0{st.st_size}".encode())
    return h.hexdigest()


def _cache_dir() -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        home = os.environ.get("HOME")
        if not home:
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "opsctl" / "config"


def _identity(where: Path) -> str:
    """What the config's meaning depends on besides its bytes: where it is and what
    relative paths and ``~`` resolve against."""
    return "\0".join([str(where), os.getcwd(), os.path.realpath(where),
                      os.environ.get("HOME", "")])


def _entry(where: Path) -> Path | None:
    d = _cache_dir()
    return None if d is None else d / (_digest(_identity(where))[:40] + ".pickle")


def _read_private(path: Path) -> bytes | None:
    """The file's bytes if it and its directory are ours and nobody else can write them."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        dst = os.stat(path.parent)
        uid = os.geteuid()
        if st.st_uid != uid or st.st_mode & 0o077 or dst.st_uid != uid or dst.st_mode & 0o077:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def load(where: Path, raw: bytes) -> OpsConfig | None:
    """The cached config for ``where`` whose bytes are ``raw``, or None (a miss)."""
    entry = None
    try:
        # A working directory deleted under us, a cache directory that vanishes: a miss.
        entry = _entry(where)
        blob = None if entry is None else _read_private(entry)
        if blob is None:
            return None
        header, payload = pickle.loads(blob)
        if header.get("format") != FORMAT or header.get("identity") != _identity(where) \
                or header.get("config") != _digest(raw) or header.get("code") != _code_stamp():
            return None
        reads = header["reads"]
        if not all(_still_same(*r) for r in reads):
            return None
        cfg = pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001 - any damage is a miss, never an error
        log.debug("config cache %s unusable: %s", entry, exc)
        return None
    _replay(cfg, reads)
    return cfg


def _replay(cfg: OpsConfig, reads: list[tuple[str, str, str]]) -> None:
    """The side effects a full load has beyond building the config."""
    from opsctl.core.config.loader import _publish_names
    from opsctl.core.logsetup import register_secret

    for kind, value, _ in reads:
        if kind == "secret":
            register_secret(value)
    _publish_names(cfg)
    # The power checks install the config's custom profiles into the registry; with none
    # configured only a registry already in use (an earlier config, same process) changes.
    if cfg.power.profiles:
        from opsctl.power.validate import install_custom

        install_custom(cfg)
    elif "opsctl.power.profiles.registry" in sys.modules:
        sys.modules["opsctl.power.profiles.registry"].set_custom([])


def save(where: Path, raw: bytes, cfg: OpsConfig, reads: list[tuple[str, str, str]]) -> None:
    """Write the cache entry; any failure is only logged (the cache is an optimisation)."""
    entry = None
    try:
        entry = _entry(where)
        if entry is None:
            return
        header: dict[str, Any] = {"format": FORMAT, "identity": _identity(where),
                                  "config": _digest(raw), "code": _code_stamp(),
                                  "reads": reads}
        blob = pickle.dumps((header, pickle.dumps(cfg, protocol=pickle.HIGHEST_PROTOCOL)),
                            protocol=pickle.HIGHEST_PROTOCOL)
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-", suffix=".pickle")
        try:
            with os.fdopen(fd, "wb") as fh:  # mkstemp: mode 0600
                fh.write(blob)
            os.replace(tmp, entry)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except Exception as exc:  # noqa: BLE001 - a read-only home must not fail a command
        log.debug("config cache %s not written: %s", entry, exc)

