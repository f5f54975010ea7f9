"""The Spark Thrift server the warehouse talks to on TALLYHOUSE_ENGINE=spark.

Against a cluster, ``TALLYHOUSE_SPARK_THRIFT_URL`` (``thrift://[user@]host:port``) names its
Thrift server and tallyhouse starts nothing. Otherwise tallyhouse runs its own: one local
Spark (``spark-submit --class …HiveThriftServer2`` from the pyspark wheel, ``local[N]``)
bound to loopback, its warehouse folder, Derby metastore and logs in
``.tallyhouse/spark/``. It is started once and kept: every step of a run, every dbt
invocation and every reader uses the same server (a JVM takes ~15 s to start), and
``tallyhouse spark stop`` ends it.

The Thrift server has no roles or grants (auth NONE): it is reachable from this machine
only, and what a reader types is checked before it is sent (``tallyhouse sql``).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from tallyhouse.config import state_dir

THRIFT_URL_ENV = "TALLYHOUSE_SPARK_THRIFT_URL"
CORES_ENV = "TALLYHOUSE_SPARK_CORES"
SPARK_DIR_ENV = "TALLYHOUSE_SPARK_DIR"
MEMORY_ENV = "TALLYHOUSE_SPARK_MEMORY"
LOOPBACK = "127.0.0.1"
DEFAULT_USER = "tallyhouse"
START_TIMEOUT_S = 240.0
THRIFT_SERVER_CLASS = "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2"

# Session settings every connection needs for the marts to read as they do on PostgreSQL:
# UTC session time; JSON duplicate keys keep the last value (as jsonb does); map keys too.
SESSION_SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.variant.allowDuplicateKeys": "true",
    "spark.sql.mapKeyDedupPolicy": "LAST_WIN",
}


class SparkError(RuntimeError):
    """Spark could not be reached or started; the message says what to do."""


# hive.server2.authentication of the Thrift server; LDAP and CUSTOM take a password,
# KERBEROS a service name (and a ticket from kinit)
AUTH_MODES = ("NONE", "NOSASL", "LDAP", "CUSTOM", "KERBEROS")


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    user: str
    local: bool
    auth: str = "NONE"
    password: str | None = field(default=None, repr=False)
    kerberos_service: str | None = None

    def as_env(self) -> dict[str, str]:
        """The settings profiles.yml's ``spark`` output reads (an unset one renders none)."""
        signed = self.sign_in()
        return {"TALLYHOUSE_SPARK_HOST": self.host, "TALLYHOUSE_SPARK_PORT": str(self.port),
                "TALLYHOUSE_SPARK_USER": self.user, "TALLYHOUSE_SPARK_AUTH": self.auth,
                "TALLYHOUSE_SPARK_PASSWORD": signed.get("password", ""),
                "TALLYHOUSE_SPARK_KERBEROS_SERVICE":
                    signed.get("kerberos_service_name") or ""}

    def sign_in(self) -> dict:
        """PyHive's sign-in arguments: a password only in LDAP or CUSTOM mode, a service
        name only in KERBEROS mode (it refuses either anywhere else)."""
        signed = {"auth": self.auth}
        if self.auth in ("LDAP", "CUSTOM"):
            signed["password"] = self.password or ""
        if self.auth == "KERBEROS":
            signed["kerberos_service_name"] = self.kerberos_service
        return signed

    def connect_kwargs(self) -> dict:
        """PyHive's connection arguments."""
        return {"host": self.host, "port": self.port, "username": self.user,
                **self.sign_in()}

    def describe(self) -> str:
        where = "local Spark" if self.local else "Spark Thrift server"
        signed = "" if self.auth == "NONE" else f", {self.auth}"
        return f"{where} at {self.host}:{self.port}{signed}"


