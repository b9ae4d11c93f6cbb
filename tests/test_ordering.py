"""in_socket_order, with real channel sessions in the process-local cache."""

import threading
import time
import uuid

from channels.message import Message as ChannelMessage
from channels.sessions import session_for_reply_channel
from django.test import SimpleTestCase

from chat import conf
from chat.transport import ordering
from chat.transport.ordering import NEXT_ORDER_KEY, after_earlier_frames, in_socket_order


def new_socket():
    """A reply channel name no other test has used."""
    return "daphne.response.test!%s" % uuid.uuid4().hex


def frame(socket, order, channel="websocket.receive"):
    return ChannelMessage(
        {"reply_channel": socket, "order": order, "path": "/chat/lobby/"}, channel, None
    )


def disconnect(socket, order):
    return frame(socket, order, "websocket.disconnect")


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


class AfterEarlierFramesTests(SimpleTestCase):
    def test_a_disconnect_waits_for_the_last_frame_and_sees_what_it_saved(self):
        socket = new_socket()
        events = []
        frame_started, frame_may_end = threading.Event(), threading.Event()

        def receive(message):
            if message.content["order"] == 1:
                frame_started.set()
                frame_may_end.wait(10)
            message.channel_session["said"] = message.content["order"]
            events.append(("frame", message.content["order"]))

        def leave(message):
            events.append(("disconnect", message.channel_session.get("said")))
            message.channel_session.flush()

        ordered = in_socket_order(receive)
        ordered(frame(socket, 0))
        last_frame = threading.Thread(target=ordered, args=(frame(socket, 1),))
        last_frame.start()
        frame_started.wait(10)
        # Daphne sends the disconnect the order after the last frame's.
        closing = threading.Thread(
            target=after_earlier_frames(leave), args=(disconnect(socket, 2),)
        )
        closing.start()
        time.sleep(0.2)
        self.assertEqual(events, [("frame", 0)])

        frame_may_end.set()
        last_frame.join(10)
        closing.join(10)

        self.assertEqual(events, [("frame", 0), ("frame", 1), ("disconnect", 1)])
        self.assertIsNone(session_for_reply_channel(socket).load().get("said"))

    def test_a_disconnect_after_every_frame_goes_at_once(self):
        socket = new_socket()
        in_socket_order(lambda m: None)(frame(socket, 0))
        handled = []
        started = time.monotonic()
        after_earlier_frames(lambda m: handled.append(m.channel_session[NEXT_ORDER_KEY]))(
            disconnect(socket, 1)
        )
        self.assertEqual(handled, [1])
        self.assertLess(time.monotonic() - started, ordering.ORDER_WAIT_SECONDS)

    def test_a_disconnect_without_a_session_goes_at_once(self):
        # A socket whose connect never ran, or whose session Redis lost.
        handled = []
        started = time.monotonic()
        after_earlier_frames(lambda m: handled.append(dict(m.channel_session)))(
            disconnect(new_socket(), 4)
        )
        self.assertEqual(handled, [{}])
        self.assertLess(time.monotonic() - started, ordering.ORDER_WAIT_SECONDS)

    def test_a_disconnect_whose_last_frame_was_lost_goes_after_the_wait(self):
        socket = new_socket()
        in_socket_order(lambda m: None)(frame(socket, 0))
        handled = []
        ordering_wait = ordering.ORDER_WAIT_SECONDS
        ordering.ORDER_WAIT_SECONDS = 0.2
        try:
            with self.assertLogs("chat.transport.ordering", "WARNING"):
                after_earlier_frames(lambda m: handled.append(m.content["order"]))(
                    disconnect(socket, 3)
                )
        finally:
            ordering.ORDER_WAIT_SECONDS = ordering_wait
        self.assertEqual(handled, [3])
