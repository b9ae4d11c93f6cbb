"""The services a booted split needs: a scratch PostgreSQL database and a
key prefix of its own in Redis, both removed afterwards, or a throwaway
``redis-server`` of its own, plus the one copy of what the benchmark and
the test suite both ask of them: where they are by default, a free port,
and the messages stored per room. The test suite's fixtures
(``tests/services.py``) import these.
"""

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import redis
from psycopg2 import sql

from chat.env import redis_urls

logger = logging.getLogger(__name__)

# Where the services are when neither REDIS_URL nor DATABASE_URL says:
# their default local ports.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def default_redis_url():
    """The Redis URL (str) to use: the first of ``REDIS_URL``, or the local default.

    Raises ``ImproperlyConfigured`` for a ``REDIS_URL`` that is not a list of
    Redis URLs, as the chat's settings do."""
    return (redis_urls() or [DEFAULT_REDIS_URL])[0]


def free_port():
    """An unused TCP port (int) on 127.0.0.1, for a server about to start."""
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_postgres_url():
    """The PostgreSQL server URL (str) to create scratch databases on:
    ``DATABASE_URL`` when it is a PostgreSQL one, or the local default."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    return DEFAULT_POSTGRES_URL


def with_database(url, name):
    """``url`` (a ``postgres://`` URL) pointing at database ``name`` instead."""
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


@contextlib.contextmanager
def scratch_database(server_url, name):
    """Create the empty database ``name`` on the PostgreSQL server at
    ``server_url`` for the ``with`` block, yield its URL (str), then drop it.

    Raises ``psycopg2.Error`` when the server refuses.
    """
    admin = psycopg2.connect(server_url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute('DROP DATABASE IF EXISTS "%s"' % name)
            cursor.execute('CREATE DATABASE "%s"' % name)
        yield with_database(server_url, name)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
            )
            cursor.execute('DROP DATABASE IF EXISTS "%s"' % name)
        admin.close()


def database_exists(server_url, name):
    """True when the PostgreSQL server at ``server_url`` has a database ``name``."""
    with contextlib.closing(psycopg2.connect(server_url)) as connection:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            return cursor.fetchone() is not None


def stored_messages(database_url, labels=None, label_prefix=None, columns=("id",)):
    """The messages the chat stored in some rooms of the database at
    ``database_url``, read with a connection of its own: a list of tuples
    ``(room label, *columns)``, by room label and then ``seq`` (oldest first).

    The rooms are those whose label is in ``labels`` (a list of str), or
    starts with ``label_prefix`` (str); ``columns`` names columns of the
    ``chat_message`` table. Raises ``psycopg2.Error`` when the server
    refuses.
    """
    if labels is not None:
        where, parameter = sql.SQL("r.label = ANY(%s)"), list(labels)
    else:
        where, parameter = sql.SQL("r.label LIKE %s"), _like_prefix(label_prefix)
    query = sql.SQL(
        "SELECT r.label, {} FROM chat_message m JOIN chat_room r ON r.id = m.room_id "
        "WHERE {} ORDER BY r.label, m.seq"
    ).format(sql.SQL(", ").join(sql.Identifier("m", column) for column in columns), where)
    with contextlib.closing(psycopg2.connect(database_url)) as connection:
        with connection.cursor() as cursor:
            cursor.execute(query, [parameter])
            return cursor.fetchall()


def count_stored_messages(database_url, label_prefix):
    """How many messages (int) the chat stored in rooms whose label starts
    with ``label_prefix`` (str), in the database at ``database_url``: what
    the workers handled, whether or not Daphne delivered it yet."""
    return len(stored_messages(database_url, label_prefix=label_prefix))


def _like_prefix(prefix):
    """A LIKE pattern (str) matching the strings that start with ``prefix``."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def redis_port(url):
    """The TCP port (int) of a ``redis://`` URL."""
    return urlsplit(url).port or 6379


def delete_redis_prefix(url, prefix):
    """Delete every key under ``prefix`` (str) in the Redis at ``url``."""
    client = redis.StrictRedis.from_url(url)
    for key in client.scan_iter(match=prefix + "*", count=1000):
        client.delete(key)


def count_redis_prefix(url, prefix):
    """The number of keys (int) under ``prefix`` in the Redis at ``url``."""
    client = redis.StrictRedis.from_url(url)
    return sum(1 for _ in client.scan_iter(match=prefix + "*", count=1000))


def consumed_channels():
    """The channels the chat's workers consume (a sorted list of str, e.g.
    ``"websocket.receive"``): those ``CHANNEL_ROUTING`` routes, plus the
    defaults ``runworker`` adds to it (Django's views on ``http.request``).
    Needs Django's settings."""
    from channels.routing import Router
    from django.conf import settings

    router = Router(settings.CHANNEL_ROUTING)
    router.check_default()
    return sorted(router.channels)


def count_queued_messages(url, prefix):
    """How many messages (int) wait in the channel layer's queues under
    ``prefix`` in the Redis at ``url``: the lengths of the lists of the
    consumed channels (``consumed_channels``) and of Daphne's response
    channels (``daphne.response.<process>!``). A channel that Daphne sends
    to and no consumer takes is not counted: its messages wait until they
    expire, so they are no backlog."""
    client = redis.StrictRedis.from_url(url)
    counted = {(prefix + channel).encode() for channel in consumed_channels()}
    waiting = 0
    for key in client.scan_iter(match=prefix + "*", count=1000):
        if (key in counted or key.endswith(b"!")) and client.type(key) == b"list":
            waiting += client.llen(key)
    return waiting


def wait_for_empty_queues(url, prefix, timeout):
    """Wait until the queues of ``consumed_channels()`` under ``prefix`` in
    the Redis at ``url`` are empty, for at most ``timeout`` seconds.
    Returns True when they emptied, False on timeout.

    The channel layer keeps each channel's queue as a Redis list (asgi_redis
    names it ``<prefix><channel>``), so empty lists mean the workers have
    caught up with what the last run left behind, such as the disconnects
    of its sockets.
    """
    client = redis.StrictRedis.from_url(url)
    keys = [prefix + channel for channel in consumed_channels()]
    deadline = time.monotonic() + timeout
    while True:
        waiting = 0
        for key in keys:
            if client.type(key) == b"list":
                waiting += client.llen(key)
        if waiting == 0:
            return True
        if time.monotonic() >= deadline:
            logger.warning(
                "%d messages still queued under %s after %.0f s", waiting, prefix, timeout
            )
            return False
        time.sleep(0.2)


def wait_for(check, timeout, what):
    """Call ``check()`` until it returns a true value, and return that value.

    ``timeout`` is in seconds. Raises ``TimeoutError`` naming ``what`` if it
    never does; exceptions from ``check`` count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception as error:  # noqa: BLE001 - any failure means "not yet"
            last_error = error
        else:
            if result:
                return result
        time.sleep(0.05)
    raise TimeoutError("%s not ready after %.0f s (last error: %r)" % (what, timeout, last_error))


def redis_is_up(url):
    """True when a Redis server answers PING at ``url``."""
    try:
        return redis.StrictRedis.from_url(url, socket_timeout=2).ping()
    except redis.RedisError:
        return False


class RedisServer:
    """A throwaway ``redis-server`` on a free port, keeping nothing on disk.

    ``url`` is its ``redis://`` URL (database 0). ``stop()`` kills it;
    ``start()`` starts it again on the same port (for restart tests).
    """

    def __init__(self, port=None):
        self.port = port or free_port()
        self.url = "redis://127.0.0.1:%d/0" % self.port
        self.process = None

    def start(self):
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not on the PATH")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", tempfile.gettempdir()],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: redis_is_up(self.url), 10, "redis-server on port %d" % self.port)
        return self

    def stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


# Signs in the readers of signed_in_readers: for each room label, that many
# users, each with a read mark at the room's start and an HTTP session.
_SIGNED_IN_READERS = """
# In a function, imports included: shell -c runs code with locals that
# comprehensions and functions cannot see.
def main():
    import uuid
    from django.conf import settings
    from django.contrib import auth
    from django.contrib.sessions.backends.db import SessionStore
    from chat import services
    from chat.models import ReadMark

    labels, per_room = %r, %d
    User = auth.get_user_model()
    tag = uuid.uuid4().hex[:6]
    keys = []
    for n, label in enumerate(labels):
        room = services.open_room(label)
        User.objects.bulk_create(
            [User(username="r%%s_%%d_%%d" %% (tag, n, i)) for i in range(per_room)]
        )
        made = User.objects.filter(username__startswith="r%%s_%%d_" %% (tag, n))
        users = list(made.order_by("pk"))
        ReadMark.objects.bulk_create([ReadMark(user=u, room=room, seq=0) for u in users])
        for user in users:
            session = SessionStore()
            session[auth.SESSION_KEY] = str(user.pk)
            session[auth.BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
            session[auth.HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            keys.append(session.session_key)
    print(" ".join(keys))


main()
"""


def signed_in_readers(env, labels, per_room):
    """Make ``per_room`` (int) users for each room of ``labels`` (list of
    str, created if need be) in the split's database (``env``, dict of
    str), each with a read mark at the room's start, so that they follow it
    in their live counts, and an HTTP session signed in as them. Returns
    the session keys (list of str), room by room, in the order of
    ``labels``. Raises ``bench.split.ProcessFailed`` when that fails."""
    from bench.split import manage

    code = _SIGNED_IN_READERS % (list(labels), per_room)
    return manage(env, "shell", "-c", code, timeout=600).split()