def parse_thrift_url(url: str) -> Endpoint:
    """``thrift://[user[:password]@]host[:port][?auth=LDAP|CUSTOM|KERBEROS|NOSASL]
    [&kerberos_service_name=hive]`` (``hive://`` and ``spark://`` read the same); a password
    without ``auth`` means LDAP."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("thrift", "hive", "spark") or not parts.hostname:
        raise SparkError(f"{THRIFT_URL_ENV} must look like thrift://[user@]host:port "
                         f"(got a value with scheme {parts.scheme or 'none'!r})")
    try:
        port = parts.port or 10000
    except ValueError:
        # not chained: the parser's message quotes the URL, where a password may be
        raise SparkError(f"{THRIFT_URL_ENV} has a port that is not a number (a password "
                         f"with / ? # @ must be percent-encoded)") from None
    options = {key.lower(): value for key, value in parse_qsl(parts.query)}
    unknown = sorted(set(options) - {"auth", "kerberos_service_name"})
    if unknown:
        raise SparkError(f"{THRIFT_URL_ENV} has options tallyhouse does not know: "
                         f"{', '.join(unknown)} (known: auth, kerberos_service_name)")
    password = unquote(parts.password) if parts.password is not None else None
    auth = (options.get("auth") or ("LDAP" if password is not None else "NONE")).upper()
    if auth not in AUTH_MODES:
        raise SparkError(f"{THRIFT_URL_ENV}: auth={auth} is not one of "
                         f"{', '.join(AUTH_MODES)}")
    if auth in ("LDAP", "CUSTOM") and not password:
        raise SparkError(f"{THRIFT_URL_ENV}: auth={auth} needs a password "
                         f"(thrift://user:password@host:port)")
    if auth not in ("LDAP", "CUSTOM") and password is not None:
        raise SparkError(f"{THRIFT_URL_ENV}: a password is only sent with auth=LDAP or "
                         f"auth=CUSTOM (this URL says auth={auth})")
    service = options.get("kerberos_service_name") or None
    if auth == "KERBEROS" and not service:
        service = "hive"
    if auth != "KERBEROS" and service:
        raise SparkError(f"{THRIFT_URL_ENV}: kerberos_service_name goes with auth=KERBEROS")
    return Endpoint(parts.hostname, port, unquote(parts.username or DEFAULT_USER),
                    local=False, auth=auth, password=password, kerberos_service=service)


def spark_dir() -> Path:
    """The local Spark's folder: TALLYHOUSE_SPARK_DIR (a bigger disk, say), else
    ``.tallyhouse/spark`` in the home."""
    chosen = os.environ.get(SPARK_DIR_ENV, "").strip()
    path = Path(chosen).resolve() if chosen else state_dir() / "spark"
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_dir() -> Path:
    return spark_dir() / "warehouse"


def _state_file() -> Path:
    return spark_dir() / "server.json"


def pyspark_home() -> Path:
    try:
        import pyspark
    except ImportError as exc:
        raise SparkError("pyspark is not installed: run `make install` (the spark extra)") \
            from exc
    return Path(pyspark.__file__).resolve().parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def answers(where: Endpoint, timeout: float = 1.0) -> bool:
    """Whether the Thrift server's port takes a connection."""
    return _answers(where.host, where.port, timeout)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _read_state() -> dict | None:
    try:
        state = json.loads(_state_file().read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not _alive(int(state.get("pid", 0) or 0)):
        return None
    return state


def local_status() -> str:
    state = _read_state()
    if state is None:
        return "stopped"
    if _answers(LOOPBACK, int(state["port"])):
        return f"running on {LOOPBACK}:{state['port']} (pid {state['pid']})"
    return f"starting (pid {state['pid']}, port {state['port']})"


def _cores() -> str:
    raw = os.environ.get(CORES_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        return raw
    return str(os.cpu_count() or 2)


# The pyspark wheel has Hive's hive-exec but not hive-llap-common, whose interface
# LlapSigner$Signable one of Hive's built-in functions (get_splits) implements. Hive loads
# its whole function registry the first time a Thrift session is closed on a server thread
# that has no Hive object yet; without that interface the registry fails to initialize and
# the CloseSession call fails (NoClassDefFoundError) — a dbt invocation or a reader that
# did its work then exits in error, now and then. The interface has no methods that Spark
# ever calls: an empty one on the driver's class path lets the registry load (Spark's own
# Thrift server tests add the jar for the same failure, SPARK-51041).
HIVE_SHIM_CLASSES = ("org/apache/hadoop/hive/llap/security/LlapSigner$Signable",)


def _empty_interface(name: str) -> bytes:
    """The class file of `public interface <name>` with no members (Java 8 format)."""
    def utf8(text: str) -> bytes:
        data = text.encode()
        return b"\x01" + struct.pack(">H", len(data)) + data

    pool = [utf8(name), b"\x07" + struct.pack(">H", 1),              # 1, 2: this class
            utf8("java/lang/Object"), b"\x07" + struct.pack(">H", 3)]  # 3, 4: its super
    public_abstract_interface = 0x0001 | 0x0200 | 0x0400
    return (b"\xca\xfe\xba\xbe" + struct.pack(">HHH", 0, 52, len(pool) + 1) + b"".join(pool)
            # access, this, super, then no interfaces, fields, methods or attributes
            + struct.pack(">HHHHHHH", public_abstract_interface, 2, 4, 0, 0, 0, 0))


def hive_shim_dir() -> Path:
    """A class folder with the interfaces Hive's function registry needs (above)."""
    folder = spark_dir() / "hive-shim"
    for name in HIVE_SHIM_CLASSES:
        path = folder / f"{name}.class"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_empty_interface(name))
    return folder


def _command(port: int) -> list[str]:
    home = pyspark_home()
    folder = spark_dir()
    metastore = folder / "metastore_db"
    java_opts = f"-Dderby.system.home={folder} -Djava.io.tmpdir={folder / 'tmp'}"
    confs = {
        "spark.sql.warehouse.dir": str(warehouse_dir()),
        "spark.hadoop.javax.jdo.option.ConnectionURL":
            f"jdbc:derby:;databaseName={metastore};create=true",
        "spark.sql.catalogImplementation": "hive",
        # a handful of partitions per shuffle, not 200: local data, few cores
        "spark.sql.shuffle.partitions": str(max(2, int(_cores()))),
        "spark.ui.enabled": "false",
        "spark.driver.bindAddress": LOOPBACK,
        "spark.driver.host": LOOPBACK,
        "spark.driver.extraJavaOptions": java_opts,
        "spark.driver.extraClassPath": str(hive_shim_dir()),
        "spark.local.dir": str(folder / "tmp"),
        **SESSION_SETTINGS,
    }
    cmd = [str(home / "bin" / "spark-submit"), "--class", THRIFT_SERVER_CLASS,
           "--master", f"local[{_cores()}]",
           "--driver-memory", os.environ.get(MEMORY_ENV, "").strip() or "3g",
           "--name", "tallyhouse"]
    for key, value in confs.items():
        cmd += ["--conf", f"{key}={value}"]
    cmd += ["--hiveconf", f"hive.server2.thrift.bind.host={LOOPBACK}",
            "--hiveconf", f"hive.server2.thrift.port={port}",
            "spark-internal"]
    return cmd


def _lock():
    handle = open(spark_dir() / ".server.lock", "w")  # noqa: SIM115 - held until released
    fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def _can_query(port: int) -> bool:
    try:
        with connect(Endpoint(LOOPBACK, port, DEFAULT_USER, local=True)) as conn:
            cur = conn.cursor()
            cur.execute("select 1")
            return cur.fetchall() == [(1,)]
    except Exception:  # noqa: BLE001 - not ready yet: any error means "try again"
        return False


def start_local(progress: Callable[[str], None] | None = None,
                timeout: float = START_TIMEOUT_S) -> Endpoint:
    """Start the local Spark Thrift server unless it runs; wait until it answers a query."""
    say = progress or (lambda _message: None)
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkError("Spark needs Java 17 or later: install a JDK (Debian: "
                         "openjdk-17-jre-headless) or set JAVA_HOME")
    handle = _lock()
    try:
        state = _read_state()
        if state is not None:
            port = int(state["port"])
            if _wait_ready(port, int(state["pid"]), timeout, say):
                return Endpoint(LOOPBACK, port, DEFAULT_USER, local=True)
            _stop_pid(int(state["pid"]))
        port = _free_port()
        folder = spark_dir()
        (folder / "tmp").mkdir(exist_ok=True)
        logs = folder / "logs"
        logs.mkdir(exist_ok=True)
        env = {**os.environ, "SPARK_HOME": str(pyspark_home()), "SPARK_LOCAL_IP": LOOPBACK,
               "SPARK_LOG_DIR": str(logs), "PYSPARK_PYTHON": sys.executable}
        say(f"starting local Spark (local[{_cores()}], warehouse {warehouse_dir()})")
        with open(logs / "thrift-server.log", "ab") as log:
            proc = subprocess.Popen(_command(port), cwd=folder, env=env, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        _state_file().write_text(json.dumps({"pid": proc.pid, "port": port,
                                             "started_at": time.time()}))
        if not _wait_ready(port, proc.pid, timeout, say):
            _stop_pid(proc.pid)
            raise SparkError(f"local Spark did not answer within {timeout:.0f} s; "
                             f"see {logs / 'thrift-server.log'}")
        say(f"local Spark ready on {LOOPBACK}:{port}")
        return Endpoint(LOOPBACK, port, DEFAULT_USER, local=True)
    finally:
        handle.close()


def _wait_ready(port: int, pid: int, timeout: float, say: Callable[[str], None]) -> bool:
    deadline = time.monotonic() + timeout
    said = time.monotonic()
    while time.monotonic() < deadline:
        if not _alive(pid):
            return False
        if _answers(LOOPBACK, port) and _can_query(port):
            return True
        if time.monotonic() - said > 15:
            say("waiting for Spark to start…")
            said = time.monotonic()
        time.sleep(0.5)
    return False


def _stop_pid(pid: int, wait: float = 30.0) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def stop_local() -> bool:
    """Stop the local Spark Thrift server; False when none ran."""
    handle = _lock()
    try:
        state = _read_state()
        _state_file().unlink(missing_ok=True)
        if state is None:
            return False
        _stop_pid(int(state["pid"]))
        return True
    finally:
        handle.close()


def endpoint(start: bool = True, progress: Callable[[str], None] | None = None) -> Endpoint:
    """The Thrift server in use: the cluster's, or the local one (started when asked)."""
    url = os.environ.get(THRIFT_URL_ENV, "").strip()
    if url:
        return parse_thrift_url(url)
    state = _read_state()
    if state is not None and _answers(LOOPBACK, int(state["port"])):
        return Endpoint(LOOPBACK, int(state["port"]), DEFAULT_USER, local=True)
    if not start:
        raise SparkError("local Spark is not running: `tallyhouse spark start`")
    return start_local(progress)


def connect(where: Endpoint | None = None, settings: dict[str, str] | None = None):
    """A PyHive connection with the warehouse's session settings."""
    from pyhive import hive

    target = where or endpoint()
    conn = hive.connect(**target.connect_kwargs(),
                        configuration=session_configuration(settings))
    return _Closing(conn)


def session_configuration(settings: dict[str, str] | None = None) -> dict[str, str]:
    """A Thrift session's settings as the server reads them: a Spark SQL setting is only
    applied under ``set:hiveconf:`` (a plain key is silently ignored)."""
    return {f"set:hiveconf:{key}": value
            for key, value in {**SESSION_SETTINGS, **(settings or {})}.items()}


class _Closing:
    """A PyHive connection usable in ``with`` (PyHive's own is not a context manager)."""

    def __init__(self, conn) -> None:
        self._conn = conn

    def cursor(self):
        return self._conn.cursor()

    def close(self) -> None:
        self._conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *_exc) -> None:
        self.close()
