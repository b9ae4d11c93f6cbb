"""The ``/stream/`` socket: one socket per page carrying several streams,
``{"stream": …, "payload": …}``, demultiplexed by channels'
``WebsocketDemultiplexer`` (docs/protocol.md, "The /stream/ socket").

Its one stream so far, ``rooms``, is server to client: the live counts of
chat/live_counts/. Only a signed-in, active user may open the socket;
anyone else (not signed in, a guest, a bot) is refused at the handshake
(HTTP 403), as is a cross-site Origin. The user is read from the HTTP
session at connect and kept in the channel session (the project's store,
``CHANNEL_SESSION_ENGINE``), which channels' ``http_user`` does for a
class-based consumer just as ``channel_session_user_from_http`` does for the
chat's function consumers.
"""

import logging

from channels import Group
from channels.exceptions import DenyConnection
from channels.generic.websockets import JsonWebsocketConsumer, WebsocketDemultiplexer
from channels.security.websockets import allowed_hosts_only
from django import db
from redis.exceptions import RedisError

from chat import live_counts, revocation

logger = logging.getLogger(__name__)

# The channel session key the socket's user id (int) is kept under.
STREAM_USER_KEY = "stream_user"
# ...and its HTTP session's key (str), whose sign-out closes the socket.
STREAM_SESSION_KEY = "stream_http_session"


def _signed_in(user):
    return user is not None and user.is_authenticated and user.is_active


class RoomsConsumer(JsonWebsocketConsumer):
    """The ``rooms`` stream: at connect, the snapshot of the user's rooms
    (``live_counts.connect``); then the flushes of ``live_counts``, sent to
    the user's Group, not by this consumer. Frames from the client on this
    stream are ignored. Runs inside ``StreamDemultiplexer``, whose
    ``multiplexer`` it is given."""

    def connect(self, message, multiplexer, **kwargs):
        # The demultiplexer has checked the user and accepted the socket.
        live_counts.connect(message.user, message.reply_channel)

    def disconnect(self, message, multiplexer, **kwargs):
        user_id = message.channel_session.get(STREAM_USER_KEY)
        if user_id is not None:
            live_counts.disconnect(user_id, message.reply_channel)

    def receive(self, content, multiplexer, **kwargs):
        """Nothing to do: the stream is the server's to speak."""


class StreamDemultiplexer(WebsocketDemultiplexer):
    """``websocket.connect``, ``receive`` and ``disconnect`` on
    ``/stream/``: refuses a socket without a signed-in, active user (and a
    cross-site Origin) with HTTP 403, accepts the rest and hands each
    stream's consumer the connect and disconnect. A frame that is not
    ``{"stream": <a stream of consumers>, "payload": {…}}`` is ignored."""

    http_user = True
    consumers = {live_counts.STREAM: RoomsConsumer}

    def get_handler(self, message, **kwargs):
        handler = super().get_handler(message, **kwargs)
        if message.channel.name == "websocket.connect":
            return allowed_hosts_only(handler)
        return handler

    def connect(self, message, **kwargs):
        user = message.user
        if not _signed_in(user):
            raise DenyConnection
        session = message.channel_session
        session[STREAM_USER_KEY] = user.pk
        session_key = message.http_session.session_key
        session[STREAM_SESSION_KEY] = session_key
        # Sign-out and deactivation close the socket, as they close the
        # chat's (chat/revocation.py).
        Group(revocation.user_group_name(user.pk)).add(message.reply_channel)
        session_group = revocation.session_group_name(session_key)
        if session_group is not None:
            Group(session_group).add(message.reply_channel)
        try:
            super().connect(message, **kwargs)
        except (db.Error, RedisError):
            # Accepted all the same: the next change flushes its counts.
            logger.exception("Could not send the live counts of user %s", user.pk)

    def raw_receive(self, message, **kwargs):
        try:
            super().raw_receive(message, **kwargs)
        except ValueError:
            # Malformed JSON, an unknown stream, a payload not an object:
            # the client's error, not the worker's.
            logger.debug("Ignored a malformed frame on %s", message.reply_channel.name)

    def disconnect(self, message, **kwargs):
        session = message.channel_session
        user_id = session.get(STREAM_USER_KEY)
        if user_id is not None:
            Group(revocation.user_group_name(user_id)).discard(message.reply_channel)
            session_group = revocation.session_group_name(session.get(STREAM_SESSION_KEY))
            if session_group is not None:
                Group(session_group).discard(message.reply_channel)
        super().disconnect(message, **kwargs)
        session.flush()
