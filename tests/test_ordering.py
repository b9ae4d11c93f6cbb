"""in_socket_order, with real channel sessions in the process-local cache."""

import threading
import time
import uuid

from channels.message import Message as ChannelMessage
from channels.sessions import session_for_reply_channel
from django.test import SimpleTestCase, override_settings

from chat import ordering
from chat.ordering import NEXT_ORDER_KEY, in_socket_order


def new_socket():
    """A reply channel name no other test has used."""
    return "daphne.response.test!%s" % uuid.uuid4().hex


def frame(socket, order):
    return ChannelMessage(
        {"reply_channel": socket, "order": order, "path": "/chat/lobby/"},
        "websocket.receive",
        None,
    )


# Sessions in the process-local cache: SQLite's shared in-memory test database
# locks a table against a second thread, and these tests need two threads.
@override_settings(CHANNEL_SESSION_ENGINE="django.contrib.sessions.backends.cache")
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

    def test_an_overtaking_frame_sees_what_its_predecessor_saved(self):
        socket = new_socket()
        handled = []

        def consumer(message):
            handled.append((message.content["order"], message.channel_session.get("room")))
            if message.content["order"] == 0:
                message.channel_session["room"] = 7

        ordered = in_socket_order(consumer)
        waiter = threading.Thread(target=ordered, args=(frame(socket, 1),))
        waiter.start()
        time.sleep(0.2)
        # Frame 1 is still waiting: frame 0 has not run.
        self.assertEqual(handled, [])
        ordered(frame(socket, 0))
        waiter.join(timeout=10)
        self.assertEqual(handled, [(0, None), (1, 7)])

    def test_a_frame_whose_predecessor_was_lost_goes_ahead_after_the_wait(self):
        socket = new_socket()
        handled = []
        ordering_wait = ordering.ORDER_WAIT_SECONDS
        ordering.ORDER_WAIT_SECONDS = 0.2
        try:
            with self.assertLogs("chat.ordering", "WARNING") as logs:
                in_socket_order(lambda m: handled.append(m.content["order"]))(frame(socket, 3))
        finally:
            ordering.ORDER_WAIT_SECONDS = ordering_wait
        self.assertEqual(handled, [3])
        self.assertIn("waited", logs.output[0])
