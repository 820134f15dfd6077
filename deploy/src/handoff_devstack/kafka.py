"""Single-node Kafka 4 (KRaft, combined broker and controller) for development and tests.

The broker runs from jars that Maven resolves from ``deploy/kafka/pom.xml``, so a
machine needs only ``java`` (>= 17) and ``mvn``; no Kafka download or Docker.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import contextlib
import functools
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from handoff_devstack.errors import DevstackError

__all__ = ["DevstackError", "KafkaBroker", "create_topics", "resolve_classpath"]

KAFKA_DIR = Path(__file__).resolve().parents[2] / "kafka"
POM = KAFKA_DIR / "pom.xml"
LOG4J2_CONFIG = KAFKA_DIR / "log4j2.xml"
CLASSPATH_CACHE = KAFKA_DIR / ".classpath.txt"

MIN_JAVA = 17
INSTALL_HINT = "apt-get install -y openjdk-17-jre-headless maven"
HOST = "127.0.0.1"
# C1-only JIT and the serial collector start the broker ~0.4 s (20%) faster on two
# cores; a dev broker never runs long enough to miss C2.
JVM_OPTS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
LOG_TAIL_LINES = 40
STACK_FRAME = re.compile(r"\s+(at |\.\.\. \d+ more)")


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` of a broker log, without Java stack frames (keeping "Caused by")."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    kept = [line for line in text.splitlines() if not STACK_FRAME.match(line)]
    return "\n".join(kept[-lines:])


@functools.cache
def _require_java() -> str:
    """Return the path of a ``java`` >= 17, or raise DevstackError saying how to get one."""
    java = shutil.which("java")
    if java is None:
        raise DevstackError(
            f"`java` (>= {MIN_JAVA}) is not on PATH; Kafka needs it. "
            f"Install it with: {INSTALL_HINT}"
        )
    proc = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', proc.stderr + proc.stdout)
    if match is None:
        raise DevstackError(f"could not tell the version of {java}: {proc.stderr.strip()}")
    # Java 8 and older report themselves as "1.N".
    major = int(match[2] or 0) if match[1] == "1" else int(match[1])
    if major < MIN_JAVA:
        raise DevstackError(
            f"{java} is Java {major}, but Kafka 4 needs Java >= {MIN_JAVA}. "
            f"Install it with: {INSTALL_HINT} "
            "(then pick it with `update-alternatives --config java`)"
        )
    return java


def _cached_classpath() -> str | None:
    try:
        if CLASSPATH_CACHE.stat().st_mtime < POM.stat().st_mtime:
            return None
        classpath = CLASSPATH_CACHE.read_text().strip()
    except FileNotFoundError:
        return None
    # A cleaned ~/.m2 leaves the cache pointing at missing jars.
    if not classpath or not all(Path(jar).is_file() for jar in classpath.split(os.pathsep)):
        return None
    return classpath


def resolve_classpath() -> str:
    """Return the broker's Java classpath, resolving it with Maven on first use.

    The result is cached in ``deploy/kafka/.classpath.txt`` until ``pom.xml`` is
    touched or one of its jars disappears.
    """
    _require_java()
    if not POM.is_file():
        raise DevstackError(f"{POM} is missing; install handoff-devstack from its source tree")
    cached = _cached_classpath()
    if cached is not None:
        return cached
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevstackError(
            "`mvn` is not on PATH; it is needed once to fetch the Kafka jars. "
            f"Install it with: {INSTALL_HINT}"
        )
    # Write beside the cache and rename, so concurrent callers never read half a file.
    tmp = CLASSPATH_CACHE.with_name(f"{CLASSPATH_CACHE.name}.{os.getpid()}.tmp")
    proc = subprocess.run(
        [mvn, "-B", "-q", "-f", str(POM), "dependency:build-classpath", f"-Dmdep.outputFile={tmp}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        output = "\n".join((proc.stdout + proc.stderr).splitlines()[-LOG_TAIL_LINES:])
        raise DevstackError(f"mvn could not resolve the Kafka classpath from {POM}:\n{output}")
    os.replace(tmp, CLASSPATH_CACHE)
    return CLASSPATH_CACHE.read_text().strip()


def _free_ports(count: int) -> list[int]:
    """Ports on 127.0.0.1 that were free just now (held together, so they differ)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in socks]


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


