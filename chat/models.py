import contextlib
import json

from channels import Group
from django.db import connection, models
from django.utils import timezone

from chat import conf


class Room(models.Model):
    """A chat room, addressed by its ``label`` in URLs and WebSocket paths."""

    name = models.CharField(max_length=200)
    label = models.SlugField(max_length=conf.LABEL_MAX_LENGTH, unique=True)

    def __str__(self):
        return self.label

    @property
    def group_name(self):
        """The name (str) of the channel layer Group every socket in the room joins."""
        return "chat-%s" % self.label

    @property
    def group(self):
        """The room's ``channels.Group``: send to it to reach every member."""
        return Group(self.group_name)

    def send_message(self, handle, text):
        """Store a message in the room and broadcast it to the room's Group.

        Takes the already-validated ``handle`` and ``text`` (str). Returns the
        stored ``Message``. Raises ``django.db.DatabaseError`` when it cannot
        be stored, in which case nothing was stored or sent.

        Messages of one room are stored and sent one at a time, under
        ``broadcast_lock``, so every member receives them in the same order,
        and that order is the order of their ids.
        """
        with broadcast_lock(self):
            message = self.messages.create(handle=handle, message=text)
            # Sent now, not when the consumer returns (channels' default), so
            # that it goes out while the lock is held.
            self.group.send({"text": json.dumps(message.as_dict())}, immediately=True)
        return message

    def recent_messages(self, limit=None):
        """Return the room's last ``limit`` messages (default
        ``CHAT_HISTORY_LENGTH``) as a list, oldest first."""
        limit = conf.get("CHAT_HISTORY_LENGTH") if limit is None else limit
        newest_first = self.messages.order_by("-timestamp", "-id")[:limit]
        return list(reversed(newest_first))


class Message(models.Model):
    """One chat message, as stored and as broadcast."""

    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    handle = models.TextField()
    message = models.TextField()
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return "[{timestamp}] {handle}: {message}".format(**self.as_dict())

    def as_dict(self):
        """The one payload shape for a message, as sent to clients.

        Returns ``{"id": int, "timestamp": str, "handle": str, "message": str}``,
        where ``timestamp`` is ISO 8601 in UTC with a ``Z`` suffix and
        microseconds, e.g. ``"2017-05-01T12:00:00.123456Z"``.
        """
        timestamp = self.timestamp.astimezone(timezone.utc).replace(tzinfo=None)
        return {
            "id": self.pk,
            "timestamp": timestamp.isoformat(timespec="microseconds") + "Z",
            "handle": self.handle,
            "message": self.message,
        }


# The first key of the PostgreSQL advisory locks taken by broadcast_lock; the
# second is the room's id. An arbitrary constant ("chat" in ASCII) that keeps
# these locks apart from any other advisory lock on the same database.
BROADCAST_LOCK_NAMESPACE = 0x63686174


@contextlib.contextmanager
def broadcast_lock(room):
    """Hold an exclusive per-room lock for the ``with`` block.

    On PostgreSQL this is a session-level advisory lock, so it spans a
    committed insert and the broadcast after it, and it is released if the
    holder's connection dies. Other databases (SQLite, for ``runserver``)
    already serialise writers, and get no extra lock.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", [BROADCAST_LOCK_NAMESPACE, room.pk])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [BROADCAST_LOCK_NAMESPACE, room.pk])
