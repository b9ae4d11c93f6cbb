"""Per-process CPU and memory of the chat's processes, sampled with psutil.

A ``ProcessMonitor`` knows the processes to watch: the ones it is given by
name (Daphne, each worker), the ``redis-server`` listening on the layer's
port, the PostgreSQL backends serving one database (found afresh at each
sample, since workers open connections as they go), and the benchmark
process itself. ``snapshot()`` reads their cumulative CPU time and resident
memory; ``cpu_between`` turns two snapshots into CPU percentages, where 100
is one core fully busy.
"""

import logging
import os
import time
from dataclasses import dataclass, field

import psutil

logger = logging.getLogger(__name__)

# The name the benchmark process itself is reported under.
SELF_NAME = "chatbench"

# The prefix of the names PostgreSQL backends are reported under.
POSTGRES_PREFIX = "postgres."


@dataclass
class ProcessSample:
    """One process at one moment: ``pid`` (int), ``cpu_s`` (user plus
    system CPU time since it started, s), ``rss`` (resident memory, bytes)
    and ``created`` (its start, epoch s)."""

    pid: int
    cpu_s: float
    rss: int
    created: float


@dataclass
class Snapshot:
    """Every watched process at one moment: ``monotonic`` and ``epoch``
    seconds, ``host_busy_s`` and ``host_total_s`` (all cores' busy and total
    CPU time since boot, s), and ``processes``, a dict of name to
    ``ProcessSample``."""

    monotonic: float
    epoch: float
    host_busy_s: float
    host_total_s: float
    processes: dict = field(default_factory=dict)


class ProcessMonitor:
    """Watches the chat's processes.

    ``named`` is a dict of report name (str, e.g. ``"daphne"``,
    ``"worker.1"``) to pid (int). ``redis_port`` (int or None) picks the
    ``redis-server`` to watch, ``database`` (str or None) the PostgreSQL
    database whose backends to watch. A process that cannot be found or
    read is left out, not an error.
    """

    def __init__(self, named=None, redis_port=None, database=None):
        self.named = {}
        for name, pid in (named or {}).items():
            process = _process(pid)
            if process is not None:
                self.named[name] = process
        self.named[SELF_NAME] = psutil.Process(os.getpid())
        redis = find_redis_server(redis_port) if redis_port else None
        if redis is not None:
            self.named["redis-server"] = redis
        self.database = database

    def snapshot(self):
        """Sample every watched process now. Returns a ``Snapshot``."""
        host = psutil.cpu_times()
        idle = host.idle + getattr(host, "iowait", 0.0)
        total = sum(host)
        snapshot = Snapshot(time.monotonic(), time.time(), total - idle, total)
        for name, process in self.named.items():
            sample = _sample(process)
            if sample is not None:
                snapshot.processes[name] = sample
        if self.database:
            for process in find_postgres_backends(self.database):
                sample = _sample(process)
                if sample is not None:
                    snapshot.processes[POSTGRES_PREFIX + str(process.pid)] = sample
        return snapshot


def cpu_between(first, second):
    """The CPU use of each process between two ``Snapshot``s.

    Returns ``(cpu_s, cpu_pct, host_pct)``: dicts of name to CPU seconds
    spent and to percent of one core (100 = one core busy all along), and
    the host's busy share of all its cores (0 to 100). A process that
    started after ``first`` counts from its start; one missing from
    ``second`` (it exited) is left out.
    """
    wall = max(second.monotonic - first.monotonic, 1e-9)
    cpu_s = {}
    for name, late in second.processes.items():
        early = first.processes.get(name)
        if early is not None and early.pid == late.pid:
            spent = late.cpu_s - early.cpu_s
        elif late.created >= first.epoch:
            spent = late.cpu_s
        else:
            continue
        cpu_s[name] = max(0.0, spent)
    cpu_pct = {name: spent / wall * 100.0 for name, spent in cpu_s.items()}
    host_total = second.host_total_s - first.host_total_s
    host_pct = (second.host_busy_s - first.host_busy_s) / host_total * 100.0 if host_total else 0.0
    return cpu_s, cpu_pct, host_pct


def find_redis_server(port):
    """The ``psutil.Process`` of the ``redis-server`` serving TCP ``port``
    (int): the one whose command line names the port, or else the only one
    running. None when there is no such process."""
    candidates = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] != "redis-server":
            continue
        cmdline = " ".join(process.info["cmdline"] or [])
        if ":%d" % port in cmdline or "--port %d" % port in cmdline:
            return process
        candidates.append(process)
    return candidates[0] if len(candidates) == 1 else None


def find_postgres_backends(database):
    """The ``psutil.Process``es of the PostgreSQL backends connected to
    ``database`` (str), found by their process titles, which read
    ``postgres: <user> <database> <client> <state>``."""
    backends = []
    needle = " %s " % database
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        title = " ".join(cmdline) + " "
        if title.startswith("postgres:") and needle in title:
            backends.append(process)
    return backends


def find_listener(port):
    """The pid (int) of the local process listening on TCP ``port`` (int),
    or None when there is none or it cannot be seen."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, PermissionError):
        return None
    for connection in connections:
        if (
            connection.status == psutil.CONN_LISTEN
            and connection.laddr
            and connection.laddr.port == port
            and connection.pid
        ):
            return connection.pid
    return None


def _process(pid):
    try:
        return psutil.Process(pid)
    except psutil.Error:
        logger.warning("Process %s cannot be watched", pid)
        return None


def _sample(process):
    try:
        with process.oneshot():
            times = process.cpu_times()
            return ProcessSample(
                process.pid,
                times.user + times.system,
                process.memory_info().rss,
                process.create_time(),
            )
    except psutil.Error:
        return None