def _answers_metadata(port: int) -> bool:
    """True once the broker on ``port`` answers a Metadata request listing a live broker."""
    client_id = b"handoff-devstack"
    # Metadata v4 (plain encoding, served by Kafka 1.0 through 4.x): api key 3,
    # correlation id 1, an empty topic list and no auto-creation.
    request = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id + struct.pack(">ib", 0, 0)
    try:
        with socket.create_connection((HOST, port), timeout=2.0) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            # Response size, correlation id, throttle time, number of brokers.
            _, correlation_id, _, brokers = struct.unpack(">iiii", _recv_exact(sock, 16))
    except OSError:
        return False
    return bool(correlation_id == 1 and brokers > 0)


def _cluster_id() -> str:
    """A random Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


class KafkaBroker:
    """One Kafka JVM on 127.0.0.1 acting as both broker and KRaft controller (node 1).

    Everything lives under ``data_dir``: ``server.properties``, the log directory
    ``kraft/`` (formatted once and reused), ``logs/server.log`` and the process's
    own output ``broker.out``.
    """

    def __init__(
        self, data_dir: Path, port: int | None = None, controller_port: int | None = None
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        free = iter(_free_ports((port is None) + (controller_port is None)))
        self.port = port if port is not None else next(free)
        self.controller_port = controller_port if controller_port is not None else next(free)
        self.properties_file = self.data_dir / "server.properties"
        self.log_dir = self.data_dir / "kraft"
        self.output_file = self.data_dir / "broker.out"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        """The address clients connect to, e.g. ``127.0.0.1:9092``."""
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The JVM's process id while started, else None."""
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        """Whether the JVM started by :meth:`start` is still alive."""
        return self._process is not None and self._process.poll() is None

    def _server_properties(self) -> str:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # Static quorum rather than 4.x's dynamic one: it does not record the
            # controller's address in the log, so a reused data dir may change ports.
            "controller.quorum.voters": f"1@{HOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.log_dir),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "group.initial.rebalance.delay.ms": "0",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Internal topics default to 50 partitions; creating them adds ~0.6 s to
            # the first consumer-group join (or transaction) on a fresh broker.
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.num.partitions": "4",
            # The log cleaner allocates this buffer up front; 128 MiB by default.
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        return "".join(f"{key}={value}\n" for key, value in props.items())

    def _java_command(self, java: str, classpath: str, *args: str) -> list[str]:
        return [
            java,
            *JVM_OPTS,
            f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            "-cp",
            classpath,
            *args,
        ]

    def _format(self, java: str, classpath: str) -> None:
        proc = subprocess.run(
            self._java_command(
                java,
                classpath,
                "kafka.tools.StorageTool",
                "format",
                # One argument: a base64url id may start with "-" and read as an option.
                f"--cluster-id={_cluster_id()}",
                "--config",
                str(self.properties_file),
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise DevstackError(f"formatting {self.log_dir} failed:\n{proc.stdout}{proc.stderr}")

    def start(self, timeout: float = 90) -> None:
        """Format storage if new, launch the broker and wait until it serves metadata.

        ``timeout`` covers launch and readiness, not the one-off Maven resolution.
        """
        if self.running:
            raise DevstackError(f"the broker in {self.data_dir} is already running")
        java = _require_java()
        classpath = resolve_classpath()
        deadline = time.monotonic() + timeout
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.properties_file.write_text(self._server_properties())
        if not (self.log_dir / "meta.properties").is_file():
            self._format(java, classpath)
        with self.output_file.open("wb") as output:
            self._process = subprocess.Popen(
                self._java_command(java, classpath, "kafka.Kafka", str(self.properties_file)),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                # Its own process group: a terminal's Ctrl-C reaches only us, and we
                # shut the broker down in order.
                start_new_session=True,
            )
        atexit.register(self.stop)
        try:
            self._wait_ready(deadline, timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        assert self._process is not None
        while not _answers_metadata(self.port):
            code = self._process.poll()
            if code is not None:
                raise DevstackError(
                    f"the Kafka broker exited with code {code} while starting; "
                    f"end of {self.output_file}:\n{_tail(self.output_file)}"
                )
            if time.monotonic() >= deadline:
                raise DevstackError(
                    f"the Kafka broker did not answer on {self.bootstrap_servers} within "
                    f"{timeout:g}s; end of {self.output_file}:\n{_tail(self.output_file)}"
                )
            time.sleep(0.1)

    def wait(self) -> int:
        """Block until the broker exits on its own; return its exit code."""
        if self._process is None:
            raise DevstackError("the broker was not started")
        return self._process.wait()

    def stop(self, timeout: float = 20) -> None:
        """Stop the broker: SIGTERM, then SIGKILL if it is still up after ``timeout`` seconds."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        # Signal only an unreaped child: its process group id cannot have been reused.
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def reset(self) -> None:
        """Delete this broker's storage, config and logs so the next start formats anew."""
        if self.running:
            raise DevstackError("stop the broker before resetting it")
        shutil.rmtree(self.log_dir, ignore_errors=True)
        shutil.rmtree(self.data_dir / "logs", ignore_errors=True)
        self.properties_file.unlink(missing_ok=True)
        self.output_file.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


async def create_topics(
    bootstrap_servers: str, topics: dict[str, int], timeout: float = 30
) -> None:
    """Create ``topics`` (name -> partition count, replication 1), skipping existing ones.

    Returns once every topic's metadata, with a leader for each partition, is visible.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        if topics:
            response = await admin.create_topics(
                [NewTopic(name, partitions, 1) for name, partitions in topics.items()]
            )
            for result in response.to_object()["topic_errors"]:
                code = result["error_code"]
                if code not in (0, TopicAlreadyExistsError.errno):
                    message = result.get("error_message") or for_code(code).__name__
                    raise DevstackError(f"could not create topic {result['topic']!r}: {message}")
        await _wait_for_topics(admin, list(topics), timeout)
    finally:
        await admin.close()


async def _wait_for_topics(admin: AIOKafkaAdminClient, names: list[str], timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while names:
        described = await admin.describe_topics(names)
        names = [
            topic["topic"]
            for topic in described
            if topic["error_code"] != 0
            or not topic["partitions"]
            or any(partition["leader"] < 0 for partition in topic["partitions"])
        ]
        if names and loop.time() >= deadline:
            raise DevstackError(f"topics still not ready after {timeout:g}s: {', '.join(names)}")
        if names:
            await asyncio.sleep(0.1)


def _topic_arg(value: str) -> tuple[str, int]:
    name, _, partitions = value.rpartition(":")
    if not name or not partitions.isdigit() or int(partitions) < 1:
        raise argparse.ArgumentTypeError(f"expected NAME:PARTITIONS, e.g. orders:3, not {value!r}")
    return name, int(partitions)


def _run(args: argparse.Namespace) -> int:
    broker = KafkaBroker(args.data_dir, args.port, args.controller_port)
    if args.fresh:
        broker.reset()
    # SIGTERM unwinds like Ctrl-C, so the `with` below stops the broker either way.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with broker:
            asyncio.run(create_topics(broker.bootstrap_servers, dict(args.topic)))
            print(broker.bootstrap_servers, flush=True)
            print(
                f"Kafka is up (logs in {broker.data_dir / 'logs'}); Ctrl-C to stop.",
                file=sys.stderr,
                flush=True,
            )
            code = broker.wait()
            raise DevstackError(
                f"the Kafka broker exited with code {code}; end of {broker.output_file}:\n"
                f"{_tail(broker.output_file)}"
            )
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m handoff_devstack.kafka``."""
    parser = argparse.ArgumentParser(
        prog="python -m handoff_devstack.kafka",
        description="Run a single-node Kafka for development.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a broker in the foreground until Ctrl-C or SIGTERM")
    run.add_argument("--data-dir", type=Path, required=True, help="broker state; reused if present")
    run.add_argument("--port", type=int, default=9092, help="client port (default 9092)")
    run.add_argument("--controller-port", type=int, default=9093, help="KRaft port (default 9093)")
    run.add_argument(
        "--topic",
        type=_topic_arg,
        action="append",
        default=[],
        metavar="NAME:PARTITIONS",
        help="topic to create if missing; repeatable",
    )
    run.add_argument("--fresh", action="store_true", help="delete existing broker state first")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except DevstackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
