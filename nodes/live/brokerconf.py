"""Broker access: a Mosquitto configuration with one credential per nation, and a broker process.

Theory of operation
-------------------

Live nodes talk through one MQTT broker, and the broker is the one party every nation must
reach, so it is also where a nation is stopped from speaking for another. The node layer does not
rely on that (every message is signature-checked; the broker is not trusted), but the broker
refusing forged publications keeps a compromised credential from flooding other nations' topics.

Topic layout, all under `chemtrace/<chain_id>/v1/` (QoS 1 throughout):

    <NATION>/msg          consensus broadcasts published by NATION
    <NATION>/to/<PEER>    direct messages from NATION to PEER (sync responses)
    <NATION>/status       NATION's retained status, read by the cluster driver
    submit/<NATION>       client submissions to NATION's node (written by `operator`)
    control/<NATION>      cluster driver control, such as partition filters (by `operator`)

Private records of a private mode (docs/privacy.md) travel outside that tree, where the
everyone-may-read rule does not reach, under `chemtrace/<chain_id>/private/v1/`:

    <RECIPIENT>/<SENDER>  a record SENDER files for RECIPIENT, one of its lane

A shipment's lane changes with every shipment, so the ACL cannot name lanes: it names
recipients. They are read and written by each nation's records login, `<NATION>-records` (the
nation's records office: the client that files its events and keeps what its lanes send it),
not by its node, which carries only the chain. Only `RECIPIENT-records` may read
`<RECIPIENT>/#`; `NATION-records` may write `+/<NATION>`, to any recipient but under its own
name only, so the sender level of a record's topic is vouched for by the broker (a recipient
still checks each record against the chain's commitment: the broker is not trusted with its
content). No other login, the operator (the cluster driver) included, reads or writes there.

`write_broker_config` turns a genesis into four files in one folder:

- `mosquitto.conf`: one listener on host:port, no anonymous clients, the password and ACL files,
  `use_username_as_clientid true` (a login cannot connect under another nation's client id
  and so knock that nation's node off the broker), `set_tcp_nodelay true` (a QoS 1 round trip took a median of 88 ms without it and 0.6 ms with
  it on these machines, issue 7), no persistence (nodes keep their own state in SQLite and
  re-send what matters), a packet size limit, and logs on stderr;
- `passwd`: Mosquitto's `$7$` hashes (PBKDF2-HMAC-SHA512, 101 iterations, 12-byte salt: what
  `mosquitto_passwd` of Mosquitto 2.0 writes), so the broker never sees a clear password on
  disk and we need no helper binary to make them;
- `acl`: user NATION may write `chemtrace/<chain_id>/v1/NATION/#` only; user `operator` may write
  `submit/#` and `control/#`; everyone but a records login may read `chemtrace/<chain_id>/v1/#`;
  user `NATION-records` may read `chemtrace/<chain_id>/private/v1/NATION/#` and write
  `.../private/v1/+/NATION`, and nothing else;
- `credentials.json` (mode 0600): username -> clear password, random from `secrets`, for the
  nodes and the cluster driver to log in with.

`spawn_broker` runs `mosquitto -c mosquitto.conf` as a child process, with its stderr appended to
`mosquitto.log` in the same folder, and waits until the port takes TCP connections. If the broker
exits first, the error carries the log's tail, which is where Mosquitto says what it disliked.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from nodes.chain.codec import MESSAGE_BYTES_MAX
from nodes.chain.genesis import Genesis

TOPIC_ROOT = "chemtrace"
TOPIC_VERSION = "v1"
OPERATOR = "operator"
TWIN_LOGIN_SUFFIX = "-twin"
RECORDS_LOGIN_SUFFIX = "-records"
# A chain id is one topic level: no '/', and none of MQTT's wildcards '+' and '#'.
CHAIN_ID_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd of Mosquitto 2.0 uses for `$7$`
PBKDF2_SALT_BYTES = 12
PASSWORD_BYTES = 24
# The broker disconnects a client that sends a larger packet. Twice the node's own decode limit:
# oversized messages up to this still reach the nodes, which drop and count them, while a
# hostile client cannot make the broker buffer an unbounded payload.
PACKET_BYTES_MAX = 2 * MESSAGE_BYTES_MAX
SYS_TOPICS = "$SYS/#"
SYS_INTERVAL_S = 2
# Messages the broker dropped (queue or inflight limits); with SYS_INTERVAL_S in the config.
SYS_DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
MOSQUITTO_DIRS = ("/usr/sbin", "/usr/local/sbin")
LOG_TAIL_BYTES = 4000
STOP_TIMEOUT_S = 10.0
# Mosquitto logs this (at notice level) once all its listeners are open.
RUNNING_LOG_LINE = re.compile(rb"mosquitto version \S+ running")


class BrokerError(RuntimeError):
    """The broker cannot be configured or started; the message says why and what to do."""


# --------------------------------------------------------------------------- topics


def topic_prefix(chain_id: str) -> str:
    return f"{TOPIC_ROOT}/{chain_id}/{TOPIC_VERSION}"


def msg_topic(chain_id: str, nation: str) -> str:
    return f"{topic_prefix(chain_id)}/{nation}/msg"


def direct_topic(chain_id: str, nation: str, peer: str) -> str:
    return f"{topic_prefix(chain_id)}/{nation}/to/{peer}"


def status_topic(chain_id: str, nation: str) -> str:
    return f"{topic_prefix(chain_id)}/{nation}/status"


def submit_topic(chain_id: str, nation: str) -> str:
    return f"{topic_prefix(chain_id)}/submit/{nation}"


def control_topic(chain_id: str, nation: str) -> str:
    return f"{topic_prefix(chain_id)}/control/{nation}"


def private_prefix(chain_id: str) -> str:
    """Where private records travel: outside `topic_prefix`, which every member may read."""
    return f"{TOPIC_ROOT}/{chain_id}/private/{TOPIC_VERSION}"


def private_topic(chain_id: str, recipient: str, sender: str) -> str:
    """A record `sender` files for `recipient`: only `recipient` may read it, only `sender`
    may write it (the ACL of `write_broker_config`)."""
    return f"{private_prefix(chain_id)}/{recipient}/{sender}"


def private_inbox(chain_id: str, recipient: str) -> str:
    """The subscription of `recipient` to every record filed for it."""
    return f"{private_prefix(chain_id)}/{recipient}/+"


def records_login(nation: str) -> str:
    """The broker login of `nation`'s records office: the only one that reads the private
    records filed for `nation` and writes those `nation` files (`private_topic`)."""
    return f"{nation}{RECORDS_LOGIN_SUFFIX}"


def twin_status_topic(chain_id: str, nation: str) -> str:
    """Where the second instance of a twinned nation publishes its status: under the nation's
    prefix, but not its `status` topic, which the first instance owns."""
    return f"{topic_prefix(chain_id)}/{nation}/twin/status"


def twin_login(nation: str) -> str:
    """The broker login of the second instance of a twinned nation (a Byzantine behaviour of
    the scenario language: one key on two machines). It writes under the nation's own prefix,
    like the nation's login, but is a login of its own: with `use_username_as_clientid`, one
    login used twice would close the other's session."""
    return f"{nation}{TWIN_LOGIN_SUFFIX}"


