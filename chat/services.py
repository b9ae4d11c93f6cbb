"""The chat's write operations: open a room, post a message.

Consumers, views and management commands all change the chat through these
functions, so each rule (a room exists from its first use; a room's
messages are numbered, stored and broadcast one at a time) is written once.
Reads are in ``chat/selectors.py``.
"""

import json
import logging
import threading

from django.db import Error, IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from chat import conf
from chat.exceptions import ClientError
from chat.models import Message, ReadMark, Room

logger = logging.getLogger(__name__)


def open_room(label):
    """The ``Room`` labelled ``label`` (str), created on first use with the
    label as its name.

    Raises ``ClientError("INVALID_LABEL")`` for a label that may not name a
    room (``conf.is_valid_label``), and ``django.db.Error`` when the
    database cannot be reached.
    """
    if not conf.is_valid_label(label):
        raise ClientError("INVALID_LABEL", "That is not a valid room label.")
    room, _ = Room.objects.get_or_create(label=label, defaults={"name": label})
    return room


def post_message(room, handle, text):
    """Store a message in ``room`` (a ``Room``; only its ``pk`` and
    ``label`` are read) and broadcast ``Message.as_dict()`` to the room's
    Group, every member's socket.

    Takes the already-validated ``handle`` and ``text`` (str). Returns the
    stored ``Message``. Raises ``django.db.Error`` when it cannot be stored,
    in which case nothing was stored or sent.

    Messages of one room are numbered, stored and sent one at a time, under
    the room's broadcast lock, so every member receives them in the same
    order, the order of their ``seq`` (1, 2, 3, … with no gaps) and of their
    ids. On PostgreSQL that takes two round trips in all
    (``_store_numbered_postgresql``); elsewhere (SQLite, for ``runserver``)
    the ORM does it under a lock within the process.
    """
    if connection.vendor == "postgresql":
        try:
            message = _store_numbered_postgresql(room, handle, text)
            _broadcast(room, message)
        finally:
            _release_broadcast_lock(room)
        return message
    with _local_broadcast_lock:
        last = room.messages.aggregate(last=Max("seq"))["last"] or 0
        message = room.messages.create(handle=handle, message=text, seq=last + 1)
        _broadcast(room, message)
    return message


def mark_read(user_id, room, seq):
    """Record that the user ``user_id`` (int) has read ``room`` (a ``Room``)
    up to its message ``seq`` (int). Keeps the highest ``seq`` ever
    reported, so reports that cross on the way cannot move it back. One
    UPDATE, plus an INSERT the first time. Returns None; raises
    ``django.db.Error`` when the database cannot be reached."""
    marks = ReadMark.objects.filter(user_id=user_id, room_id=room.pk)
    if marks.filter(seq__lt=seq).update(seq=seq):
        return
    try:
        with transaction.atomic():
            ReadMark.objects.get_or_create(user_id=user_id, room_id=room.pk, defaults={"seq": seq})
    except IntegrityError:
        # Another socket of the same user created it meanwhile.
        marks.filter(seq__lt=seq).update(seq=seq)


def _store_numbered_postgresql(room, handle, text):
    """Take ``room``'s broadcast lock, then store the message numbered one
    past the room's last, in one round trip; the lock stays held. Returns
    the ``Message``.

    The two statements go as one query string, which PostgreSQL runs in
    order: the insert starts, and takes its snapshot, only once the lock is
    held, so it sees every message the lock's previous holder stored.
    """
    message = Message(room=room, handle=handle, message=text, timestamp=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            _LOCK_AND_INSERT_SQL,
            [
                BROADCAST_LOCK_NAMESPACE,
                room.pk,
                room.pk,
                handle,
                text,
                message.timestamp,
                room.pk,
            ],
        )
        message.pk, message.seq = cursor.fetchone()
    return message


def _broadcast(room, message):
    # Sent now, not when the consumer returns (channels' default), so that
    # it goes out while the lock is held.
    room.group.send({"text": json.dumps(message.as_dict())}, immediately=True)


# The first key of the PostgreSQL advisory locks taken by post_message; the
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
