"""The chat's write operations: open a room, post a message (from a
socket, or from anywhere with ``say``), mark a room read, issue and revoke
API tokens.

Consumers, views and management commands all change the chat through these
functions, so each rule (a room exists from its first use; a room's
messages are numbered, stored and broadcast one at a time) is written once.
Reads are in ``chat/selectors.py``.
"""

import contextlib
import json
import logging
import threading

from django.db import Error, IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from chat import conf, selectors, webhooks
from chat.exceptions import ClientError, HttpClientError
from chat.identity import access_denied
from chat.models import ApiToken, Message, ReadMark, Room, Upload
from chat.protocol import check_handle, check_message
from chat.ratelimit import take_cached_token

logger = logging.getLogger(__name__)


def open_room(label, client=None):
    """The ``Room`` labelled ``label`` (str), created on first use with the
    label as its name.

    ``client`` is the address (str) of whoever asks, when a client asks (a
    page or a socket): creating a room then spends one of that address's
    ``CHAT_ROOMS_PER_HOUR`` (rooms/hour, a token bucket as
    ``ratelimit.take_cached_token`` keeps it; opening a room that exists
    costs nothing). None (a command, the operator) is not limited.

    Raises ``ClientError("INVALID_LABEL")`` for a label that may not name a
    room (``conf.is_valid_label``); ``HttpClientError("RATE_LIMITED")``
    (status 429, with ``Retry-After`` in seconds) when ``client`` has
    created its share of rooms this hour; and ``django.db.Error`` when the
    database cannot be reached.
    """
    if not conf.is_valid_label(label):
        raise ClientError("INVALID_LABEL", "That is not a valid room label.")
    room = Room.objects.filter(label=label).first()
    if room is not None:
        return room
    if client is not None:
        _take_room_creation(client)
    room, _ = Room.objects.get_or_create(label=label, defaults={"name": label})
    return room


def _take_room_creation(client):
    """Spend one of ``client``'s (str, an address) room creations; raises
    the 429 ``HttpClientError`` when none is left."""
    per_hour = conf.get("CHAT_ROOMS_PER_HOUR")
    retry_after = take_cached_token(
        ROOM_CREATION_RATE_KEY % client, burst=per_hour, per_minute=per_hour / 60
    )
    if retry_after is not None:
        raise HttpClientError(
            "RATE_LIMITED",
            "Too many new rooms from your address; open an existing one, or try again later.",
            status=429,
            headers={"Retry-After": str(retry_after)},
        )


# The cache key of an address's room-creation bucket (chat/ratelimit.py).
ROOM_CREATION_RATE_KEY = "chat.rooms.created.%s"


def say(label, handle, text, bot=False):
    """Post ``text`` (str) as ``handle`` (str) in the room labelled
    ``label`` (str), from any Python code: a view, a management command, a
    shell, where no consumer runs. Validated, numbered, stored and
    broadcast exactly as a socket's chat message is: ``check_handle`` and
    ``check_message`` (the handle is stripped), then ``post_message``.
    ``bot`` (bool) marks the message as a bot's (``Message.bot``).

    Returns the stored ``Message``. Raises ``ClientError``: ``NOT_FOUND``
    (status 404) for a room that does not exist, as it never creates one;
    ``ROOM_ACCESS_DENIED`` (403) for a bot in a members-only room, since a
    bot is nobody's account; ``INVALID_FIELD`` for a handle or text that is
    not a str; and the codes of ``check_handle`` and ``check_message``.
    Raises ``django.db.Error`` when the message cannot be stored, in which
    case nothing was stored or sent.

    The broadcast is sent with ``immediately=True`` (in ``post_message``),
    so it behaves the same wherever this runs. Channels 1.x holds a
    consumer's sends until the consumer returns; a view is one too, under
    ``runworker`` (Django's ``http.request`` consumer), so without the flag
    a view's broadcast would leave after the room's lock was released and
    could overtake or trail another worker's, and the members' order would
    split. With no consumer running at all (a command, a shell) nothing
    would hold the send in the first place: the flag makes that explicit
    rather than a matter of where the caller happens to run.
    """
    room = selectors.find_room(label)
    if room is None:
        raise ClientError("NOT_FOUND", "No such room.", status=404)
    if bot and room.members_only:
        raise access_denied()
    for field, value in (("handle", handle), ("message", text)):
        if not isinstance(value, str):
            raise ClientError("INVALID_FIELD", "The field %r must be a string." % field)
    return post_message(room, check_handle(handle), check_message(text), bot=bot)


