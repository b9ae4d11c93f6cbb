"""Django 2.2's PostgreSQL backend, fixed for psycopg2 2.9.

psycopg2 2.9 passes a cursor's ``tzinfo_factory`` the UTC offset as a
``datetime.timedelta``; Django 2.2's ``utc_tzinfo_factory`` compares it with
the int ``0``, so the first timestamp read fails with "database connection
isn't set to UTC". Later Django releases accept ``timedelta(0)``; this
backend does the same and changes nothing else. Select it with
``ENGINE = "chat.transport.postgresql"`` (settings.py does so for
``postgres://`` URLs).
"""

import datetime

from django.conf import settings
from django.db.backends.postgresql import base
from django.utils.timezone import utc


def utc_tzinfo_factory(offset):
    """Return UTC for a zero ``offset`` (``timedelta`` from psycopg2 2.9, or
    minutes as an int from older releases).

    Raises ``AssertionError`` for any other offset: the connection's time zone
    is set to UTC on connect, so another offset means a misconfigured server.
    """
    if offset not in (0, datetime.timedelta(0)):
        raise AssertionError("database connection isn't set to UTC")
    return utc


class DatabaseWrapper(base.DatabaseWrapper):
    def create_cursor(self, name=None):
        cursor = super().create_cursor(name)
        cursor.tzinfo_factory = utc_tzinfo_factory if settings.USE_TZ else None
        return cursor