# --------------------------------------------------------------------------- configuration


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    conf_path: Path
    passwd_path: Path
    acl_path: Path
    credentials_path: Path
    credentials: dict[str, str] = field(repr=False)
    host: str
    port: int
    chain_id: str

    @property
    def log_path(self) -> Path:
        return self.conf_path.with_name("mosquitto.log")

    def url(self, user: str) -> str:
        """`mqtt://user:password@host:port` for one of the configured users."""
        if user not in self.credentials:
            raise BrokerError(f"{self.credentials_path}: no user {user!r}; the users are "
                              f"{', '.join(sorted(self.credentials))}")
        return f"mqtt://{user}:{self.credentials[user]}@{self.host}:{self.port}"


def password_hash(password: str, salt: bytes | None = None) -> str:
    """Mosquitto's `$7$` password hash (PBKDF2-HMAC-SHA512), as `mosquitto_passwd` writes it."""
    salt = secrets.token_bytes(PBKDF2_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return (f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}$"
            f"{base64.b64encode(digest).decode()}")


def check_chain_id(chain_id: str, source: str) -> None:
    if not isinstance(chain_id, str) or not CHAIN_ID_TOPIC.fullmatch(chain_id):
        raise BrokerError(
            f"{source}: field chain_id {chain_id!r} cannot be an MQTT topic level; use 1 to 64 "
            "letters, digits, '.', '_' or '-' (no '/', '+' or '#'), e.g. "
            "`chemtrace genesis --chain-id chemtrace-live ...`")


