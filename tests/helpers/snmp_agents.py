"""Real SNMP agents for tests: net-snmp ``snmpd`` and ``snmpsim`` on free 127.0.0.1 ports.

Importable from any test (tests/conftest.py puts tests/helpers on sys.path)::

    from snmp_agents import Snmpd, Snmpsim, free_udp_port, snmpget

    with Snmpsim([FIXTURES / "ups-online.snmprec"]) as sim:      # community = file stem
        sim.port ...
    with Snmpd(values=[("1.3.6.1.2.1.33.1.2.4.0", "integer", 97)],
               v3_users=[V3User("opsmon", "authkey123", "privkey123")]) as agent:
        agent.port ...

Both always stop their process (context manager / ``stop()``; use them in fixtures with
``yield``). snmpsim refuses to run as root: as root it is started with
``--process-user=nobody`` from the venv tests/setup.sh builds where nobody can read it
(``$OPSCTL_TEST_CACHE/snmpsim``, default /var/cache/opsctl-test/snmpsim), and its data
and cache are copied to a world-readable temp dir; as another user it runs from the test
environment itself (.venv has snmpsim). ``$OPSCTL_SNMPSIM_VENV`` overrides the venv.
``snmpsim_available()`` / ``snmpd_available()`` say whether a test can run.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def _snmpsim_venv() -> Path:
    if os.environ.get("OPSCTL_SNMPSIM_VENV"):
        return Path(os.environ["OPSCTL_SNMPSIM_VENV"])
    if os.geteuid() == 0:
        # snmpsim drops to nobody, who cannot read a venv under /root or a pyenv Python.
        return Path(os.environ.get("OPSCTL_TEST_CACHE", "/var/cache/opsctl-test")) / "snmpsim"
    return Path(sys.prefix)


SNMPSIM_VENV = _snmpsim_venv()
SNMPSIM_BIN = SNMPSIM_VENV / "bin" / "snmpsim-command-responder"
SNMPD_BIN = shutil.which("snmpd", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")

# snmprec type code -> snmpd `override` type
_SNMPREC_TO_OVERRIDE = {
    "2": "integer", "4": "octet_str", "4x": "octet_str", "6": "object_id",
    "64": "ipaddress", "65": "counter", "66": "unsigned", "67": "timeticks",
}  # snmpd's override cannot serve Counter64 or NULL: use snmpsim for those


def snmpsim_available() -> bool:
    return SNMPSIM_BIN.exists() and os.access(SNMPSIM_BIN, os.X_OK)


def snmpd_available() -> bool:
    return SNMPD_BIN is not None


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snmpget(port: int, community: str, *oids: str, extra: Sequence[str] = (),
            timeout: float = 1, retries: int = 1) -> subprocess.CompletedProcess:
    """net-snmp's snmpget, numeric output (-On -Oe -Ot: numeric OIDs, enums, raw ticks)."""
    argv = ["snmpget", "-On", "-Oe", "-Ot", "-m", "", "-t", str(timeout), "-r", str(retries)]
    if not any(a == "-v" for a in extra):
        argv += ["-v2c", "-c", community]
    argv += [*extra, f"127.0.0.1:{port}", *oids]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                          env={**os.environ, "LC_ALL": "C", "MIBS": ""})


def snmpget_values(port: int, community: str, *oids: str, **kw) -> dict[str, str]:
    """``{oid: raw value text}`` parsed from snmpget output (the reference reader)."""
    res = snmpget(port, community, *oids, **kw)
    out: dict[str, str] = {}
    for line in res.stdout.splitlines():
        if " = " not in line:
            continue
        oid, rest = line.split(" = ", 1)
        value = rest.split(": ", 1)[1] if ": " in rest else rest
        out[oid.lstrip(".")] = value.strip().strip('"')
    return out


