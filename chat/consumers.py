"""The chat's WebSocket consumers, run by ``runworker`` (or ``runserver``).

Each socket's room and identity live in its ``channel_session``; each room
is a Group, and a second Group, the room's presence Group, reaches the
sockets that take presence and typing frames. docs/architecture.md follows
a message through them; docs/protocol.md is what they speak.
"""

import functools
import json
import logging
import time

from channels.auth import channel_session_user_from_http
from channels.exceptions import DenyConnection
from channels.security.websockets import allowed_hosts_only
from django import db

from chat import conf, identity, presence, revocation, scheduling, selectors, services
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.exceptions import ClientError
from chat.models import Room
from chat.protocol import (
    CANCEL_SCHEDULED,
    CHANGES,
    DELETE,
    EDIT,
    MESSAGE,
    PING,
    READ,
    SCHEDULE,
    SCHEDULING,
    TYPING,
    canonical_handle,
    parse_frame,
)
from chat.ratelimit import take_token
from chat.transport import after_earlier_frames, in_socket_order, session_unreadable

logger = logging.getLogger(__name__)


def send_error(reply_channel, error):
    """Send ``error`` (a ``ClientError``) to one socket as an error frame."""
    _send(reply_channel, error.as_dict())


def client_errors(consumer):
    """Decorate a consumer so that a ``ClientError`` it raises becomes an
    error frame for the sending socket only. Any other exception propagates
    to the worker, which logs it and carries on."""

    @functools.wraps(consumer)
    def inner(message, *args, **kwargs):
        try:
            return consumer(message, *args, **kwargs)
        except ClientError as error:
            send_error(message.reply_channel, error)

    return inner


def room_from_session(session):
    """The socket's ``Room`` as remembered at connect, or None if it never
    joined. Built from the session alone, so no query is spent on it."""
    if "room" not in session:
        return None
    return Room(pk=session["room"], label=session["label"])


# The channel session keys a socket's identity is kept under, from connect.
HANDLE_KEY = "handle"  # the server-set handle (str), or None
USER_KEY = "user"  # a signed-in user's id (int)
# A named guest's author id (str, chat.identity.guest_author), from
# 2026-12-05: what their messages and reactions are recorded under. A guest
# socket joined before has none, and is nobody's until it reconnects.
GUEST_AUTHOR_KEY = "guest_author"
# A signed-in socket's HTTP session key (str), as its handshake carried it:
# what its ``ping`` re-checks, and which sign-out closes it.
HTTP_SESSION_KEY = "http_session"
# The handle an anonymous socket last sent a message as: what its typing
# frames are relayed as.
LAST_HANDLE_KEY = "last_handle"
# The canonical form of the handle an anonymous socket was last allowed to
# use, and when that was checked (Unix time, s): the check costs a query,
# so it runs once per new handle per socket, and again after
# CHAT_HANDLE_RECHECK_SECONDS.
CHECKED_HANDLE_KEY = "checked_handle"
CHECKED_AT_KEY = "checked_at"
# When the socket's last typing frame was relayed (Unix time, s).
TYPING_AT_KEY = "typing_at"
# Whether the socket receives presence and typing frames (it has an
# identity, or it has sent a typed frame).
PRESENCE_KEY = "presence"
# Read marks: the highest seq reported and not yet written, and when the
# last write happened (Unix time, s).
READ_PENDING_KEY = "read_pending"
READ_WRITTEN_AT_KEY = "read_written_at"

# The wall clock (Unix time, s) the typing and read-mark intervals are kept
# by: shared by every worker, as one socket's frames go to any of them.
clock = time.time

# Least time between two relayed typing frames, and between two read-mark
# writes, of one socket, in seconds (docs/protocol.md, "Typed frames").
TYPING_INTERVAL_S = conf.TYPING_INTERVAL_MS / 1000
READ_INTERVAL_S = conf.READ_INTERVAL_MS / 1000

# The close code of a socket closed when its reader loses the room
# (chat/revocation.py).
ACCESS_DENIED_CLOSE_CODE = revocation.ACCESS_DENIED_CLOSE_CODE

# The session key, and its value, that mark a socket joined by this
# release. Bump SESSION_FORMAT when the Group names or the session's
# contents change in a way a socket joined before cannot follow: such a
# socket is closed with RESTART_CLOSE_CODE at its next frame, and its page
# reconnects into the new Groups (docs/operations.md, "Deploying a new
# Group naming"). 2 (2026-12-04): Groups chat.<label>, sessions in JSON, the
# HTTP session's key kept for chat.revocation.
FORMAT_KEY = "format"
SESSION_FORMAT = 2
# RFC 6455 §7.4.1's 1012 "service restart": reconnect, then catch up.
RESTART_CLOSE_CODE = 1012


