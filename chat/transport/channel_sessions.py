"""The channel session engine (``CHANNEL_SESSION_ENGINE``): Django's cache
session store, in two cache round trips per message instead of six.

``channel_session`` and ``in_socket_order`` handle every frame with Django's
``cache`` session store as follows: load the session (GET), check that it
exists (EXISTS), and after the consumer save it twice, once in
``in_socket_order`` and once more in ``channel_session`` (the store leaves
``modified`` set), each save a GET to check the session still exists and a
SET. Measured with py-spy in a worker under the benchmark's ``latency``
scenario, that was a fifth of the worker's time (docs/performance.md).

This store keeps the same data under the same keys and changes three things:

* ``exists()`` of the key this store has just loaded answers from that load:
  the session was there a moment ago, when the message's handling began.
* ``save()`` on django-redis is one ``SET … XX``: written only if the key is
  still there, which is the cache store's own update check made atomic.
* After a save, ``modified`` is cleared, so nothing is written twice.

A missing session still costs a real ``exists()``, and any other cache (the
in-process one ``runserver`` uses) gets the parent's ``save()``.

Sessions are JSON (the cache's serializer, chat/settings.py), and a session
that does not read as a JSON object, such as one pickled by a release
before 2026-12-04 or planted in Redis, is read as empty and marked
``unreadable`` (``is_unreadable``); nothing in it is ever unpickled. The
consumers close such a socket to reconnect (docs/operations.md, "Deploying
a new Group naming").
"""

from django.contrib.sessions.backends import cache
from django.contrib.sessions.backends.base import UpdateError
from django_redis.cache import RedisCache


def is_unreadable(session):
    """Whether ``session`` (a channel session) was loaded from a value that
    is not a JSON object (bool): one pickled by a release before
    2026-12-04, or planted. False for any other session engine's."""
    # Reading the session loads it, which is what sets the flag.
    session.keys()
    return getattr(session, "unreadable", False)


class SessionStore(cache.SessionStore):
    """A ``django.contrib.sessions`` store over ``SESSION_CACHE_ALIAS``.

    Takes and raises what Django's cache ``SessionStore`` does: ``save()``
    raises ``UpdateError`` when the session was deleted since it was loaded
    (its socket disconnected, say) and ``CreateError`` when a new key is taken.
    """

    def __init__(self, session_key=None):
        super().__init__(session_key)
        # The key (str) whose load found a session, or None.
        self._found_key = None
        # Whether the load found a value that is not a session (bool).
        self.unreadable = False

    def load(self):
        """The session's data (dict): empty when there is none, or when what
        is stored does not decode as a JSON object (then ``unreadable`` is
        set and the key kept, so that a save overwrites it)."""
        key = self._session_key
        try:
            data = self._cache.get(self.cache_key)
        except ValueError:
            # JSONDecodeError or UnicodeDecodeError: a pickle, say.
            data = ValueError
        except Exception:
            # As the parent: an unreachable cache is no session.
            data = None
        if data is None:
            self._session_key = None
            self._found_key = None
            return {}
        self._found_key = key
        if not isinstance(data, dict):
            self.unreadable = True
            return {}
        return data

    def exists(self, session_key):
        if session_key is not None and session_key == self._found_key:
            return True
        return super().exists(session_key)

    def save(self, must_create=False):
        if self.session_key is None:
            return self.create()
        if must_create or not isinstance(self._cache, RedisCache):
            super().save(must_create=must_create)
        else:
            written = self._cache.set(
                self.cache_key, self._get_session(), self.get_expiry_age(), xx=True
            )
            if not written:
                raise UpdateError
        self._found_key = self._session_key
        self.modified = False