def _wait_ready(port: int, community: str, proc: subprocess.Popen, what: str,
                extra: Sequence[str] = (), deadline: float = 20.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before answering")
        r = snmpget(port, community, "1.3.6.1.2.1.1.2.0", extra=extra, timeout=0.5, retries=0)
        if r.returncode == 0 and "Timeout" not in r.stderr:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer on 127.0.0.1:{port} within {deadline:g}s")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def read_snmprec(path: Path) -> list[tuple[str, str, str]]:
    rows = []
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        oid, typ, value = line.split("|", 2)
        rows.append((oid, typ, value))
    return rows


def snmprec_overrides(path: Path) -> list[tuple[str, str, str]]:
    """Turn a .snmprec recording into snmpd ``override`` values (numeric types only
    where snmpd supports them; NULL rows are skipped since snmpd cannot serve NULL)."""
    out = []
    for oid, typ, value in read_snmprec(path):
        kind = _SNMPREC_TO_OVERRIDE.get(typ)
        if kind is None:
            continue
        if typ == "4x":
            value = bytes.fromhex(value).decode("latin-1")
        out.append((oid, kind, value))
    return out


# -- snmpsim ------------------------------------------------------------------------------------
class Snmpsim:
    """snmpsim serving ``.snmprec`` files (community = file stem) on a free port."""

    def __init__(self, recordings: Iterable[Path | str], port: int | None = None,
                 v3_user: tuple[str, str, str] | None = None):
        self.recordings = [Path(p) for p in recordings]
        self.port = port or free_udp_port()
        self.v3_user = v3_user  # (user, auth_key, priv_key): SHA + AES
        self.proc: subprocess.Popen | None = None
        self.tmp: Path | None = None

    def start(self) -> Snmpsim:
        if not snmpsim_available():
            raise RuntimeError(f"snmpsim not installed at {SNMPSIM_BIN} "
                               "(run tests/setup.sh)")
        self.tmp = Path(tempfile.mkdtemp(prefix="opsctl-snmpsim-"))
        data = self.tmp / "data"
        cache = self.tmp / "cache"
        data.mkdir()
        cache.mkdir()
        for rec in self.recordings:
            shutil.copy(rec, data / rec.name)
        # snmpsim drops to nobody: it must read the data and write its index cache.
        for p in (self.tmp, data, cache, *data.iterdir()):
            os.chmod(p, 0o777 if p.is_dir() else 0o644)
        argv = [str(SNMPSIM_BIN), f"--data-dir={data}", f"--cache-dir={cache}",
                f"--agent-udpv4-endpoint=127.0.0.1:{self.port}", "--log-level=error",
                "--logging-method=stderr"]
        if os.geteuid() == 0:
            argv += ["--process-user=nobody", "--process-group=nogroup"]
        if self.v3_user:
            user, akey, pkey = self.v3_user
            argv += [f"--v3-user={user}", f"--v3-auth-key={akey}", "--v3-auth-proto=SHA",
                     f"--v3-priv-key={pkey}", "--v3-priv-proto=AES"]
        self.log = open(self.tmp / "snmpsim.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            _wait_ready(self.port, self.recordings[0].stem if self.recordings else "public",
                        self.proc, "snmpsim", deadline=40)
        except Exception:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None
        if getattr(self, "log", None):
            self.log.close()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self) -> Snmpsim:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- net-snmp snmpd -------------------------------------------------------------------------------
@dataclass
class V3User:
    name: str
    auth_key: str
    priv_key: str | None = None
    auth_protocol: str = "SHA"
    priv_protocol: str = "AES"


