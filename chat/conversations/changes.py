"""Edits, deletes and reactions: each an event in the room's stream
(docs/conversations.md).

A change is numbered, stored and sent as a new message is
(``chat.services.post_message``): under the room's broadcast lock, it takes
the room's next ``seq`` from ``Room.last_seq`` in the statement that stores
it, and the message it touches takes that ``seq`` as its ``version``. So a
room's messages and changes share one gap-free ``seq``, and members receive
them in that order. Then, still under the lock, the message is read back in
its current state and sent to the room's presence Group as a change frame:

    {"type": "change", "change": "edit" | "delete" | "react", "seq": <the event's seq>,
     "object": <Message.as_dict(), the message as it is now>}

The presence Group, not the room's Group: a socket that speaks only the
seed protocol hears no frame it does not know until it sends a typed frame
(docs/protocol.md, "Changing messages"). Edits and deletes then go to the
room's webhook (chat/webhooks.py).

Each function checks ``rules.check_change`` first and raises its
``ClientError``; a message deleted meanwhile, between that check and the
lock, is ``MESSAGE_NOT_FOUND`` as well, and nothing is changed or numbered.
On PostgreSQL a change costs one round trip to take the lock and store it,
two to read the message back and one to release the lock.
"""

import json
import logging

from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone

from chat import conf, live_counts, mentions, selectors, services, webhooks
from chat.conversations import rules
from chat.exceptions import ClientError
from chat.models import (
    Mention,
    Message,
    MessageEdit,
    Reaction,
    Room,
    Upload,
    WebhookDelivery,
)
from chat.protocol import SEQ_MAX
from chat.transport import send_group_riding

logger = logging.getLogger(__name__)

# The kinds of change (the frame's "change").
EDIT = rules.EDIT
DELETE = rules.DELETE
REACT = rules.REACT


def edit(room, actor, message_id, text, now=None):
    """``actor`` (a ``rules.Actor``) replaces the text of ``room``'s
    message ``message_id`` (int) with ``text`` (str, through
    ``protocol.check_message`` already). The text before is kept in its
    edit history (``MessageEdit``). ``room`` is a ``Room`` (only ``pk``
    and ``label`` are read); ``now`` (an aware datetime) is for tests.

    The new text's mentions replace the old ones (docs/mentions.md): a
    user it names now, and did not before, gets a ``Mention`` with the
    edit's ``seq`` (and so a count and a notification); one it no longer
    names loses theirs; one named before and now keeps theirs as it was.

    Returns the ``Message`` as it is now. Raises ``ClientError``
    (``check_change``'s codes: ``MESSAGE_NOT_FOUND``,
    ``IDENTITY_REQUIRED``, ``NOT_YOURS``, ``TOO_LATE``), and
    ``django.db.Error`` when it cannot be stored, in which case nothing
    changed."""
    now = now or timezone.now()
    message = _changeable(room, actor, message_id, EDIT, now)
    # Who the new text mentions, read before the lock as post_message does:
    # nothing asked of anyone for a text without "@".
    mentioned = (
        selectors.mentioned(room, text, message.user_id)
        if mentions.might_mention(text)
        else mentions.NONE
    )
    params = {
        "message": message.pk,
        "text": text,
        "now": now,
        "user": actor.user_id,
        "guest": actor.guest_author,
        "token": actor.api_token_id,
        "names": services.mentioned_names(mentioned),
        "here": mentioned.here,
        "mentioned": mentioned.user_ids,
    }
    changed = _in_stream(room, message.pk, EDIT, _EDIT_SQL, params, _edit_locally)
    webhooks.enqueue(room, changed, event=WebhookDelivery.EDIT)
    # An edit may add or remove a mention.
    live_counts.room_changed(room.label)
    return changed


