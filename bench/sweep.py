"""What the benchmark loads: a running chat at a URL, or splits it boots.

A ``Target`` is one deployment under test. ``url_target`` wraps a chat that
is already running; ``SweepServices`` owns a scratch PostgreSQL database
for a whole sweep and boots, for each layer and worker count, the real
split with ``bench.split.Split``: one Daphne and W ``runworker`` processes
from the Procfile, against Redis under a key prefix of their own and that
database, configured as production is (DEBUG off, a random SECRET_KEY).
"""

import contextlib
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench import monitor, services
from bench.split import Split, production_env

logger = logging.getLogger(__name__)

# The channel layers a sweep can boot, and the settings module of each:
# the chat's own, or the same with stock asgi_redis for comparison.
LAYER_SETTINGS = {"chat": "chat.settings", "stock": "bench.stock_settings"}
LAYERS = tuple(LAYER_SETTINGS)

# How long to wait, in seconds, for the queues a run leaves behind (the
# disconnects of thousands of sockets) to drain before the next run starts.
SETTLE_TIMEOUT_S = 60.0

# The pause between runs against a chat at a URL, whose queues cannot be
# seen, in seconds.
URL_SETTLE_S = 1.0


@dataclass
class Target:
    """One deployment to load.

    ``base_url`` is its HTTP root (str). ``mode`` is ``"url"`` or
    ``"sweep"``; ``layer`` (``"chat"``, ``"stock"`` or None) and
    ``workers`` (int or None) describe it when known. ``processes`` is a
    dict of report name to pid for Daphne and the workers; ``redis_url``,
    ``redis_prefix`` and ``database`` locate its services when known.
    ``split`` is the ``Split`` when the benchmark booted it.
    """

    base_url: str
    mode: str
    layer: str | None = None
    workers: int | None = None
    processes: dict = field(default_factory=dict)
    redis_url: str | None = None
    redis_prefix: str | None = None
    database: str | None = None
    database_url: str | None = None
    split: Split | None = None

    def monitor(self):
        """A ``ProcessMonitor`` for this deployment's processes."""
        port = services.redis_port(self.redis_url) if self.redis_url else None
        return monitor.ProcessMonitor(self.processes, redis_port=port, database=self.database)

    def check(self):
        """Raise ``bench.split.ProcessFailed`` if a process of a booted split exited."""
        if self.split is not None:
            self.split.check_alive()

    def settle(self):
        """Wait until the previous run's leftovers are handled: until the
        layer's queues are empty for a booted split, or ``URL_SETTLE_S``."""
        if self.redis_prefix:
            services.wait_for_empty_queues(self.redis_url, self.redis_prefix, SETTLE_TIMEOUT_S)
        else:
            time.sleep(URL_SETTLE_S)

    def backlog(self):
        """How many messages (int) still wait in the channel layer's queues,
        or None when they cannot be seen (a chat at a URL)."""
        if not self.redis_prefix:
            return None
        return services.count_queued_messages(self.redis_url, self.redis_prefix)

    def stored_from(self, label_prefix, handle):
        """How many messages (int) the chat stored under ``handle`` (str) in
        rooms whose label starts with ``label_prefix``, or None when the
        database is unknown."""
        if not self.database_url:
            return None
        rows = services.stored_messages(
            self.database_url, label_prefix=label_prefix, columns=("handle",)
        )
        return sum(1 for _, stored_handle in rows if stored_handle == handle)

    def stored(self, label_prefix):
        """How many messages (int) the chat stored in rooms whose label
        starts with ``label_prefix``, or None when the database is unknown."""
        if not self.database_url:
            return None
        return services.count_stored_messages(self.database_url, label_prefix)

    def describe(self):
        """Where the runs went, for the JSON record: a dict of mode, url,
        the watched processes' pids (name to int) and, for a booted split,
        its Redis prefix and database name."""
        info = {"mode": self.mode, "url": self.base_url, "pids": dict(self.processes)}
        if self.mode == "sweep":
            info.update(redis_prefix=self.redis_prefix, database=self.database)
        return info