@allowed_hosts_only
@in_socket_order
@channel_session_user_from_http
def ws_connect(message, label):
    """``websocket.connect`` on ``/chat/<label>/``: create the room on first
    use, read the socket's identity from the HTTP session, remember both in
    the channel session, join the room's Group and presence, and accept.

    A socket with an identity is sent the roster with the accept. A
    cross-site Origin, a label that is not a valid slug, a new room from
    an address over ``CHAT_ROOMS_PER_HOUR``, or a room the socket's user
    may not read (``selectors.can_read``: a private room and not a member)
    is refused: Daphne answers the handshake with HTTP 403."""
    client = message.content.get("client")
    try:
        room = services.open_room(label, client=client[0] if client else "")
        readable = selectors.can_read(message.user, room)
    except ClientError:
        raise DenyConnection from None
    # db.Error, not DatabaseError: a connection lost mid-query raises
    # InterfaceError, which is not a DatabaseError.
    except db.Error:
        logger.exception("Could not open room %s", label)
        raise DenyConnection from None
    if not readable:
        raise DenyConnection
    who = identity.identify(message.user, message.http_session)
    session = message.channel_session
    session["room"] = room.pk
    session["label"] = room.label
    session[FORMAT_KEY] = SESSION_FORMAT
    session[HANDLE_KEY] = who.handle
    if who.kind == identity.USER:
        session[USER_KEY] = message.user.pk
        session[HTTP_SESSION_KEY] = message.http_session.session_key
    elif who.kind == identity.GUEST:
        identity.hold_guest_name(who.handle)
        session[GUEST_AUTHOR_KEY], made = identity.ensure_guest_author(message.http_session)
        if made:
            message.http_session.save()
    room.group.add(message.reply_channel)
    revocation.join(message.reply_channel, room.label, *_who_is_in(session))
    roster = presence.join(room, message.reply_channel.name, who.handle)
    reply = {"accept": True}
    if who.kind is not None:
        # A socket without an identity may speak only the seed protocol,
        # so it is sent presence frames once it sends a typed frame.
        _hear_presence(room, message)
        reply["text"] = json.dumps(roster)
    message.reply_channel.send(reply)


# in_socket_order runs one socket's frames in the order they arrived, even
# across several workers, so no frame is handled before the connect that
# joined the room, and every member sees each sender's messages in the order
# they were sent.
@in_socket_order
@client_errors
def ws_receive(message, label):
    """``websocket.receive``: a chat message is validated, stored and
    broadcast as ``Message.as_dict()`` to the room's Group (the sender
    included); a typed frame (``typing``, ``ping``, ``read``, and since
    2026-12-05 ``edit``, ``delete`` and ``react``, through
    ``chat.conversations.changes``, and ``schedule``,
    ``cancel_scheduled`` and ``list_scheduled``, through
    ``chat.scheduling``) is handled as docs/protocol.md says.

    A refused frame gets an error frame (docs/protocol.md) and stores
    nothing; the socket stays open. A socket joined by an older release
    (``joined_by_an_older_release``) is closed with 1012 instead, its frame
    unhandled, to reconnect into this release's Groups."""
    session = message.channel_session
    if joined_by_an_older_release(session):
        _restart(message, label)
        return
    room = room_from_session(session)
    if room is None:
        raise ClientError("NOT_JOINED", "This socket has not joined a room; reconnect.")
    if not take_token(session):
        raise ClientError("RATE_LIMITED", conf.RATE_LIMITED_DETAIL)
    frame = parse_frame(message.content, session.get(HANDLE_KEY))
    if frame.type == MESSAGE:
        _post(room, message, frame)
        return
    if frame.type in SCHEDULING:
        _send(message.reply_channel, _scheduling(room, session, frame))
        return
    if frame.type == PING and not _may_stay(room, message):
        return
    heard = session.get(PRESENCE_KEY)
    if not heard:
        _hear_presence(room, message)
        _send(message.reply_channel, presence.roster_frame_of(room))
    if frame.type == PING:
        room.group.add(message.reply_channel)
        revocation.join(message.reply_channel, room.label, *_who_is_in(session))
        if heard:
            # Renewed; a first typed frame has just added it.
            room.presence_group.add(message.reply_channel)
        presence.renew(room, message.reply_channel.name, session.get(HANDLE_KEY))
        if session.get(HANDLE_KEY) is not None and USER_KEY not in session:
            identity.hold_guest_name(session[HANDLE_KEY])
        _send(message.reply_channel, {"type": "pong"})
    elif frame.type == TYPING:
        _relay_typing(room, session)
    elif frame.type == READ:
        _note_read(room, session, frame.seq)
    elif frame.type in CHANGES:
        _change(room, session, frame)


