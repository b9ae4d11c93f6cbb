"""The chat's WebSocket consumers, run by ``runworker`` (or ``runserver``).

Each socket's room lives in its ``channel_session``; each room is a Group.
docs/architecture.md follows a message through them.
"""

import functools
import json
import logging

from channels.exceptions import DenyConnection
from channels.security.websockets import allowed_hosts_only
from channels.sessions import channel_session
from django import db

from chat import services
from chat.exceptions import ClientError
from chat.models import Room
from chat.protocol import parse_chat_frame
from chat.ratelimit import take_token
from chat.transport import in_socket_order

logger = logging.getLogger(__name__)


def send_error(reply_channel, error):
    """Send ``error`` (a ``ClientError``) to one socket as an error frame."""
    reply_channel.send({"text": json.dumps(error.as_dict())}, immediately=True)


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


@allowed_hosts_only
@in_socket_order
def ws_connect(message, label):
    """``websocket.connect`` on ``/chat/<label>/``: create the room on first
    use, remember it in the channel session, join its Group and accept.

    A cross-site Origin, or a label that is not a valid slug, is refused."""
    try:
        room = services.open_room(label)
    except ClientError:
        raise DenyConnection from None
    # db.Error, not DatabaseError: a connection lost mid-query raises
    # InterfaceError, which is not a DatabaseError.
    except db.Error:
        logger.exception("Could not open room %s", label)
        raise DenyConnection from None
    message.channel_session["room"] = room.pk
    message.channel_session["label"] = room.label
    room.group.add(message.reply_channel)
    message.reply_channel.send({"accept": True})


# in_socket_order runs one socket's frames in the order they arrived, even
# across several workers, so no frame is handled before the connect that
# joined the room, and every member sees each sender's messages in the order
# they were sent.
@in_socket_order
@client_errors
def ws_receive(message, label):
    """``websocket.receive``: validate a chat frame, store it, then broadcast
    ``Message.as_dict()`` to the room's Group (the sender included).

    A refused frame gets an error frame (docs/protocol.md) and stores nothing;
    the socket stays open."""
    room = room_from_session(message.channel_session)
    if room is None:
        raise ClientError("NOT_JOINED", "This socket has not joined a room; reconnect.")
    if not take_token(message.channel_session):
        raise ClientError("RATE_LIMITED", "Too many messages; wait a moment and try again.")
    handle, text = parse_chat_frame(message.content)
    try:
        services.post_message(room, handle, text)
    except db.Error:
        logger.exception("Could not store a message in room %s", room.label)
        raise ClientError("UNAVAILABLE", "The message could not be stored; try again.") from None


@channel_session
def ws_disconnect(message, label):
    """``websocket.disconnect``: leave the room's Group and drop the channel
    session, which nothing will read again."""
    room = room_from_session(message.channel_session)
    if room is not None:
        room.group.discard(message.reply_channel)
    message.channel_session.flush()


def ws_refuse(message):
    """``websocket.connect`` on a path no other route takes: refuse it."""
    raise DenyConnection


def ws_ignore(message):
    """A channel message that needs no handling (the disconnect of a refused
    socket)."""