def url_target(base_url, layer=None, watch=None, redis_url=None):
    """A ``Target`` for the chat already running at ``base_url`` (str).

    ``layer`` (str or None) only labels the records. ``watch`` is a dict of
    report name to pid to sample besides the process found listening on
    the URL's port (reported as ``daphne``). ``redis_url`` (str or None)
    picks the ``redis-server`` to sample.
    """
    base_url = base_url.rstrip("/")
    processes = {}
    parts = urlsplit(base_url)
    if parts.hostname in ("127.0.0.1", "localhost", "::1"):
        pid = monitor.find_listener(parts.port or 80)
        if pid is not None:
            processes["daphne"] = pid
    processes.update(watch or {})
    return Target(base_url, "url", layer=layer, processes=processes, redis_url=redis_url)


class SweepServices:
    """A scratch PostgreSQL database for a sweep, migrated once, and the
    means to boot splits on it. Use as a context manager: the database is
    dropped on exit.

    ``redis_url`` and ``postgres_url`` (str) locate the servers; the
    database is created on the latter.
    """

    def __init__(self, redis_url=None, postgres_url=None):
        self.redis_url = redis_url or services.default_redis_url()
        self.postgres_url = postgres_url or services.default_postgres_url()
        self.tag = "%d_%s" % (os.getpid(), uuid.uuid4().hex[:6])
        self.database = "chatbench_%s" % self.tag
        self.database_url = None
        self._released = False
        self._stack = contextlib.ExitStack()

    def __enter__(self):
        self.database_url = self._stack.enter_context(
            services.scratch_database(self.postgres_url, self.database)
        )
        return self

    def __exit__(self, *exc_info):
        self._stack.close()

    def env(self, layer, prefix, overrides=()):
        """The environment (dict of str) for a split on ``layer`` whose
        channel layer keys (and channel sessions) start with ``prefix``;
        ``overrides`` (pairs of str, a scenario's ``env``) come last."""
        env = production_env(
            self.database_url,
            self.redis_url,
            prefix,
            DJANGO_SETTINGS_MODULE=LAYER_SETTINGS[layer],
            # The per-socket rate limit guards against one abusive client;
            # the scenarios send faster than that on purpose.
            CHAT_RATE_LIMIT_PER_MINUTE="0",
        )
        env.update(overrides)
        return env

    @contextlib.contextmanager
    def boot(self, layer, workers, overrides=()):
        """Boot one Daphne and ``workers`` (int) workers on ``layer`` (one of
        ``LAYERS``) under a fresh Redis prefix, with ``overrides`` (pairs of
        str) added to their environment, yield their ``Target``, then
        stop them and delete their Redis keys. The first boot also migrates
        the database and collects static files.

        Raises ``ValueError`` for an unknown layer and
        ``bench.split.ProcessFailed`` when the split does not come up.
        """
        if layer not in LAYERS:
            raise ValueError("Unknown layer %r; choose from %s." % (layer, ", ".join(LAYERS)))
        prefix = "asgi-bench-%s-%s-%d:" % (self.tag, layer, workers)
        split = Split(self.env(layer, prefix, overrides))
        ok = False
        try:
            with split:
                if not self._released:
                    logger.info("Migrating %s", self.database)
                    split.release()
                    self._released = True
                logger.info("Booting Daphne and %d worker(s) on the %s layer", workers, layer)
                split.start(workers=workers)
                processes = {"daphne": split.web.pid}
                for n, worker in enumerate(split.workers, 1):
                    processes["worker.%d" % n] = worker.pid
                yield Target(
                    split.base_url,
                    "sweep",
                    layer=layer,
                    workers=workers,
                    processes=processes,
                    redis_url=self.redis_url,
                    redis_prefix=prefix,
                    database=self.database,
                    database_url=self.database_url,
                    split=split,
                )
                split.check_alive()
                ok = True
        finally:
            services.delete_redis_prefix(self.redis_url, prefix)
            if ok:
                shutil.rmtree(split.log_dir, ignore_errors=True)
            else:
                logger.error("The split's logs are kept in %s", split.log_dir)
