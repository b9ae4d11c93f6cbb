"""Handling one socket's frames in the order Daphne received them.

Daphne numbers each socket's messages with ``order`` (0 for
``websocket.connect``, then 1, 2, … for each frame) and puts them on the
channel layer in that order, but two workers may pop consecutive frames of
one socket and race. Channels' own ``enforce_ordering`` answers by parking a
frame that overtakes on a wait channel and re-queuing it at the *tail* of
``websocket.receive``, behind everything else waiting; a burst of frames
from one socket then bounces round the queue again and again (measured on
the split with two workers: 100 frames sent at once took 9.4 s with it, 1.7 s
without), and a frame lost with a dead worker holds that socket's later
frames back for ever.

``in_socket_order`` uses the property that makes waiting cheap instead:
workers pop a channel's messages first-in first-out, so by the time a worker
holds frame *n*, every earlier frame of that socket is already being handled
by another worker (or was lost with one). The worker waits, polling the
channel session, until the previous frame has finished, for at most
``ORDER_WAIT_SECONDS``, and then goes ahead regardless.
"""

import functools
import logging
import time

from channels.sessions import channel_session, session_for_reply_channel
from django.contrib.sessions.backends.base import UpdateError

from chat import conf
from chat.transport.riders import SessionRide

logger = logging.getLogger(__name__)

# The channel session key holding the next ``order`` this socket expects.
NEXT_ORDER_KEY = "next_order"

# How long a frame waits for the socket's previous frame, in seconds. Longer
# than any frame takes to handle; reached only when that frame was lost with
# a worker that died mid-way.
ORDER_WAIT_SECONDS = 5.0

# How often the wait re-reads the channel session, in seconds.
ORDER_POLL_SECONDS = 0.002


def in_socket_order(consumer):
    """Decorate a consumer of ``websocket.connect`` or ``websocket.receive``
    so that one socket's messages run one at a time, in ``order``.

    The consumer gets ``message.channel_session`` as with ``channel_session``,
    read after the previous frame's changes were saved. Whatever the consumer
    does, raises included, the socket's next frame is then released, and the
    session saved to expire ``CHAT_CHANNEL_SESSION_SECONDS`` later. A
    consumer that broadcasts with ``riders.send_group_riding`` saves it
    then, in the Group send's round trip, which releases the next frame as
    soon as this one's message is out; whatever it changes in the session
    afterwards is saved when it returns (``chat.transport.riders``).
    """

    @channel_session
    @functools.wraps(consumer)
    def inner(message, *args, **kwargs):
        order = _take_turn(message)
        ride = SessionRide(message.channel_session, functools.partial(_prepare, order=order))
        ride.offer()
        try:
            return consumer(message, *args, **kwargs)
        finally:
            ride.withdraw()
            session = message.channel_session
            if ride.outcome is False:
                _log_session_ended(message)
            elif not ride.ridden or session.modified:
                _prepare(session, order)
                try:
                    session.save()
                except UpdateError:
                    _log_session_ended(message)

    return inner


def _prepare(session, order):
    """Set what a frame's save writes into ``session``: the next ``order``
    (int) this socket expects, and the expiry."""
    session[NEXT_ORDER_KEY] = order + 1
    session.set_expiry(conf.get("CHAT_CHANNEL_SESSION_SECONDS"))


def _log_session_ended(message):
    # The socket's disconnect, handled meanwhile by another worker, deleted
    # the session: no later frame will come.
    logger.info("The channel session of %s ended with its socket", message.reply_channel.name)


def after_earlier_frames(consumer):
    """Decorate the consumer of ``websocket.disconnect`` so that it runs
    after the socket's earlier frames: Daphne gives a disconnect the
    ``order`` after its socket's last frame, and a worker that pops it while
    another still handles that frame (or has yet to start it) waits for it,
    as ``in_socket_order`` makes frames wait, for at most
    ``ORDER_WAIT_SECONDS``. Without that, a client that sends and closes at
    once could have its disconnect end the channel session first, and its
    last message refused as ``NOT_JOINED`` instead of stored.

    The consumer gets ``message.channel_session`` as the earlier frames
    left it. Nothing is saved afterwards: a disconnect ends the session.
    """

    @channel_session
    @functools.wraps(consumer)
    def inner(message, *args, **kwargs):
        _take_turn(message)
        return consumer(message, *args, **kwargs)

    return inner


def _take_turn(message):
    """Wait, if need be, until the socket's messages before ``message`` are
    handled; returns ``message``'s ``order`` (int)."""
    order = int(message.content.get("order", 0))
    # No key at all means the session is gone (expired, or lost with a
    # Redis restart): there is no predecessor to wait for.
    if message.channel_session.get(NEXT_ORDER_KEY, order) < order:
        _wait_for_turn(message, order)
    return order


def _wait_for_turn(message, order):
    name = message.reply_channel.name
    deadline = time.monotonic() + ORDER_WAIT_SECONDS
    # A fresh session object each time: loading a missing session resets the
    # object's key, and the consumer must see what the previous frame saved.
    while session_for_reply_channel(name).get(NEXT_ORDER_KEY, order) < order:
        if time.monotonic() > deadline:
            logger.warning(
                "Frame %d of %s waited %.1f s for its predecessor; handling it anyway",
                order,
                message.reply_channel.name,
                ORDER_WAIT_SECONDS,
            )
            break
        time.sleep(ORDER_POLL_SECONDS)
    message.channel_session = session_for_reply_channel(name)
