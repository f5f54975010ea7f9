"""`tallyhouse up` / `tallyhouse down`: the long-running services under one supervisor.

The services — the webhook receiver (when a platform's secret is set), the Dagster daemon
(schedule, sensor, queued runs) and UI, the dashboards and the docs site — run as programs
of one ``supervisord`` (PyPI ``supervisor``) whose configuration is written from the
selection into ``.tallyhouse/services/supervisord.conf``. supervisord restarts a program that
exits, writes each program's output to its own rotating file in ``.tallyhouse/logs/`` and
stops every program's whole process group (a Dagster webserver's code server with it). The
embedded PostgreSQL is started before the programs and stopped after them; it is not a
program of the supervisor because PostgreSQL detaches itself (``pg_ctl``) and every part
that needs it starts it again on demand (the sensor looks every minute).

Every process started here carries ``TALLYHOUSE_SERVICES=<id of this home>`` in its
environment: after the supervisor stopped, `down` finds any process left behind by that
mark (a code server whose webserver was killed, say) and ends it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import xmlrpc.client
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from tallyhouse import db
from tallyhouse.config import HOME_ENV, default_landing_dir, home, project_root, state_dir

# name -> what it is; the order is the order they start in (and the reverse of stopping)
SERVICES = {
    "receiver": "webhook receiver (tallyhouse receive)",
    "daemon": "Dagster daemon: schedule, sensor, queued runs",
    "ui": "Dagster UI (dagster-webserver)",
    "dashboards": "Streamlit dashboards",
    "docs": "dbt docs site",
}
DEFAULT_PORTS = {"receiver": 8000, "ui": 3000, "dashboards": 8501, "docs": 8580}
MARK_ENV = "TALLYHOUSE_SERVICES"
LOOPBACK = "127.0.0.1"
# a program that exits is started again; one that cannot stay up this many times in a row
# (each wait one second longer than the last: about 8 minutes in all) is given up (FATAL)
START_RETRIES = 30
LOG_MAX_BYTES = "10MB"
LOG_BACKUPS = 5


def bin_dir() -> Path:
    """The folder of this Python's executables (the venv's bin): every tool is run from
    there by absolute path, whether the venv is activated or not."""
    return Path(sys.executable).parent


def services_dir() -> Path:
    path = state_dir() / "services"
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir() -> Path:
    path = state_dir() / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def home_id() -> str:
    return hashlib.sha256(str(home()).encode()).hexdigest()[:12]


def socket_path() -> Path:
    """supervisord's control socket (mode 0700). A unix socket path must stay under 108
    bytes: a deep home gets one in the temp folder, named after the home."""
    path = services_dir() / "supervisor.sock"
    if len(str(path)) < 100:
        return path
    return Path("/tmp") / f"tallyhouse-{home_id()}.sock"


def receiver_configured(env: dict[str, str] | None = None) -> bool:
    from tallyhouse.receiver.platforms import PLATFORMS

    env = os.environ if env is None else env
    return any(env.get(p.secret_env) for p in PLATFORMS.values())


@dataclass(frozen=True)
class Service:
    name: str
    port: int | None
    command: list[str]
    stop_seconds: int = 20

    @property
    def url(self) -> str | None:
        return f"http://{LOOPBACK}:{self.port}" if self.port else None


def service(name: str, port: int | None) -> Service:
    tallyhouse = str(bin_dir() / "tallyhouse")
    module = ["-m", "orchestration.definitions"]
    commands = {
        "receiver": [tallyhouse, "receive", "--host", LOOPBACK, "--port", str(port)],
        "daemon": [str(bin_dir() / "dagster-daemon"), "run", *module],
        "ui": [str(bin_dir() / "dagster-webserver"), *module, "-h", LOOPBACK, "-p", str(port)],
        "dashboards": [tallyhouse, "dashboard", "--host", LOOPBACK, "--port", str(port)],
        "docs": [tallyhouse, "docs", "--port", str(port)],
    }
    # the receiver closes its open files on SIGTERM, within its 30 s graceful shutdown
    return Service(name, port, commands[name], stop_seconds=40 if name == "receiver" else 20)


def select(only: list[str] | None = None, without: list[str] | None = None,
           ports: dict[str, int] | None = None, env: dict[str, str] | None = None
           ) -> dict[str, Service]:
    """The services to run: every one (the receiver only when a platform's secret is set),
    or those named by ``only``, less those named by ``without``."""
    unknown = sorted((set(only or ()) | set(without or ()) | set(ports or ())) - set(SERVICES))
    if unknown:
        raise ValueError(f"unknown service(s): {', '.join(unknown)} (known: "
                         f"{', '.join(SERVICES)})")
    names = list(only) if only else [n for n in SERVICES
                                     if n != "receiver" or receiver_configured(env)]
    if only and "receiver" in only and not receiver_configured(env):
        raise ValueError("the receiver needs at least one platform's secret "
                         "(TALLYHOUSE_HOTMART_HOTTOK, …; see README 'Receiving the platforms' "
                         "webhooks')")
    chosen = [n for n in SERVICES if n in names and n not in set(without or ())]
    ports = {**DEFAULT_PORTS, **(ports or {})}
    return {name: service(name, ports.get(name)) for name in chosen}


# ---------------------------------------------------------------------------- environment

def service_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every program gets: the caller's (the receiver's secrets, a
    TALLYHOUSE_DATABASE_URL), the venv's bin first on PATH, the Dagster instance of this
    home, the landing folder, and the mark that finds them again."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = os.pathsep.join([str(bin_dir()), *[p for p in env.get("PATH", "").split(
        os.pathsep) if p and p != str(bin_dir())]])
    env[HOME_ENV] = str(home())
    storage = state_dir() / "dagster"
    storage.mkdir(parents=True, exist_ok=True)
    env["TALLYHOUSE_DAGSTER_STORAGE"] = str(storage)
    env["DAGSTER_HOME"] = str(project_root() / "orchestration" / "dagster_home")
    env.setdefault("TALLYHOUSE_LANDING", str(default_landing_dir()))
    env.setdefault("GX_ANALYTICS_ENABLED", "false")
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    env["PYTHONUNBUFFERED"] = "1"
    env[MARK_ENV] = home_id()
    return env


# ---------------------------------------------------------------------------- configuration

def config_path() -> Path:
    return services_dir() / "supervisord.conf"


def pid_path() -> Path:
    return services_dir() / "supervisord.pid"


def state_path() -> Path:
    return services_dir() / "state.json"


def render_config(chosen: dict[str, Service], foreground: bool = False) -> str:
    """supervisord's configuration. No secret is ever written here: programs inherit them
    from supervisord's own environment."""
    sock = socket_path()
    lines = [
        "; written by `tallyhouse up`; edits are overwritten",
        "[unix_http_server]", f"file={sock}", "chmod=0700", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", f"serverurl=unix://{sock}", "",
        "[supervisord]",
        f"logfile={logs_dir() / 'supervisord.log'}",
        f"logfile_maxbytes={LOG_MAX_BYTES}", f"logfile_backups={LOG_BACKUPS}",
        f"pidfile={pid_path()}", f"directory={project_root()}",
        f"childlogdir={logs_dir()}", "identifier=tallyhouse",
        f"nodaemon={'true' if foreground else 'false'}", "",
    ]
    for priority, (name, svc) in enumerate(chosen.items(), start=1):
        lines += [
            f"[program:{name}]",
            # supervisor reads ';' after a space as a comment, and '%' as an expansion
            "command=" + " ".join(arg.replace("%", "%%") for arg in svc.command),
            f"directory={project_root()}",
            f"priority={priority * 10}",
            "autostart=true", "autorestart=true", "startsecs=5",
            f"startretries={START_RETRIES}",
            "stopsignal=TERM", f"stopwaitsecs={svc.stop_seconds}",
            "stopasgroup=true", "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={logs_dir() / (name + '.log')}",
            f"stdout_logfile_maxbytes={LOG_MAX_BYTES}",
            f"stdout_logfile_backups={LOG_BACKUPS}", "",
        ]
    return "\n".join(lines)


def save_state(chosen: dict[str, Service], **extra) -> None:
    state = {"services": {name: asdict(svc) for name, svc in chosen.items()},
             "updated_at": datetime.now(UTC).isoformat(), **extra}
    tmp = state_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    os.replace(tmp, state_path())


def load_state() -> dict:
    try:
        return json.loads(state_path().read_text())
    except (OSError, ValueError):
        return {}


def expected() -> dict[str, Service]:
    """What `status` expects to run: the selection of the last `tallyhouse up` (less what
    `down --only` stopped), else what `up` would start now."""
    saved = load_state().get("services")
    if saved is None:
        return select()
    return {name: Service(**spec) for name, spec in saved.items()}


# ---------------------------------------------------------------------------- supervisor

def client() -> xmlrpc.client.ServerProxy | None:
    """The running supervisord of this home, or None."""
    from supervisor.xmlrpc import SupervisorTransport

    sock = socket_path()
    if not sock.exists():
        return None
    proxy = xmlrpc.client.ServerProxy(
        "http://127.0.0.1", transport=SupervisorTransport(None, None, f"unix://{sock}"))
    try:
        if proxy.supervisor.getState()["statename"] in ("RUNNING", "RESTARTING"):
            return proxy
    except (OSError, xmlrpc.client.Error):
        return None
    return None


def supervisor_pid() -> int | None:
    try:
        pid = int(pid_path().read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return pid


def processes() -> dict[str, dict]:
    """Each program's state as supervisord sees it (statename, pid, start, exitstatus…)."""
    proxy = client()
    if proxy is None:
        return {}
    try:
        return {info["name"]: info for info in proxy.supervisor.getAllProcessInfo()}
    except (OSError, xmlrpc.client.Error):
        return {}


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


HEALTH_PATHS = {"receiver": "/healthz", "ui": "/server_info", "dashboards": "/_stcore/health",
                "docs": "/"}


def http_health(name: str, port: int | None, timeout: float = 2.0) -> tuple[bool, object]:
    """(answers, body) of the service's health URL; body is parsed JSON when it is JSON."""
    if not port or name not in HEALTH_PATHS:
        return False, None
    try:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{port}{HEALTH_PATHS[name]}",
                                    timeout=timeout) as answer:
            raw = answer.read(1 << 20)
            ok = 200 <= answer.status < 300
    except (OSError, ValueError, http.client.HTTPException):
        # refused, reset, or a server still starting that closes without an answer
        return False, None
    try:
        return ok, json.loads(raw)
    except ValueError:
        return ok, raw.decode(errors="replace")


def prepare() -> str:
    """What every service needs before it starts: the database up (roles for the
    dashboards), the dbt manifest the Dagster definitions read."""
    from tallyhouse.dbt import ensure_manifest

    url = db.database_url()
    ensure_manifest()
    return url


def start(chosen: dict[str, Service], say: Callable[[str], None], timeout: float = 180.0
          ) -> dict[str, str]:
    """Start (or bring to this selection) the supervisor and its programs, then wait until
    each is running and answers on its port. Returns name -> problem for those that did
    not come up in time (empty when all did)."""
    proxy = client()
    running = processes() if proxy else {}
    for name, svc in chosen.items():
        if svc.port and name not in running and not port_free(svc.port):
            raise RuntimeError(f"port {svc.port} ({name}) is taken by another program: stop "
                               f"it or choose another port, e.g. --port {name}={svc.port + 1}")
    config_path().write_text(render_config(chosen))
    save_state(chosen, stopped_at=None)
    if proxy is None:
        done = subprocess.run([str(bin_dir() / "supervisord"), "-c", str(config_path())],
                              env=service_env(), cwd=project_root(), capture_output=True,
                              text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"supervisord did not start: {done.stderr.strip() or done.stdout}")
        proxy = _wait_for_supervisor()
    else:
        _apply(proxy, chosen, say)
    return _wait_until_up(chosen, say, timeout)


def _wait_for_supervisor(timeout: float = 20.0) -> xmlrpc.client.ServerProxy:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proxy = client()
        if proxy is not None:
            return proxy
        time.sleep(0.2)
    raise RuntimeError(f"supervisord did not answer within {timeout:.0f}s; see "
                       f"{logs_dir() / 'supervisord.log'}")


def _apply(proxy, chosen: dict[str, Service], say) -> None:
    """supervisorctl update: programs added, changed or removed by the new configuration;
    the ones that stopped are started again."""
    [[added, changed, removed]] = proxy.supervisor.reloadConfig()
    for name in [*removed, *changed]:
        try:
            proxy.supervisor.stopProcessGroup(name)
        except xmlrpc.client.Fault:
            pass
        proxy.supervisor.removeProcessGroup(name)
        if name in removed:
            say(f"  {name}: stopped (not in this selection)")
    for name in [*changed, *added]:
        proxy.supervisor.addProcessGroup(name)
    for info in proxy.supervisor.getAllProcessInfo():
        if info["name"] in chosen and info["statename"] in ("STOPPED", "EXITED", "FATAL"):
            proxy.supervisor.startProcess(info["name"], False)


def _wait_until_up(chosen: dict[str, Service], say, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    waiting = dict.fromkeys(chosen, "starting")
    given_up: dict[str, str] = {}
    while waiting and time.monotonic() < deadline:
        states = processes()
        for name in list(waiting):
            info = states.get(name, {})
            state = info.get("statename", "absent")
            if state in ("FATAL", "absent"):
                # supervisord gave up on it (or never had it): waiting longer changes nothing
                given_up[name] = f"{state.lower()} — see {logs_dir() / (name + '.log')}"
                del waiting[name]
                continue
            if state != "RUNNING":
                waiting[name] = f"{state.lower()} — see {logs_dir() / (name + '.log')}"
                continue
            svc = chosen[name]
            if svc.port and not http_health(name, svc.port)[0]:
                waiting[name] = f"running, not answering on port {svc.port} yet"
                continue
            where = f" on {svc.url}" if svc.url else ""
            say(f"  {name:<11} up{where} (pid {info['pid']})")
            del waiting[name]
        if waiting:
            time.sleep(0.5)
    return {**given_up, **waiting}


def stop(names: list[str] | None, say: Callable[[str], None]) -> list[int]:
    """Stop the named programs (keeping the supervisor), or everything: the programs, the
    supervisor, and any process left behind by them. Returns the pids swept up."""
    proxy = client()
    if names:
        if proxy is not None:
            for name in names:
                try:
                    proxy.supervisor.stopProcess(name, True)
                    say(f"  {name}: stopped")
                except xmlrpc.client.Fault as fault:
                    say(f"  {name}: {fault.faultString.lower()}")
        state = load_state()
        kept = {n: s for n, s in state.get("services", {}).items() if n not in names}
        save_state({n: Service(**s) for n, s in kept.items()},
                   stopped_at=state.get("stopped_at"))
        return []
    pid = supervisor_pid()
    if proxy is not None:
        for info in proxy.supervisor.getAllProcessInfo():
            if info["statename"] == "RUNNING":
                say(f"  {info['name']:<11} stopping (pid {info['pid']})")
        try:
            proxy.supervisor.shutdown()
        except (OSError, xmlrpc.client.Error):
            pass
    if pid is not None:
        _wait_gone(pid, 120)
    swept = sweep()
    state = load_state()
    if state:
        state["stopped_at"] = datetime.now(UTC).isoformat()
        state_path().write_text(json.dumps(state, indent=2) + "\n")
    return swept


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


def marked_processes() -> list[int]:
    """Processes of this home's services still alive: their environment carries the mark.
    The embedded PostgreSQL, which the services may have started on demand, is not one."""
    import psutil

    me = {os.getpid(), os.getppid()}
    found = []
    for proc in psutil.process_iter(["pid", "name"]):
        if proc.info["pid"] in me or proc.info["name"] in ("postgres", "postmaster"):
            continue
        try:
            if proc.environ().get(MARK_ENV) == home_id():
                found.append(proc.info["pid"])
        except (psutil.Error, OSError):
            continue
    return found


def sweep(grace: float = 10.0) -> list[int]:
    """End every process left behind by the services (SIGTERM, then SIGKILL)."""
    import psutil

    pids = marked_processes()
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.send_signal(signal.SIGTERM)
            procs.append(proc)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)
    return pids


def foreground(chosen: dict[str, Service]) -> None:
    """supervisord in the foreground (systemd, a container): replaces this process."""
    config_path().write_text(render_config(chosen, foreground=True))
    save_state(chosen, stopped_at=None)
    command = [str(bin_dir() / "supervisord"), "-n", "-c", str(config_path())]
    env = service_env()
    os.chdir(project_root())
    os.execve(command[0], command, env)
