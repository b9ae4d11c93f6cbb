"""in_socket_order, with real channel sessions in the process-local cache."""

import threading
import time
import uuid

from channels.message import Message as ChannelMessage
from channels.sessions import session_for_reply_channel
from django.test import SimpleTestCase

from chat import conf
from chat.transport import ordering
from chat.transport.ordering import NEXT_ORDER_KEY, in_socket_order


def new_socket():
    """A reply channel name no other test has used."""
    return "daphne.response.test!%s" % uuid.uuid4().hex


def frame(socket, order):
    return ChannelMessage(
        {"reply_channel": socket, "order": order, "path": "/chat/lobby/"},
        "websocket.receive",
        None,
    )


class InSocketOrderTests(SimpleTestCase):
    def test_a_frame_releases_the_next_one_when_it_is_done(self):
        socket = new_socket()
        handled = []
        consumer = in_socket_order(lambda message: handled.append(message.content["order"]))
        consumer(frame(socket, 0))
        consumer(frame(socket, 1))
        self.assertEqual(handled, [0, 1])
        session = session_for_reply_channel(socket)
        self.assertEqual(session.load()[NEXT_ORDER_KEY], 2)

    def test_a_frame_that_raises_still_releases_the_next_one(self):
        socket = new_socket()

        def broken(message):
            raise RuntimeError("bug")

        with self.assertRaises(RuntimeError):
            in_socket_order(broken)(frame(socket, 0))
        session = session_for_reply_channel(socket)
        self.assertEqual(session.load()[NEXT_ORDER_KEY], 1)

    def test_an_overtaking_frame_waits_and_sees_what_its_predecessor_saved(self):
        socket = new_socket()
        handled = []

        def consumer(message):
            order = message.content["order"]
            handled.append((order, message.channel_session.get("said")))
            message.channel_session["said"] = order

        ordered = in_socket_order(consumer)
        ordered(frame(socket, 0))
        waiter = threading.Thread(target=ordered, args=(frame(socket, 2),))
        waiter.start()
        time.sleep(0.2)
        # Frame 2 is still waiting: frame 1 has not run.
        self.assertEqual(handled, [(0, None)])
        ordered(frame(socket, 1))
        waiter.join(timeout=10)
        self.assertEqual(handled, [(0, None), (1, 0), (2, 1)])

    def test_a_frame_whose_predecessor_was_lost_goes_ahead_after_the_wait(self):
        socket = new_socket()
        handled = []
        ordering_wait = ordering.ORDER_WAIT_SECONDS
        ordering.ORDER_WAIT_SECONDS = 0.2
        consumer = in_socket_order(lambda m: handled.append(m.content["order"]))
        consumer(frame(socket, 0))
        try:
            with self.assertLogs("chat.transport.ordering", "WARNING") as logs:
                consumer(frame(socket, 3))
        finally:
            ordering.ORDER_WAIT_SECONDS = ordering_wait
        self.assertEqual(handled, [0, 3])
        self.assertIn("waited", logs.output[0])

    def test_a_frame_whose_session_is_gone_goes_ahead_at_once(self):
        # As after a Redis restart: no session, so no predecessor to wait for.
        socket = new_socket()
        handled = []
        started = time.monotonic()
        in_socket_order(lambda m: handled.append(m.content["order"]))(frame(socket, 7))
        self.assertEqual(handled, [7])
        self.assertLess(time.monotonic() - started, ordering.ORDER_WAIT_SECONDS)

    def test_the_session_is_saved_to_expire(self):
        socket = new_socket()
        in_socket_order(lambda m: None)(frame(socket, 0))
        session = session_for_reply_channel(socket)
        self.assertEqual(session.get_expiry_age(), conf.get("CHAT_CHANNEL_SESSION_SECONDS"))
