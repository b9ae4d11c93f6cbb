"""Real Redis and PostgreSQL servers for the integration tests.

Each service comes from, in order: the environment (``REDIS_URL``,
``DATABASE_URL``), the default local port, or a throwaway server started
from the binaries on the PATH. When none is reachable the test is skipped
with the reason, except under CI (``CI`` set), where it fails instead.
"""

import os
import shutil
import subprocess
import tempfile

import psycopg2
import pytest

# The services' default URLs, the free-port, scratch-database and Redis
# prefix helpers are the benchmark's (the dev-only app ``bench``); the tests
# share that one copy.
from bench.services import (  # noqa: F401 - re-exported for the fixtures
    RedisServer,
    default_postgres_url,
    default_redis_url,
    delete_redis_prefix,
    free_port,
    redis_is_up,
    scratch_database,
    wait_for,
)


def unavailable(reason):
    """Skip the calling test for a missing service, or fail it under CI.

    Raises ``pytest.skip.Exception`` or, when ``CI`` is set, ``pytest.fail.Exception``.
    """
    if os.environ.get("CI"):
        pytest.fail("%s (a missing service is a failure under CI)" % reason)
    pytest.skip(reason)


def find_redis():
    """The URL (str) of a reachable Redis, and the ``RedisServer`` started for
    it or None. Skips (or fails under CI) when there is none."""
    url = default_redis_url()
    if redis_is_up(url):
        return url, None
    try:
        server = RedisServer().start()
    except (OSError, TimeoutError) as error:
        unavailable("No Redis at %s and none could be started: %s" % (url, error))
    return server.url, server


def postgres_is_up(url):
    """True when PostgreSQL accepts a connection at ``url``."""
    try:
        psycopg2.connect(url, connect_timeout=2).close()
    except psycopg2.Error:
        return False
    return True


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb) on a free port, in a temporary
    directory. PostgreSQL refuses to run as root, so this works only as an
    ordinary user."""

    def __init__(self):
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix="chat-pg-")
        self.url = "postgres://%s@127.0.0.1:%d/postgres" % (os.environ.get("USER", ""), self.port)
        self.process = None

    def start(self):
        for binary in ("initdb", "postgres"):
            if shutil.which(binary) is None:
                raise FileNotFoundError("%s is not on the PATH" % binary)
        if os.geteuid() == 0:
            raise PermissionError("PostgreSQL cannot be started as root")
        data = os.path.join(self.directory, "data")
        subprocess.run(
            ["initdb", "-D", data, "-A", "trust", "-U", os.environ.get("USER", "postgres")],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        self.process = subprocess.Popen(
            ["postgres", "-D", data, "-p", str(self.port), "-k", self.directory, "-h", "127.0.0.1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: postgres_is_up(self.url), 30, "PostgreSQL on port %d" % self.port)
        return self

    def stop(self):
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)


def find_postgres():
    """The URL (str) of a reachable PostgreSQL server's maintenance database,
    and the ``PostgresServer`` started for it or None. Skips (or fails under
    CI) when there is none."""
    url = default_postgres_url()
    if postgres_is_up(url):
        return url, None
    try:
        server = PostgresServer().start()
    except (OSError, subprocess.CalledProcessError, TimeoutError) as error:
        unavailable("No PostgreSQL at %s and none could be started: %s" % (url, error))
    return server.url, server