def delete(room, actor, message_id, now=None):
    """``actor`` (a ``rules.Actor``) deletes ``room``'s message
    ``message_id`` (int): it becomes a tombstone (no text, ``deleted_at``
    set), and its edit history, its reactions, its mentions, its upload
    and the upload's files (original and thumbnail) are deleted. ``room`` and ``now`` as
    for ``edit``.

    Returns the tombstone (``Message``). Raises ``ClientError``
    (``MESSAGE_NOT_FOUND``, ``IDENTITY_REQUIRED``, ``NOT_YOURS``), and
    ``django.db.Error`` when it cannot be stored, in which case nothing
    changed. A file the storage fails to delete is logged with its name
    and left behind, as ``jobs.delete_failed`` does; it belongs to no row
    any more."""
    now = now or timezone.now()
    message = _changeable(room, actor, message_id, DELETE, now)
    params = {"message": message.pk, "now": now}
    tombstone = _in_stream(room, message.pk, DELETE, _DELETE_SQL, params, _delete_locally)
    webhooks.enqueue(room, tombstone, event=WebhookDelivery.DELETE)
    live_counts.room_changed(room.label)
    for name in tombstone.deleted_files:
        try:
            default_storage.delete(name)
        except Exception:  # noqa: BLE001 - any storage backend's error; logged
            logger.exception("Could not delete %s of deleted message %s", name, tombstone.pk)
    return tombstone


def react(room, actor, message_id, emoji, handle, now=None):
    """``actor`` (a ``rules.Actor``, a user or a named guest) toggles their
    reaction ``emoji`` (str, through ``protocol.check_emoji`` already) on
    ``room``'s message ``message_id`` (int): adds it, shown as ``handle``
    (str), or takes it back if they gave it already. ``room`` and ``now``
    as for ``edit``.

    Returns the ``Message`` as it is now. Raises ``ClientError``
    (``MESSAGE_NOT_FOUND``, ``IDENTITY_REQUIRED``, and
    ``TOO_MANY_REACTIONS`` for an emoji that would be the message's
    ``CHAT_REACTIONS_MAX_EMOJI`` + 1st), and ``django.db.Error`` when it
    cannot be stored, in which case nothing changed."""
    now = now or timezone.now()
    message = _changeable(room, actor, message_id, REACT, now)
    column, reactor = actor.nonce_key()
    params = {
        "message": message.pk,
        "emoji": emoji,
        "handle": handle,
        "reactor": reactor,
        "user": actor.user_id,
        "guest": actor.guest_author,
        "now": now,
        "most": conf.get("CHAT_REACTIONS_MAX_EMOJI"),
    }
    return _in_stream(room, message.pk, REACT, _REACT_SQL[column], params, _react_locally)


def edit_history(room, actor, message_id):
    """The edit history of ``room``'s message ``message_id`` (int), for
    ``actor`` (a ``rules.Actor``), who must moderate the room: returns
    ``(message, edits)``, the ``Message`` and its ``MessageEdit`` rows,
    oldest first, with their ``editor``. Raises ``ClientError``
    (``MESSAGE_NOT_FOUND``, ``IDENTITY_REQUIRED``, ``NOT_ALLOWED``)."""
    message = _changeable(room, actor, message_id, rules.READ_HISTORY, None)
    return message, list(message.edits.select_related("editor", "editor_api_token"))


def change_frame(kind, seq, message):
    """The change frame (dict) of the event ``seq`` (int), of ``kind``
    (``EDIT``, ``DELETE`` or ``REACT``), that left ``message`` (a
    ``Message``) as it is."""
    return {"type": "change", "change": kind, "seq": seq, "object": message.as_dict()}


def _changeable(room, actor, message_id, action, now):
    """``room``'s message ``message_id`` with its room and upload, if
    ``actor`` may do ``action`` to it; raises ``rules.check_change``'s
    ``ClientError`` otherwise, ``MESSAGE_NOT_FOUND`` for a message of
    another room or none, or an id no message can have (an HTTP path's
    ``<int:…>`` is any size; past ``protocol.SEQ_MAX`` SQLite cannot
    even compare it)."""
    if not 1 <= message_id <= SEQ_MAX:
        raise rules.message_not_found()
    message = (
        Message.objects.select_related("room", "upload")
        .filter(pk=message_id, room_id=room.pk)
        .first()
    )
    if message is None:
        raise rules.message_not_found()
    rules.check_change(actor, message, action, now)
    return message