@after_earlier_frames
def ws_disconnect(message, label):
    """``websocket.disconnect``: once the socket's earlier frames are
    handled, leave the room's Groups and presence, write a pending read
    mark, and drop the channel session, which nothing will read again. A
    socket whose session is unreadable leaves the presence of its path's
    room."""
    session = message.channel_session
    room = room_from_session(session)
    if room is None and joined_by_an_older_release(session):
        # Its session cannot say where it was: the path does.
        presence.leave(Room(label=label), message.reply_channel.name)
    if room is not None:
        room.group.discard(message.reply_channel)
        room.presence_group.discard(message.reply_channel)
        revocation.leave(message.reply_channel, room.label, *_who_is_in(session))
        presence.leave(room, message.reply_channel.name)
        _write_read_mark(room, session)
    session.flush()


def joined_by_an_older_release(session):
    """Whether the socket of ``session`` (its channel session) joined under
    an older release (bool): its session is unreadable (pickled before
    2026-12-04), or it joined a room without the current
    ``SESSION_FORMAT``, or signed in without the HTTP session's key that
    ``chat.revocation`` needs. A socket with no session at all never
    joined."""
    if session_unreadable(session):
        return True
    if "room" not in session:
        return False
    # A signed-in socket of this release keeps its HTTP session's key, for
    # chat.revocation; one without it cannot be closed on sign-out.
    signed_in_without_key = USER_KEY in session and HTTP_SESSION_KEY not in session
    return session.get(FORMAT_KEY) != SESSION_FORMAT or signed_in_without_key


def _restart(message, label):
    # The socket is in Groups of the old names, which nothing sends to
    # now: close it so that it reconnects into the new ones and catches up.
    # Its disconnect will find an empty session, so presence is left here,
    # under the label of its path, which is the label it joined.
    logger.info("Closing %s, joined by an older release", message.reply_channel.name)
    presence.leave(Room(label=label), message.reply_channel.name)
    message.channel_session.clear()
    message.reply_channel.send({"close": RESTART_CLOSE_CODE}, immediately=True)


def _who_is_in(session):
    """``(user_id, session_key)`` of a socket, for ``chat.revocation``:
    ``(None, None)`` for a socket without a signed-in user."""
    return session.get(USER_KEY), session.get(HTTP_SESSION_KEY)


def _may_stay(room, message):
    """The ``ping`` backstop: whether the socket may still read ``room``
    (``chat.revocation.still_allowed``: its session still signed in as its
    user, the user active, the room readable). If not, it is sent
    ``ROOM_ACCESS_DENIED`` and closed with 4003, and False is returned.
    Catches what no trigger closed: a session deleted or expired behind the
    socket's back, a deactivation by ``QuerySet.update``, a lost Group."""
    user_id, session_key = _who_is_in(message.channel_session)
    try:
        allowed = revocation.still_allowed(room, user_id, session_key)
    except db.Error:
        # The socket keeps its access until a ping can ask again.
        logger.warning("Could not re-check access to room %s", room.label, exc_info=True)
        return True
    if not allowed:
        logger.info("Closing a socket in room %s: its access is gone", room.label)
        message.reply_channel.send(revocation.close_message(), immediately=True)
    return allowed


def _actor(session):
    """Who the socket of ``session`` acts as (a ``rules.Actor``): its
    signed-in user, its named guest, or nobody."""
    return Actor(user_id=session.get(USER_KEY), guest_author=session.get(GUEST_AUTHOR_KEY))


def _post(room, message, frame):
    session = message.channel_session
    try:
        if session.get(HANDLE_KEY) is None:
            _check_anonymous_handle(session, frame.handle)
            session[LAST_HANDLE_KEY] = frame.handle
        services.post_message(
            room,
            frame.handle,
            frame.message,
            guest=USER_KEY not in session,
            author=_actor(session),
            nonce=frame.nonce,
            reply_channel=message.reply_channel,
        )
    except db.Error:
        logger.exception("Could not store a message in room %s", room.label)
        raise ClientError("UNAVAILABLE", "The message could not be stored; try again.") from None


