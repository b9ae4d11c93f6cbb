"""``GET /healthz``, answered by Daphne itself.

Every other HTTP request becomes an ``http.request`` message that a worker
answers, so a Django view could not say that no worker runs: it would
simply never answer. ``HealthRequest`` is Daphne's ``WebRequest`` with
``/healthz`` (GET or HEAD) answered on the reactor of the web process, from
three checks made off the reactor in Daphne's thread pool:

- ``database``: ``SELECT 1`` on a fresh connection to
  ``DATABASES["default"]``;
- ``channel_layer``: a Redis PING on each shard of the channel layer;
- ``workers``: the worker processes alive (``worker_heartbeat``).

A check that fails, or has not answered within ``CHECK_TIMEOUT_SECONDS``,
counts as failed, so the answer comes within 2 s whatever happens:
200 ``{"database": "ok", "channel_layer": "ok", "workers": N}`` when all
are fine and N >= 1, else 503 with the failing parts named
(``"unavailable"``, ``"workers": 0``). Every other path goes on to the
workers unchanged.

``install()`` puts the request class in place; ``asgi.py`` calls it, so it
applies in the process that runs ``daphne asgi:channel_layer``.
"""

import json
import logging
import time

import psycopg2
from daphne import http_protocol
from django.conf import settings
from twisted.internet import defer, threads

from chat.transport import worker_heartbeat

logger = logging.getLogger(__name__)

HEALTH_PATH = b"/healthz"
# Each check's limit, in seconds: under the 2 s in which /healthz answers,
# with room left to write the answer.
CHECK_TIMEOUT_SECONDS = 1.5

OK = "ok"
UNAVAILABLE = "unavailable"


def health_answer(results):
    """The status (int) and body (dict) of ``/healthz`` for ``results``, a
    dict with ``"database"`` and ``"channel_layer"`` (True when the check
    passed, None when it failed or timed out) and ``"workers"`` (the number
    of live workers, int, or None when they could not be counted).

    200 when the database and the layer are fine and at least one worker
    lives, else 503."""
    body = {
        "database": OK if results.get("database") else UNAVAILABLE,
        "channel_layer": OK if results.get("channel_layer") else UNAVAILABLE,
        "workers": results.get("workers") or 0,
    }
    healthy = body["database"] == OK and body["channel_layer"] == OK and body["workers"] >= 1
    return (200 if healthy else 503), body


def run_checks(checks, timeout=CHECK_TIMEOUT_SECONDS, clock=None):
    """Run ``checks`` (dict of name to a callable returning a value or a
    Deferred) at once, each limited to ``timeout`` seconds on ``clock`` (the
    reactor when None). Returns a Deferred that fires with a dict of name to
    each check's value, None for a check that raised or timed out; it never
    fails."""
    if clock is None:
        from twisted.internet import reactor as clock

    def failed(failure, name):
        logger.warning(
            "Health check %s failed: %s", name, failure.getErrorMessage() or failure.type
        )

    names = list(checks)
    pending = []
    for name in names:
        result = defer.maybeDeferred(checks[name])
        result.addTimeout(timeout, clock)
        result.addErrback(failed, name)
        pending.append(result)
    done = defer.gatherResults(pending)
    done.addCallback(lambda values: dict(zip(names, values, strict=True)))
    return done


def check_database(alias="default"):
    """Run ``SELECT 1`` on a new connection to ``DATABASES[alias]`` (str)
    and close it. Returns True; raises what the driver raises when the
    database does not answer."""
    database = settings.DATABASES[alias]
    if "postgres" not in database["ENGINE"]:
        # SQLite and the like: Django's own connection, in this thread.
        from django.db import connections

        try:
            with connections[alias].cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            connections[alias].close()
        return True
    params = {"dbname": database["NAME"], "connect_timeout": 2}
    for name in ("USER", "PASSWORD", "HOST", "PORT"):
        if database.get(name):
            params[name.lower()] = database[name]
    params.update(
        (name, value)
        for name, value in database.get("OPTIONS", {}).items()
        if isinstance(value, (str, int)) and name != "isolation_level"
    )
    params.setdefault("options", "-c statement_timeout=%d" % (CHECK_TIMEOUT_SECONDS * 1000))
    connection = psycopg2.connect(**params)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()
    return True


def check_channel_layer(layer):
    """PING every Redis shard of ``layer`` (the channel layer); a layer
    without Redis (in-memory) passes. Returns True; raises what redis-py
    raises for a shard that does not answer."""
    # The layer's own clients: under Sentinel they find the master.
    for index in range(getattr(layer, "ring_size", 0)):
        layer.connection(index).ping()
    return True


def count_workers():
    """The number (int) of worker processes alive, from their heartbeats
    (``worker_heartbeat``); 0 without Redis, where workers keep none.
    Raises what redis-py raises when Redis is unreachable."""
    if not settings.USE_REDIS:
        return 0
    return worker_heartbeat.count_workers(worker_heartbeat.redis_client())


def blocking_checks(layer):
    """The checks of ``/healthz`` for ``run_checks``, each made in the
    reactor's thread pool: a dict of name to a callable returning a
    Deferred. ``layer`` is the channel layer Daphne serves."""
    return {
        "database": lambda: threads.deferToThread(check_database),
        "channel_layer": lambda: threads.deferToThread(check_channel_layer, layer),
        "workers": lambda: threads.deferToThread(count_workers),
    }


class HealthRequest(http_protocol.WebRequest):
    """Daphne's HTTP request, answering ``GET /healthz`` itself."""

    def process(self):
        if (
            self.path != HEALTH_PATH
            or self.method not in (b"GET", b"HEAD")
            or self.requestHeaders.hasHeader(b"Upgrade")
        ):
            return super().process()
        self.request_start = time.time()
        self.client_addr = None
        if hasattr(self.client, "host") and hasattr(self.client, "port"):
            self.client_addr = [str(self.client.host), self.client.port]
        # No worker will answer this request: without a reply channel,
        # finishing it sends no http.disconnect to the layer, and Daphne's
        # request timeout leaves it alone.
        self.factory.reply_protocols.pop(self.reply_channel, None)
        self.reply_channel = None
        answered = run_checks(blocking_checks(self.factory.channel_layer))
        answered.addCallback(health_answer)
        answered.addCallback(self._respond)
        answered.addErrback(self._respond_failed)
        return None

    def _respond(self, answer):
        status, body = answer
        if self._disconnected or self.finished:
            return
        content = json.dumps(body).encode("utf8")
        self.serverResponse(
            {
                "status": status,
                "headers": [
                    (b"Content-Type", b"application/json"),
                    (b"Content-Length", b"%d" % len(content)),
                    (b"Cache-Control", b"no-store"),
                ],
                "content": content,
            }
        )

    def _respond_failed(self, failure):
        logger.error("Could not answer /healthz: %s", failure.getTraceback())
        if not (self._disconnected or self.finished):
            self.basic_error(503, b"Service Unavailable", "Health check failed")


def install():
    """Make Daphne build ``HealthRequest`` for every HTTP request.

    Daphne looks the class up at each connection, so this may run any time
    before the first request; ``asgi.py`` calls it on import."""
    http_protocol.WebRequest = HealthRequest