def _in_stream(room, message_id, kind, sql, params, store_locally):
    """Store one change of ``kind`` to the message ``message_id`` as the
    room's next event and broadcast its change frame, under the room's
    broadcast lock. On PostgreSQL ``sql`` (with ``params``, a dict, and
    the lock's keys) takes the lock and stores it in one round trip;
    elsewhere ``store_locally(room, params)`` does it through the ORM.
    Both give the statement's row (``_outcome``).

    Returns the ``Message`` as it is now, with ``deleted_files``; raises
    ``MESSAGE_NOT_FOUND`` when the message was deleted meanwhile, and
    ``TOO_MANY_REACTIONS`` when the statement refused a new emoji."""
    if connection.vendor == "postgresql":
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    sql,
                    dict(params, namespace=services.BROADCAST_LOCK_NAMESPACE, room=room.pk),
                )
                row = cursor.fetchone()
            seq, files = _outcome(row)
            current = _broadcast(room, message_id, kind, seq)
        finally:
            services.release_broadcast_lock(room)
    else:
        with services.local_broadcast_lock:
            with transaction.atomic():
                row = store_locally(room, params)
            seq, files = _outcome(row)
            current = _broadcast(room, message_id, kind, seq)
    current.deleted_files = files
    return current


def _outcome(row):
    """``(seq, files)`` from the row a change statement returned: the
    event's seq (int) and the names of the stored files it freed (list of
    str). The row is ``(seq, *file names)`` for a change made; none for a
    message not found; a reaction's is ``(seq or None, found)``, None
    when the message was found but the emoji was refused."""
    if row is None or (row[0] is None and not row[1]):
        raise rules.message_not_found()
    if row[0] is None:
        raise too_many_reactions()
    return row[0], [name for name in row[1:] if isinstance(name, str) and name]


def too_many_reactions():
    """The ``ClientError`` (``TOO_MANY_REACTIONS``) for an emoji that would
    take a message past ``CHAT_REACTIONS_MAX_EMOJI`` distinct emoji."""
    return ClientError(
        "TOO_MANY_REACTIONS",
        "A message can have at most %d different reactions." % conf.get("CHAT_REACTIONS_MAX_EMOJI"),
    )


def _broadcast(room, message_id, kind, seq):
    """Read the message back, as the event ``seq`` left it, and send its
    change frame to ``room``'s presence Group now, under the lock."""
    current = (
        Message.objects.select_related("room", "upload")
        .prefetch_related("reactions")
        .get(pk=message_id)
    )
    frame = change_frame(kind, seq, current)
    # In the room's sequence, with its messages: where the layer orders
    # broadcasts, a message numbered after this change waits for it.
    send_group_riding(
        room.presence_group.name,
        {"text": json.dumps(frame)},
        sequence=(services.room_sequence(room), seq),
    )
    return current


def _take_seq_locally(room, message_id):
    """The next seq of ``room`` for a change to its message ``message_id``
    if that message is there and not deleted, else None; ORM, under
    ``services.local_broadcast_lock`` in a transaction."""
    if not Message.objects.filter(pk=message_id, room_id=room.pk, deleted_at=None).exists():
        return None
    return services.take_seq_locally(room)


def _edit_locally(room, params):
    seq = _take_seq_locally(room, params["message"])
    if seq is None:
        return None
    message = Message.objects.get(pk=params["message"])
    MessageEdit.objects.create(
        message=message,
        seq=seq,
        text=message.message,
        edited_at=params["now"],
        editor_id=params["user"],
        editor_guest=params["guest"],
        editor_api_token_id=params["token"],
    )
    Message.objects.filter(pk=message.pk).update(
        message=params["text"],
        edited_at=params["now"],
        version=seq,
        mentioned_names=params["names"],
        mentions_here=params["here"],
    )
    Mention.objects.filter(message=message).exclude(user_id__in=params["mentioned"]).delete()
    services.store_mentions_locally(message, seq, params["mentioned"], params["now"])
    return (seq,)


