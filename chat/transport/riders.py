"""Writes that ride with a broadcast: ``send_group_riding``.

A chat message's worker wrote to Redis three times after storing it: the
Group send (send_group.lua), the socket's channel session (a ``SET … XX``,
releasing the socket's next frame) and the live counts' mark that the room
changed. The last two are plain writes that belong with the broadcast, so
``send_group_riding`` hands them to ``ChatChannelLayer.send_group_with_riders``,
which runs them inside the Group send's own script: one round trip and one
command instead of three (docs/channel-layer.md, "Round trips per chat
message").

A rider runs on the layer's first shard. The channel sessions' cache and
the live counts' store are on that same Redis (chat/settings.py puts
``CHANNEL_SESSION_CACHE`` on the first of ``REDIS_URLS``, or on the
Sentinel master, the layer's one shard then), and ``RIDERS_SETTING``
must say so. With any other layer or cache (the in-process ones under
``runserver``), or with the setting off, each write is done the ordinary
way instead, by the rider's ``otherwise``.

The channel session rides only when the frame's consumer runs under
``in_socket_order`` and broadcasts through ``send_group_riding``: the
session is then saved as ``in_socket_order`` would save it afterwards
(``next_order`` moved on, the expiry renewed), at the moment of the
broadcast. A change the consumer makes to the session after that is saved
when the consumer returns, as before.
"""

import logging
import threading
from collections.abc import Callable
from typing import NamedTuple

from channels import DEFAULT_CHANNEL_LAYER, channel_layers
from django.conf import settings

logger = logging.getLogger(__name__)

# The setting (bool) that says the channel sessions' Redis is the layer's
# first shard, so that writes to it can ride with a Group send there.
RIDERS_SETTING = "CHAT_WRITES_RIDE_WITH_BROADCASTS"

_frame = threading.local()


class Rider(NamedTuple):
    """A write to ride with a broadcast: ``command`` (list of str, bytes or
    int), a ``SET`` or ``ZADD`` on the channel sessions' Redis, and
    ``otherwise`` (a callable taking no argument), which does the same
    write the ordinary way when the layer cannot carry it."""

    command: list
    otherwise: Callable[[], None]


def broadcasts_in_order():
    """Whether ``send_group_riding`` keeps a ``sequence`` in order here
    (bool): true on ``ChatChannelLayer`` with ``RIDERS_SETTING`` on. Where
    it is false (the in-process layer of ``runserver``), the caller must
    send its numbered broadcasts in order itself, under a lock."""
    layer = channel_layers[DEFAULT_CHANNEL_LAYER].channel_layer
    return _carries(layer)


def _carries(layer):
    return hasattr(layer, "send_group_with_riders") and getattr(settings, RIDERS_SETTING, False)


def send_group_riding(group, content, riders=(), sequence=None):
    """Send ``content`` (dict) to the Group ``group`` (str) now, with
    ``riders`` (``Rider`` each) and the channel session of the frame being
    handled, if any, riding in the Group send's round trip.

    ``sequence`` is ``(name, number)`` (str, int) or None: broadcasts that
    name the same sequence leave in the order of their numbers, whatever
    the order in which workers get to send them
    (``ChatChannelLayer.send_group_with_riders``, which waits up to its
    ``sequence_wait_s`` for a predecessor), where ``broadcasts_in_order``
    says so; elsewhere it is ignored.

    Returns None. Raises what the layer raises for a Group send (a Redis
    connection error, say); the riders are then not written either, and
    the channel session is saved when the consumer returns, as usual.
    """
    layer = channel_layers[DEFAULT_CHANNEL_LAYER].channel_layer
    session_ride = getattr(_frame, "ride", None)
    _frame.ride = None
    if not _carries(layer):
        layer.send_group(group, content)
        for rider in riders:
            rider.otherwise()
        return
    commands = []
    for rider in riders:
        if rider.command:
            commands.append(rider.command)
        else:
            rider.otherwise()
    session_command = session_ride.command() if session_ride is not None else None
    if session_command is not None:
        commands.append(session_command)
    written = layer.send_group_with_riders(group, content, commands, sequence=sequence)
    if session_command is not None:
        session_ride.written(written[-1])


class SessionRide:
    """The channel session of one frame, waiting to ride with the frame's
    broadcast. ``in_socket_order`` makes one per frame (``offer``) and asks
    it afterwards whether the session still needs saving (``needs_save``).
    """

    def __init__(self, session, prepare):
        # ``prepare`` (callable taking the session) sets what the save
        # after the consumer would set: next_order, the expiry.
        self.session = session
        self.prepare = prepare
        # None: not ridden; True: written; False: its key was gone.
        self.outcome = None

    def offer(self):
        """Make this the frame's session ride (in this thread)."""
        _frame.ride = self

    def withdraw(self):
        """Stop offering it, if no broadcast took it."""
        if getattr(_frame, "ride", None) is self:
            _frame.ride = None

    def command(self):
        """The ``SET … XX`` (list) that saves the session as prepared, or
        None when the session has no key yet or is not in a Redis cache
        (it is then saved after the consumer)."""
        session = self.session
        cache = getattr(session, "_cache", None)
        encode = getattr(getattr(cache, "client", None), "encode", None)
        if session.session_key is None or encode is None:
            return None
        self.prepare(session)
        return [
            "SET",
            cache.make_key(session.cache_key),
            encode(session._get_session()),
            "EX",
            session.get_expiry_age(),
            "XX",
        ]

    def written(self, result):
        """Record the ride's ``result`` (int: 1 written, 0 the key was gone)."""
        self.outcome = bool(result)
        # Saved: nothing to write again unless the consumer changes it.
        self.session.modified = False

    @property
    def ridden(self):
        """Whether a broadcast carried the session (bool)."""
        return self.outcome is not None
