"""in_socket_order, on the in-memory layer with real channel sessions."""

import threading
import time

from channels.message import Message as ChannelMessage
from channels.sessions import session_for_reply_channel
from channels.test import TransactionChannelTestCase

from chat import ordering
from chat.ordering import NEXT_ORDER_KEY, in_socket_order


def frame(order, reply_channel="daphne.response.test!socket"):
    return ChannelMessage(
        {"reply_channel": reply_channel, "order": order, "path": "/chat/lobby/"},
        "websocket.receive",
        None,
    )


class InSocketOrderTests(TransactionChannelTestCase):
    def test_a_frame_releases_the_next_one_when_it_is_done(self):
        handled = []
        consumer = in_socket_order(lambda message: handled.append(message.content["order"]))
        consumer(frame(0))
        consumer(frame(1))
        self.assertEqual(handled, [0, 1])
        session = session_for_reply_channel("daphne.response.test!socket")
        self.assertEqual(session.load()[NEXT_ORDER_KEY], 2)

    def test_a_frame_that_raises_still_releases_the_next_one(self):
        def broken(message):
            raise RuntimeError("bug")

        with self.assertRaises(RuntimeError):
            in_socket_order(broken)(frame(0))
        session = session_for_reply_channel("daphne.response.test!socket")
        self.assertEqual(session.load()[NEXT_ORDER_KEY], 1)

    def test_an_overtaking_frame_sees_what_its_predecessor_saved(self):
        handled = []

        def consumer(message):
            handled.append((message.content["order"], message.channel_session.get("room")))
            if message.content["order"] == 0:
                message.channel_session["room"] = 7

        ordered = in_socket_order(consumer)
        waiter = threading.Thread(target=ordered, args=(frame(1),))
        waiter.start()
        time.sleep(0.2)
        # Frame 1 is still waiting: frame 0 has not run.
        self.assertEqual(handled, [])
        ordered(frame(0))
        waiter.join(timeout=10)
        self.assertEqual(handled, [(0, None), (1, 7)])

    def test_a_frame_whose_predecessor_was_lost_goes_ahead_after_the_wait(self):
        handled = []
        ordering_wait = ordering.ORDER_WAIT_SECONDS
        ordering.ORDER_WAIT_SECONDS = 0.2
        try:
            with self.assertLogs("chat.ordering", "WARNING") as logs:
                in_socket_order(lambda m: handled.append(m.content["order"]))(frame(3))
        finally:
            ordering.ORDER_WAIT_SECONDS = ordering_wait
        self.assertEqual(handled, [3])
        self.assertIn("waited", logs.output[0])