def _delete_locally(room, params):
    seq = _take_seq_locally(room, params["message"])
    if seq is None:
        return None
    message = Message.objects.select_related("upload").get(pk=params["message"])
    files = []
    Message.objects.filter(pk=message.pk).update(
        message="",
        edited_at=None,
        deleted_at=params["now"],
        upload=None,
        version=seq,
        mentioned_names="",
        mentions_here=False,
    )
    MessageEdit.objects.filter(message=message).delete()
    Mention.objects.filter(message=message).delete()
    Reaction.objects.filter(message=message).delete()
    if message.upload is not None:
        files = [message.upload.original.name, message.upload.thumbnail.name]
        Upload.objects.filter(pk=message.upload_id).delete()
    return (seq, *files)


def _react_locally(room, params):
    message_id = params["message"]
    if not Message.objects.filter(pk=message_id, room_id=room.pk, deleted_at=None).exists():
        return None, False
    reactions = Reaction.objects.filter(message_id=message_id)
    reactor = {"user_id": params["user"]} if params["user"] else {"guest_author": params["guest"]}
    mine = reactions.filter(emoji=params["emoji"], **reactor)
    known = reactions.filter(emoji=params["emoji"]).exists()
    if not known and reactions.values("emoji").distinct().count() >= params["most"]:
        return None, True
    seq = services.take_seq_locally(room)
    if not mine.delete()[0]:
        Reaction.objects.create(
            message_id=message_id,
            emoji=params["emoji"],
            handle=params["handle"],
            user_id=params["user"],
            guest_author=params["guest"],
            created_at=params["now"],
        )
    Message.objects.filter(pk=message_id).update(version=seq)
    return seq, True


# The statements of the changes on PostgreSQL. Each goes with the lock in
# one query string, as post_message's insert does: the data-modifying WITH
# takes its snapshot once the lock is held, so it sees every event stored
# before it. In each, target finds the message if it is in the room and not
# deleted, numbered takes the room's next seq only then, and the rest
# happen only with a number: a change of a message deleted meanwhile
# numbers and stores nothing.
_MESSAGE_TABLE = Message._meta.db_table
_ROOM_TABLE = Room._meta.db_table
_EDIT_TABLE = MessageEdit._meta.db_table
_REACTION_TABLE = Reaction._meta.db_table
_UPLOAD_TABLE = Upload._meta.db_table
_MENTION_TABLE = Mention._meta.db_table
_USER_TABLE = Mention._meta.get_field("user").related_model._meta.db_table

_LOCK = "SELECT pg_advisory_lock(%(namespace)s, %(room)s); "
_TARGET = (
    f"target AS (SELECT id, message, upload_id FROM {_MESSAGE_TABLE} "
    "WHERE id = %(message)s AND room_id = %(room)s AND deleted_at IS NULL), "
)
_NUMBERED_IF = (
    f"numbered AS (UPDATE {_ROOM_TABLE} SET last_seq = COALESCE(last_seq, 0) + 1 "
    "WHERE id = %(room)s AND EXISTS (SELECT 1 FROM {condition}) RETURNING last_seq), "
)

# An edit: the new text and the edit's seq as the version, and the text
# before kept (kept) from the snapshot (target). The new text's mentions
# replace the old: those it no longer makes removed (unmentioned), new
# ones stored with the edit's seq (mentioned), those it still makes kept.
_EDIT_SQL = (
    _LOCK
    + "WITH "
    + _TARGET
    + _NUMBERED_IF.format(condition="target")
    + f"changed AS (UPDATE {_MESSAGE_TABLE} "
    "SET message = %(text)s, edited_at = %(now)s, version = numbered.last_seq, "
    "mentioned_names = %(names)s, mentions_here = %(here)s "
    f"FROM numbered WHERE {_MESSAGE_TABLE}.id = %(message)s), "
    f"kept AS (INSERT INTO {_EDIT_TABLE} "
    "(message_id, seq, text, edited_at, editor_id, editor_guest, editor_api_token_id) "
    "SELECT target.id, numbered.last_seq, target.message, %(now)s, %(user)s, %(guest)s, "
    "%(token)s FROM target, numbered), "
    f"unmentioned AS (DELETE FROM {_MENTION_TABLE} WHERE message_id = %(message)s "
    "AND EXISTS (SELECT 1 FROM numbered) "
    "AND NOT (user_id = ANY(%(mentioned)s::integer[]))), "
    f"mentioned AS (INSERT INTO {_MENTION_TABLE} "
    "(message_id, room_id, user_id, seq, created_at) "
    "SELECT %(message)s, %(room)s, account.id, numbered.last_seq, %(now)s "
    f"FROM numbered, {_USER_TABLE} account "
    "WHERE account.id = ANY(%(mentioned)s::integer[]) "
    "ON CONFLICT (message_id, user_id) DO NOTHING) "
    "SELECT last_seq FROM numbered"
)

