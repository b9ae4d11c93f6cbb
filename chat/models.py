import json
import logging
import threading

from channels import Group
from django.db import Error, connection, models
from django.db.models import Max
from django.utils import timezone

from chat import conf

logger = logging.getLogger(__name__)


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
        stored ``Message``. Raises ``django.db.Error`` when it cannot
        be stored, in which case nothing was stored or sent.

        Messages of one room are numbered, stored and sent one at a time,
        under the room's broadcast lock, so every member receives them in the
        same order, the order of their ``seq`` (1, 2, 3, … with no gaps) and
        of their ids. On PostgreSQL that takes two round trips in all
        (``_store_numbered_postgresql``); elsewhere (SQLite, for
        ``runserver``) the ORM does it under a lock within the process.
        """
        if connection.vendor == "postgresql":
            try:
                message = self._store_numbered_postgresql(handle, text)
                self._broadcast(message)
            finally:
                _release_broadcast_lock(self)
            return message
        with _local_broadcast_lock:
            last = self.messages.aggregate(last=Max("seq"))["last"] or 0
            message = self.messages.create(handle=handle, message=text, seq=last + 1)
            self._broadcast(message)
        return message

    def _store_numbered_postgresql(self, handle, text):
        """Take the room's broadcast lock, then store the message numbered
        one past the room's last, in one round trip; the lock stays held.

        The two statements go as one query string, which PostgreSQL runs in
        order: the insert starts, and takes its snapshot, only once the lock
        is held, so it sees every message the lock's previous holder stored.
        """
        message = Message(room=self, handle=handle, message=text, timestamp=timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                _LOCK_AND_INSERT_SQL,
                [
                    BROADCAST_LOCK_NAMESPACE,
                    self.pk,
                    self.pk,
                    handle,
                    text,
                    message.timestamp,
                    self.pk,
                ],
            )
            message.pk, message.seq = cursor.fetchone()
        return message

    def _broadcast(self, message):
        # Sent now, not when the consumer returns (channels' default), so
        # that it goes out while the lock is held.
        self.group.send({"text": json.dumps(message.as_dict())}, immediately=True)

    def messages_after(self, after_id, limit):
        """Up to ``limit`` (int) messages with an id above ``after_id`` (int),
        oldest first, as a list."""
        return list(self.messages.filter(id__gt=after_id).order_by("seq")[:limit])

    def messages_before(self, before_id, limit):
        """The last ``limit`` (int) messages with an id below ``before_id``
        (int, or None for no bound), oldest first, as a list."""
        messages = self.messages.all()
        if before_id is not None:
            messages = messages.filter(id__lt=before_id)
        return list(reversed(messages.order_by("-seq")[:limit]))


class Message(models.Model):
    """One chat message, as stored and as broadcast."""

    room = models.ForeignKey(Room, related_name="messages", on_delete=models.CASCADE)
    handle = models.TextField()
    message = models.TextField()
    timestamp = models.DateTimeField(default=timezone.now, db_index=True)
    # The message's place in its room: 1, 2, 3, … with no gaps, so a client
    # that receives seq n + 2 after n knows it missed one and can catch up.
    seq = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="message_seq_unique_in_room")
        ]

    def __str__(self):
        return "[{timestamp}] {handle}: {message}".format(**self.as_dict())

    def as_dict(self):
        """The one payload shape for a message, as sent to clients.

        Returns ``{"id": int, "seq": int, "timestamp": str, "handle": str,
        "message": str}``, where ``timestamp`` is ISO 8601 in UTC with a ``Z``
        suffix and microseconds, e.g. ``"2017-05-01T12:00:00.123456Z"``.
        """
        timestamp = self.timestamp.astimezone(timezone.utc).replace(tzinfo=None)
        return {
            "id": self.pk,
            "seq": self.seq,
            "timestamp": timestamp.isoformat(timespec="microseconds") + "Z",
            "handle": self.handle,
            "message": self.message,
        }


# The first key of the PostgreSQL advisory locks taken by broadcast_lock; the
# second is the room's id. An arbitrary constant ("chat" in ASCII) that keeps
# these locks apart from any other advisory lock on the same database.
BROADCAST_LOCK_NAMESPACE = 0x63686174

# Taking the lock and inserting the next message, in one query string.
# Session-level, so the lock outlives the insert's commit and spans the
# broadcast; it is released when the holder's connection ends, if not before.
_MESSAGE_TABLE = Message._meta.db_table
_LOCK_AND_INSERT_SQL = (
    "SELECT pg_advisory_lock(%s, %s); "
    f"INSERT INTO {_MESSAGE_TABLE} (room_id, handle, message, timestamp, seq) "
    "SELECT %s, %s, %s, %s, COALESCE(MAX(seq), 0) + 1 "
    f"FROM {_MESSAGE_TABLE} WHERE room_id = %s "
    "RETURNING id, seq"
)

# The lock of rooms on databases other than PostgreSQL, which serve only one
# process (runserver): a lock within the process is enough.
_local_broadcast_lock = threading.Lock()


def _release_broadcast_lock(room):
    """Release ``room``'s PostgreSQL broadcast lock. If the connection is
    broken, close it instead: PostgreSQL releases a session's locks when it
    ends. Returns None; never raises ``django.db.Error``."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [BROADCAST_LOCK_NAMESPACE, room.pk])
    except Error:
        logger.warning("Could not release the broadcast lock of room %s", room.pk)
        connection.close()