def write_broker_config(genesis: Genesis, out_dir: str | Path, *, port: int,
                        host: str = "127.0.0.1", twins: tuple[str, ...] = ()) -> BrokerConfig:
    """Write mosquitto.conf, passwd, acl and credentials.json for `genesis` into `out_dir`.
    `twins`: nations that also get a second login (`twin_login`) writing under their prefix,
    for a scenario's twin behaviour; none for a real chain.

    Every call draws fresh passwords: regenerate and restart the broker to rotate them.
    """
    check_chain_id(genesis.chain_id, "genesis")
    if not 1 <= port <= 65535:
        raise BrokerError(f"--port must be 1 to 65535, got {port}")
    if not host or any(c.isspace() for c in host):
        raise BrokerError(f"--host must be an address or name without spaces, got {host!r}")
    out = Path(out_dir).resolve()
    if any(ord(c) < 32 or c == "\x7f" for c in str(out)):
        # Mosquitto reads a path to the end of its line: a newline would start a new directive.
        raise BrokerError(f"--out {str(out)!r}: use a folder path without control characters")
    out.mkdir(parents=True, exist_ok=True)
    unknown = sorted(set(twins) - set(genesis.codes))
    if unknown:
        raise BrokerError(f"twins {', '.join(unknown)}: not nations of the genesis")
    twin_of = {twin_login(n): n for n in sorted(set(twins))}
    records_of = {records_login(n): n for n in genesis.codes}
    users = (*genesis.codes, *twin_of, *records_of, OPERATOR)
    credentials = {user: secrets.token_urlsafe(PASSWORD_BYTES) for user in users}
    prefix = topic_prefix(genesis.chain_id)

    passwd = "".join(f"{user}:{password_hash(credentials[user])}\n" for user in users)
    acl_lines = [f"# Generated by chemtrace broker-config for chain {genesis.chain_id}.",
                 "# Each nation writes only under its own prefix; nation logins read the chain.",
                 "# Private records: only NATION-records reads private/v1/NATION/#; it writes",
                 "# private/v1/<RECIPIENT>/NATION for any recipient (lanes change per shipment).",
                 ""]
    for user in (*genesis.codes, *twin_of):
        nation = twin_of.get(user, user)
        acl_lines += [f"user {user}", f"topic write {prefix}/{nation}/#",
                      f"topic read {prefix}/#", ""]
    private = private_prefix(genesis.chain_id)
    for user, nation in records_of.items():
        acl_lines += [f"user {user}", f"topic read {private}/{nation}/#",
                      f"topic write {private}/+/{nation}", ""]
    # The operator also reads the broker's own counters ($SYS), e.g. the messages it dropped.
    acl_lines += [f"user {OPERATOR}", f"topic write {prefix}/submit/#",
                  f"topic write {prefix}/control/#", f"topic read {prefix}/#",
                  f"topic read {SYS_TOPICS}", ""]
    paths = {name: out / name for name in ("mosquitto.conf", "passwd", "acl", "credentials.json")}
    conf = "\n".join([
        f"# Generated by chemtrace broker-config for chain {genesis.chain_id}; regenerate, "
        "do not edit.",
        "per_listener_settings false",
        f"listener {port} {host}",
        "allow_anonymous false",
        f"password_file {paths['passwd']}",
        f"acl_file {paths['acl']}",
        "# Without it a QoS 1 round trip waits on Nagle's algorithm (88 ms against 0.6 ms).",
        "set_tcp_nodelay true",
        "# Nodes persist their own state (SQLite) and resend; the broker keeps nothing.",
        "persistence false",
        f"max_packet_size {PACKET_BYTES_MAX}",
        "# A client's id is its username, whatever id it asks for: one login cannot take",
        "# another's session over by connecting with its id (the old session is dropped on a",
        "# clash, so a nation's credential must be used by one client at a time).",
        "use_username_as_clientid true",
        "# No cap on unacknowledged QoS 1 messages per client. With the default of 20, Mosquitto",
        "# 2.0.11 (Debian's) stopped delivering QoS 1 to a busy node while QoS 0 still flowed,",
        "# and consensus stalled (its inflight quota fixes came in 2.0.13). Nodes read eagerly.",
        "max_inflight_messages 0",
        f"# The broker's counters under $SYS, every {SYS_INTERVAL_S} s (the operator may read them).",
        f"sys_interval {SYS_INTERVAL_S}",
        # When started as root Mosquitto switches to user `mosquitto`, which could then not read
        # these owner-only files; naming their owner keeps it as who made them.
        *([f"user {owner}"] if (owner := _user_name()) else []),
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "",
    ])
    _write_private(paths["passwd"], passwd)
    _write_private(paths["acl"], "\n".join(acl_lines))
    _write_private(paths["credentials.json"], json.dumps(credentials, indent=2) + "\n")
    _write_private(paths["mosquitto.conf"], conf)
    return BrokerConfig(paths["mosquitto.conf"], paths["passwd"], paths["acl"],
                        paths["credentials.json"], credentials, host, port, genesis.chain_id)