def post_message(room, handle, text, bot=False, upload=None, guest=False):
    """Store a message in ``room`` (a ``Room``; only its ``pk`` and
    ``label`` are read) and broadcast ``Message.as_dict()`` to the room's
    Group, every member's socket.

    Takes the already-validated ``handle`` and ``text`` (str), and ``bot``
    (bool: a bot's message, ``Message.bot``), ``upload`` (an ``Upload``
    whose thumbnail is made, for an image's message, or None), and
    ``guest`` (bool: sent without a signed-in user, ``Message.guest``; the
    caller has checked the handle with ``identity.check_unregistered``).
    Returns the
    stored ``Message``. Raises ``django.db.Error`` when it cannot be stored,
    in which case nothing was stored or sent; ``IntegrityError`` among them
    when ``upload`` already has its message.

    An ``upload`` is marked ``DONE`` in the transaction that stores its
    message, before the broadcast: a sender who sees the message and then
    asks for the job's status reads "done", and a job is done exactly when
    its message exists.

    Messages of one room are numbered, stored and sent one at a time, under
    the room's broadcast lock, so every member receives them in the same
    order, the order of their ``seq`` (1, 2, 3, … with no gaps) and of their
    ids. On PostgreSQL that takes two round trips in all
    (``_store_numbered_postgresql``); elsewhere (SQLite, for ``runserver``)
    the ORM does it under a lock within the process.
    """
    if connection.vendor == "postgresql":
        try:
            with _storing(upload):
                message = _store_numbered_postgresql(room, handle, text, bot, upload, guest)
                _mark_done(upload)
            _broadcast(room, message)
        finally:
            _release_broadcast_lock(room)
        webhooks.enqueue(room, message)
        return message
    with _local_broadcast_lock:
        with _storing(upload):
            last = room.messages.aggregate(last=Max("seq"))["last"] or 0
            message = room.messages.create(
                handle=handle, message=text, seq=last + 1, bot=bot, upload=upload, guest=guest
            )
            Room.objects.filter(pk=room.pk).update(
                last_seq=message.seq, last_activity=message.timestamp
            )
            _mark_done(upload)
        _broadcast(room, message)
    webhooks.enqueue(room, message)
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


def create_api_token(name):
    """Make an ``ApiToken`` named ``name`` (str, stripped of surrounding
    whitespace; 1 to 100 characters). Returns ``(api_token, secret)``: the
    saved ``ApiToken`` and its secret (str), which is stored nowhere and
    must be shown to its owner now or never.

    Raises ``ClientError``: ``INVALID_FIELD`` for an empty or too long name,
    ``NAME_TAKEN`` (status 409) when a token, revoked or not, already has
    that name. Raises ``django.db.Error`` when the database cannot be
    reached."""
    name = name.strip()
    max_length = ApiToken._meta.get_field("name").max_length
    if not 1 <= len(name) <= max_length:
        raise ClientError(
            "INVALID_FIELD", "A token's name must be 1 to %d characters." % max_length
        )
    api_token = ApiToken(name=name)
    secret = api_token.issue()
    try:
        with transaction.atomic():
            api_token.save()
    except IntegrityError:
        raise ClientError(
            "NAME_TAKEN", "A token named %r already exists." % name, status=409
        ) from None
    return api_token, secret


def revoke_api_token(name):
    """Revoke the ``ApiToken`` named ``name`` (str), so that it is refused
    from now on. Returns it; a token revoked before keeps its first
    ``revoked_at``. Raises ``ClientError("NOT_FOUND")`` (status 404) when no
    token has that name, and ``django.db.Error`` when the database cannot
    be reached."""
    api_token = ApiToken.objects.filter(name=name.strip()).first()
    if api_token is None:
        raise ClientError("NOT_FOUND", "No token is named %r." % name, status=404)
    if api_token.revoked_at is None:
        api_token.revoked_at = timezone.now()
        api_token.save(update_fields=["revoked_at"])
    return api_token


def _store_numbered_postgresql(room, handle, text, bot, upload, guest):
    """Take ``room``'s broadcast lock, then store the message numbered one
    past the room's last and note it as the room's ``last_seq`` and
    ``last_activity``, in one round trip; the lock stays held. Returns
    the ``Message``.

    The two statements go as one query string, which PostgreSQL runs in
    order: the insert starts, and takes its snapshot, only once the lock is
    held, so it sees every message the lock's previous holder stored.
    """
    message = Message(
        room=room,
        handle=handle,
        message=text,
        timestamp=timezone.now(),
        bot=bot,
        upload=upload,
        guest=guest,
    )
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
                bot,
                message.upload_id,
                guest,
                room.pk,
            ],
        )
        message.pk, message.seq = cursor.fetchone()
    return message


def _storing(upload):
    """The context a message is stored in: for an image's message, one
    transaction with marking its ``upload`` done; for any other, none, so
    that the insert commits on its own, with no BEGIN and COMMIT round
    trips on the path of every text message."""
    return transaction.atomic() if upload is not None else contextlib.nullcontext()


def _mark_done(upload):
    if upload is not None:
        Upload.objects.filter(pk=upload.pk).update(
            status=Upload.DONE, finished_at=timezone.now(), error=""
        )


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
# The room's last_seq and last_activity (the room list's order) are written
# by the same statement, a data-modifying WITH, so they cost no round trip.
_MESSAGE_TABLE = Message._meta.db_table
_ROOM_TABLE = Room._meta.db_table
_LOCK_AND_INSERT_SQL = (
    "SELECT pg_advisory_lock(%s, %s); "
    "WITH stored AS ("
    f"INSERT INTO {_MESSAGE_TABLE} "
    "(room_id, handle, message, timestamp, bot, upload_id, guest, seq) "
    "SELECT %s, %s, %s, %s, %s, %s, %s, COALESCE(MAX(seq), 0) + 1 "
    f"FROM {_MESSAGE_TABLE} WHERE room_id = %s "
    "RETURNING id, seq, timestamp, room_id), "
    f"noted AS (UPDATE {_ROOM_TABLE} SET last_seq = stored.seq, last_activity = stored.timestamp "
    f"FROM stored WHERE {_ROOM_TABLE}.id = stored.room_id) "
    "SELECT id, seq FROM stored"
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