class Snmpd:
    """A private net-snmp snmpd serving ``override`` values (and its own MIB-II)."""

    def __init__(self, values: Iterable[tuple[str, str, object]] = (), community: str = "public",
                 v3_users: Sequence[V3User] = (), port: int | None = None,
                 workdir: Path | None = None, extra: Sequence[str] = ()):
        self.values = list(values)
        self.extra = list(extra)  # more snmpd.conf lines (e.g. a `pass` script)
        self.community = community
        self.v3_users = list(v3_users)
        self.port = port or free_udp_port()
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self._own_tmp = False

    def config_text(self) -> str:
        lines = [f"agentAddress udp:127.0.0.1:{self.port}",
                 f"rocommunity {self.community} 127.0.0.1",
                 "dontLogTCPWrappersConnects yes"]
        for u in self.v3_users:
            if u.priv_key:
                lines.append(f'createUser {u.name} {u.auth_protocol} "{u.auth_key}" '
                             f'{u.priv_protocol} "{u.priv_key}"')
                lines.append(f"rouser {u.name} priv")
            else:
                lines.append(f'createUser {u.name} {u.auth_protocol} "{u.auth_key}"')
                lines.append(f"rouser {u.name} auth")
        for oid, kind, value in self.values:
            if kind == "octet_str":
                value = '"' + str(value).replace('"', "'") + '"'
            lines.append(f"override .{str(oid).lstrip('.')} {kind} {value}")
        lines.extend(self.extra)
        return "\n".join(lines) + "\n"

    def start(self, wait: bool = True) -> Snmpd:
        if not snmpd_available():
            raise RuntimeError("snmpd is not installed (apt-get install snmpd)")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="opsctl-snmpd-"))
            self._own_tmp = True
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "snmpd.conf"
        conf.write_text(self.config_text())
        env = {**os.environ, "SNMP_PERSISTENT_DIR": str(self.workdir / "persist"),
               "MIBS": "", "LC_ALL": "C"}
        argv = [SNMPD_BIN, "-f", "-Lf", str(self.workdir / "snmpd.log"), "-C", "-c", str(conf),
                "-p", str(self.workdir / "snmpd.pid"), "-I", "-smux,mteTrigger,mteTriggerConf"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     env=env, start_new_session=True)
        if wait:
            try:
                _wait_ready(self.port, self.community, self.proc, "snmpd")
            except Exception:
                self.stop()
                raise
        return self

    def stop(self) -> None:
        _stop(self.proc)
        self.proc = None
        if self._own_tmp and self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Snmpd:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class SilentAgent:
    """A UDP socket bound on a free port that never answers: the 'dead agent'."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> SilentAgent:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def example_agents(tmp_path: Path) -> Iterator[dict]:
    """The agents configs/opsctl.example.yaml describes, started on free ports: snmpsim
    serves ups1 / core-sw1 / env1 (recordings, community = file name), net-snmp snmpd serves
    ups2 over SNMPv3 authPriv with APC PowerNet values and the example's keys. Yields the
    example config as a dict with ports, key files and ``state_dir`` pointed at them (the
    caller may change it, then writes it)."""
    import yaml

    fix = _ROOT / "tests" / "fixtures" / "snmp"
    recs = tmp_path / "recs"
    recs.mkdir()
    for name in ("ups-online", "switch1", "env1"):
        target = "ups1" if name == "ups-online" else name
        shutil.copy(fix / f"{name}.snmprec", recs / f"{target}.snmprec")
    secrets = _ROOT / "configs" / "secrets"
    user = V3User("opsmon", (secrets / "ups2-auth.key").read_text().strip(),
                  (secrets / "ups2-priv.key").read_text().strip())
    apc = snmprec_overrides(fix / "apc-smartups.snmprec")
    with Snmpsim(sorted(recs.iterdir())) as sim, Snmpd(apc, v3_users=[user]) as snmpd:
        doc = yaml.safe_load((_ROOT / "configs" / "opsctl.example.yaml").read_text())
        for d in doc["devices"]:
            d["port"] = snmpd.port if d["name"] == "ups2" else sim.port
            for key in ("auth_key_file", "priv_key_file"):
                if key in d["snmp"]:
                    d["snmp"][key] = str(_ROOT / "configs" / d["snmp"][key])
        doc["state_dir"] = str(tmp_path / "state")
        yield doc