# A delete: the tombstone; the edit history, the reactions and the upload
# deleted with it, the upload's file names returned for the storage.
_DELETE_SQL = (
    _LOCK
    + "WITH "
    + _TARGET
    + _NUMBERED_IF.format(condition="target")
    + f"changed AS (UPDATE {_MESSAGE_TABLE} SET message = '', edited_at = NULL, "
    "deleted_at = %(now)s, upload_id = NULL, version = numbered.last_seq, "
    "mentioned_names = '', mentions_here = FALSE "
    f"FROM numbered WHERE {_MESSAGE_TABLE}.id = %(message)s), "
    f"forgot_mentions AS (DELETE FROM {_MENTION_TABLE} "
    "WHERE message_id IN (SELECT id FROM target)), "
    f"forgot_edits AS (DELETE FROM {_EDIT_TABLE} "
    "WHERE message_id IN (SELECT id FROM target)), "
    f"forgot_reactions AS (DELETE FROM {_REACTION_TABLE} "
    "WHERE message_id IN (SELECT id FROM target)), "
    f"forgot_upload AS (DELETE FROM {_UPLOAD_TABLE} "
    "WHERE id IN (SELECT upload_id FROM target) RETURNING original, thumbnail) "
    "SELECT numbered.last_seq, forgot_upload.original, forgot_upload.thumbnail "
    "FROM numbered LEFT JOIN forgot_upload ON TRUE"
)

# A reaction toggled, by the reactor's column (user_id or guest_author):
# taken back (removed) if they gave it (mine), else added. A new emoji is
# allowed (allowed) only while the message has fewer than %(most)s
# distinct ones. Always one row: the seq (NULL when nothing was made),
# and whether the message was found.
_REACT_SQL = {
    column: (
        _LOCK
        + "WITH "
        + _TARGET
        + f"mine AS (SELECT id FROM {_REACTION_TABLE} WHERE message_id = %(message)s "
        f"AND emoji = %(emoji)s AND {column} = %(reactor)s), "
        "allowed AS (SELECT 1 FROM target WHERE "
        f"EXISTS (SELECT 1 FROM {_REACTION_TABLE} "
        "WHERE message_id = %(message)s AND emoji = %(emoji)s) "
        f"OR (SELECT COUNT(DISTINCT emoji) FROM {_REACTION_TABLE} "
        "WHERE message_id = %(message)s) < %(most)s), "
        + _NUMBERED_IF.format(condition="allowed")
        + f"touched AS (UPDATE {_MESSAGE_TABLE} SET version = numbered.last_seq "
        f"FROM numbered WHERE {_MESSAGE_TABLE}.id = %(message)s), "
        f"removed AS (DELETE FROM {_REACTION_TABLE} "
        "WHERE id IN (SELECT id FROM mine) AND EXISTS (SELECT 1 FROM numbered)), "
        f"added AS (INSERT INTO {_REACTION_TABLE} "
        "(message_id, emoji, handle, user_id, guest_author, created_at) "
        "SELECT %(message)s, %(emoji)s, %(handle)s, %(user)s, %(guest)s, %(now)s "
        "FROM numbered WHERE NOT EXISTS (SELECT 1 FROM mine)) "
        "SELECT (SELECT last_seq FROM numbered), EXISTS (SELECT 1 FROM target)"
    )
    for column in ("user_id", "guest_author")
}