def load_broker_config(out_dir: str | Path, genesis: Genesis) -> BrokerConfig:
    """The configuration `write_broker_config` left in `out_dir`, for a broker started before."""
    out = Path(out_dir).resolve()
    conf_path, creds_path = out / "mosquitto.conf", out / "credentials.json"
    try:
        conf = conf_path.read_text()
        credentials = json.loads(creds_path.read_text())
    except (OSError, ValueError) as exc:
        raise BrokerError(f"{out}: no usable broker configuration ({exc}); write one with "
                          "`chemtrace broker-config --genesis FILE --out DIR`") from None
    listener = re.search(r"^listener (\d+) (\S+)$", conf, re.MULTILINE)
    if listener is None:
        raise BrokerError(f"{conf_path}: no `listener PORT HOST` line; regenerate it with "
                          "`chemtrace broker-config`")
    users = {*genesis.codes, *(records_login(n) for n in genesis.codes), OPERATOR}
    if not isinstance(credentials, dict) or set(credentials) != users:
        raise BrokerError(f"{creds_path}: the users do not match the genesis nations, their "
                          "records logins and `operator`; regenerate with "
                          "`chemtrace broker-config`")
    return BrokerConfig(conf_path, out / "passwd", out / "acl", creds_path,
                        {str(k): str(v) for k, v in credentials.items()}, listener.group(2),
                        int(listener.group(1)), genesis.chain_id)


def _user_name() -> str | None:
    """This process's user name, from the password database (not $USER, which can lie)."""
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return None  # a uid with no name is not root, and Mosquitto only switches from root


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


# --------------------------------------------------------------------------- the broker process


def find_mosquitto() -> str:
    """The mosquitto executable: on PATH, else in /usr/sbin or /usr/local/sbin (Debian puts it
    in /usr/sbin, which is not on an ordinary user's PATH)."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for directory in MOSQUITTO_DIRS:
        candidate = os.path.join(directory, "mosquitto")
        if os.access(candidate, os.X_OK):
            return candidate
    raise BrokerError("mosquitto was not found on PATH nor in /usr/sbin or /usr/local/sbin; "
                      "install it with `apt-get install -y mosquitto`")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now (another process may still take it before us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class BrokerProcess:
    """A running `mosquitto -c CONF`, owned by this process. A context manager: leaving it stops
    the broker."""

    def __init__(self, config: BrokerConfig, *, ready_timeout_s: float = 10.0,
                 executable: str | None = None) -> None:
        self.config = config
        self.ready_timeout_s = ready_timeout_s
        self.executable = executable or find_mosquitto()
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self._log_offset = 0

    def start(self) -> "BrokerProcess":
        if self.process is not None and self.process.poll() is None:
            raise BrokerError("the broker is running already")
        with self.config.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self.process = subprocess.Popen(
                [self.executable, "-c", str(self.config.conf_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.starts += 1
        _RUNNING.add(self)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout_s
        delay_s = 0.005
        while True:
            code = self.process.poll() if self.process is not None else None
            if code is not None:
                raise BrokerError(f"mosquitto exited with status {code} while starting with "
                                  f"{self.config.conf_path}; its log "
                                  f"({self.config.log_path}) ends:\n{self.log_tail()}")
            # The port alone could be another broker's (then ours fails to bind and exits), so
            # also wait for our own broker to log that it runs, which it does once every
            # listener is open.
            if self._logged_running() and self._port_accepts():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"mosquitto did not accept connections on {self.config.host}:"
                                  f"{self.config.port} within {self.ready_timeout_s} s; is the "
                                  f"port taken? Its log ends:\n{self.log_tail()}")
            time.sleep(delay_s)
            delay_s = min(delay_s * 2, 0.1)

    def _logged_running(self) -> bool:
        try:
            with self.config.log_path.open("rb") as log:
                log.seek(self._log_offset)
                return RUNNING_LOG_LINE.search(log.read(LOG_TAIL_BYTES * 4)) is not None
        except OSError:
            return False

    def _port_accepts(self) -> bool:
        try:
            with socket.create_connection((self.config.host, self.config.port), timeout=0.5):
                return True
        except OSError:
            return False

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if the broker has not gone within STOP_TIMEOUT_S; wait for it."""
        process, self.process = self.process, None
        _RUNNING.discard(self)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> "BrokerProcess":
        """Stop and start again on the same port (the broker-restart test): clients see their
        connection drop and must reconnect."""
        self.stop()
        return self.start()

    def log_tail(self) -> str:
        try:
            with self.config.log_path.open("rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - LOG_TAIL_BYTES))
                return log.read().decode("utf-8", "replace")
        except OSError as exc:
            return f"(no log: {exc.strerror})"

    def __enter__(self) -> "BrokerProcess":
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


# Brokers this process started and has not stopped: stopped at interpreter exit too, so an
# exception or Ctrl-C in a driver or a test does not leave a broker holding its port. (SIGKILL of
# this process still would; nothing in-process can help that.)
_RUNNING: set["BrokerProcess"] = set()


@atexit.register
def _stop_running_brokers() -> None:
    for broker in list(_RUNNING):
        broker.stop()


def spawn_broker(config: BrokerConfig, *, ready_timeout_s: float = 10.0) -> BrokerProcess:
    """Start Mosquitto with `config` and return once its port accepts TCP connections."""
    return BrokerProcess(config, ready_timeout_s=ready_timeout_s).start()