def _change(room, session, frame):
    """An edit, a delete or a reaction of the socket's actor, through
    ``chat.conversations.changes``; its refusals are ``ClientError``."""
    actor = _actor(session)
    try:
        if frame.type == EDIT:
            changes.edit(room, actor, frame.id, frame.message)
        elif frame.type == DELETE:
            changes.delete(room, actor, frame.id)
        else:
            changes.react(room, actor, frame.id, frame.emoji, session.get(HANDLE_KEY))
    except db.Error:
        logger.exception("Could not store a change in room %s", room.label)
        raise ClientError("UNAVAILABLE", "The change could not be stored; try again.") from None


def _scheduling(room, session, frame):
    """A ``schedule``, ``cancel_scheduled`` or ``list_scheduled`` frame of
    the socket's actor, through ``chat.scheduling``; returns the
    ``scheduled`` frame that answers it (docs/protocol.md, "Messages sent
    later"). Its refusals are ``ClientError``."""
    actor = _actor(session)
    reply = {"type": "scheduled"}
    try:
        if frame.type == SCHEDULE:
            row = scheduling.schedule(room, actor, session.get(HANDLE_KEY), frame.message, frame.at)
            reply["id"] = row.pk
            if frame.nonce:
                reply["nonce"] = frame.nonce
        elif frame.type == CANCEL_SCHEDULED:
            reply["cancelled"] = scheduling.cancel(actor, frame.id, room).pk
        reply["pending"] = [row.as_dict() for row in scheduling.pending(actor, room)]
    except db.Error:
        logger.exception("Could not schedule a message in room %s", room.label)
        raise ClientError("UNAVAILABLE", "That could not be done now; try again.") from None
    return reply


def _check_anonymous_handle(session, handle):
    """Refuse ``handle`` with ``HANDLE_TAKEN`` when it reads as a registered
    username (``identity.check_unregistered``), unless this socket was
    allowed the same canonical handle less than
    ``CHAT_HANDLE_RECHECK_SECONDS`` ago: a seed client repeating its handle
    pays no query per message."""
    canonical = canonical_handle(handle)
    now = clock()
    if session.get(CHECKED_HANDLE_KEY) == canonical and now - session.get(
        CHECKED_AT_KEY, 0
    ) < conf.get("CHAT_HANDLE_RECHECK_SECONDS"):
        return
    identity.check_unregistered(handle)
    session[CHECKED_HANDLE_KEY] = canonical
    session[CHECKED_AT_KEY] = now


def _hear_presence(room, message):
    message.channel_session[PRESENCE_KEY] = True
    room.presence_group.add(message.reply_channel)


def _relay_typing(room, session):
    handle = session.get(HANDLE_KEY) or session.get(LAST_HANDLE_KEY)
    now = clock()
    if handle is None or now - session.get(TYPING_AT_KEY, 0) < TYPING_INTERVAL_S:
        return
    session[TYPING_AT_KEY] = now
    room.presence_group.send(
        {"text": json.dumps({"type": "typing", "handle": handle})}, immediately=True
    )


def _note_read(room, session, seq):
    if USER_KEY not in session:
        return
    session[READ_PENDING_KEY] = max(seq, session.get(READ_PENDING_KEY, 0))
    if clock() - session.get(READ_WRITTEN_AT_KEY, 0) >= READ_INTERVAL_S:
        _write_read_mark(room, session)


def _write_read_mark(room, session):
    seq = session.get(READ_PENDING_KEY)
    if USER_KEY not in session or seq is None:
        return
    try:
        services.mark_read(session[USER_KEY], room, seq)
    except db.Error:
        # Kept pending: the next read frame, or the disconnect, tries again.
        logger.warning("Could not write the read mark of room %s", room.label, exc_info=True)
        return
    session[READ_WRITTEN_AT_KEY] = clock()
    del session[READ_PENDING_KEY]


def _send(reply_channel, frame):
    reply_channel.send({"text": json.dumps(frame)}, immediately=True)


def ws_refuse(message):
    """``websocket.connect`` on a path no other route takes: refuse it."""
    raise DenyConnection


def ignore(message):
    """A channel message that needs no handling: the disconnect of a refused
    socket, or an ``http.disconnect``."""
