"""The split on Redis Sentinel (a master, a replica and three sentinels)
follows a failover under a steady chat load: the master is killed, the
sentinels promote the replica, and every process carries on on it without
restarting; every message PostgreSQL stored reached every member."""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest
import redis
from django_redis.cache import RedisCache
from redis.sentinel import Sentinel

from bench.split import running
from tests import services
from tests.faults.harness import ChatLoad

pytestmark = pytest.mark.integration

STEADY = 20  # messages accepted before the fault, and again after it
MASTER = "mymaster"


class SentinelCluster:
    """A master, a replica of it and three sentinels watching it (quorum 2),
    each a ``redis-server`` on a free port in a temporary directory."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="chat-sentinel-")
        self.master_port = services.free_port()
        self.replica_port = services.free_port()
        self.sentinel_ports = [services.free_port() for _ in range(3)]
        self.processes = {}

    def _server(self, name, *arguments):
        binary = shutil.which("redis-server")
        log = open(os.path.join(self.directory, name + ".log"), "w")
        self.processes[name] = subprocess.Popen(
            [binary, *arguments], stdout=log, stderr=subprocess.STDOUT, cwd=self.directory
        )

    def start(self):
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._server("master", "--port", str(self.master_port), *common)
        self._server(
            "replica",
            "--port",
            str(self.replica_port),
            "--replicaof",
            "127.0.0.1",
            str(self.master_port),
            *common,
        )
        for number, port in enumerate(self.sentinel_ports):
            path = os.path.join(self.directory, "sentinel-%d.conf" % number)
            with open(path, "w") as config:
                config.write(
                    "port %d\nbind 127.0.0.1\ndir %s\n"
                    "sentinel monitor %s 127.0.0.1 %d 2\n"
                    "sentinel down-after-milliseconds %s 1000\n"
                    "sentinel failover-timeout %s 5000\n"
                    % (port, self.directory, MASTER, self.master_port, MASTER, MASTER)
                )
            self._server("sentinel-%d" % number, path, "--sentinel")
        services.wait_for(self._replicating, 20, "the replica to sync with the master")
        services.wait_for(self._sentinels_ready, 20, "the sentinels to see each other")
        return self

    def _replicating(self):
        try:
            info = redis.StrictRedis(port=self.replica_port).info("replication")
        except redis.ConnectionError:
            return False
        return info.get("master_link_status") == "up"

    def _sentinels_ready(self):
        try:
            for port in self.sentinel_ports:
                state = redis.StrictRedis(port=port).sentinel_master(MASTER)
                if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                    return False
        except redis.ConnectionError:
            return False
        return True

    @property
    def addresses(self):
        return ",".join("127.0.0.1:%d" % port for port in self.sentinel_ports)

    def master_address(self):
        """The master's ``(host, port)`` as the sentinels name it."""
        return Sentinel([("127.0.0.1", p) for p in self.sentinel_ports]).discover_master(MASTER)

    def kill_master(self):
        self.processes["master"].send_signal(signal.SIGKILL)
        self.processes["master"].wait()

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def sentinel_cluster():
    cluster = SentinelCluster().start()
    yield cluster
    cluster.stop()


def test_the_split_follows_a_sentinel_failover_and_loses_nothing_stored(
    split_env, sentinel_cluster
):
    env = dict(
        split_env,
        REDIS_SENTINELS=sentinel_cluster.addresses,
        REDIS_SENTINEL_MASTER=MASTER,
        CHANNEL_LAYER_PREFIX="asgi-sentinel-%s:" % uuid.uuid4().hex[:6],
        CHAT_RATE_LIMIT_PER_MINUTE="0",
    )
    env.pop("REDIS_URL")
    assert sentinel_cluster.master_address()[1] == sentinel_cluster.master_port
    with running(env, workers=2) as split:
        load = ChatLoad(split.base_url).start()
        try:
            load.wait_for_accepted(STEADY, timeout=60)

            sentinel_cluster.kill_master()
            killed = time.monotonic()
            load.wait_for_accepted(STEADY, timeout=90)
            recovery = time.monotonic() - killed
            promoted = sentinel_cluster.master_address()

            report = load.converge(env["DATABASE_URL"])
        finally:
            load.stop()
        split.check_alive()
        daphne_log = split.log_of(split.web)
    assert promoted[1] == sentinel_cluster.replica_port
    # Daphne's Twisted reader reopened its connection on the promoted master.
    assert "Redis master at 127.0.0.1:%d" % sentinel_cluster.replica_port in daphne_log
    lost = report["sent"] - report["accepted"]
    print(
        "\nsentinel failover: %s, %.1f s from the kill to %d more accepted, "
        "%d sent and never accepted" % (report, recovery, STEADY, lost)
    )


def test_the_channel_sessions_client_follows_a_sentinel_failover(sentinel_cluster):
    cache = RedisCache(
        [MASTER],
        {
            "OPTIONS": {
                "CLIENT_CLASS": "chat.transport.sentinel.SentinelClient",
                "SENTINELS": [("127.0.0.1", port) for port in sentinel_cluster.sentinel_ports],
            }
        },
    )
    client = cache.client.get_client(write=True)
    client.set("before", "1")
    services.wait_for(
        lambda: redis.StrictRedis(port=sentinel_cluster.replica_port).get("before") == b"1",
        10,
        "the replica to copy the key",
    )

    sentinel_cluster.kill_master()

    def written():
        try:
            return client.set("after", "1")
        except redis.ConnectionError:
            return False

    services.wait_for(written, 30, "a write on the promoted master")
    assert client.get("before") == b"1"
    assert redis.StrictRedis(port=sentinel_cluster.replica_port).get("after") == b"1"
