"""The consumers, through channels' own test client on the in-memory layer."""

import json
from unittest import mock

from channels import Group
from channels.exceptions import DenyConnection
from channels.sessions import session_for_reply_channel
from channels.test import ChannelTestCase, WSClient
from django.db import InterfaceError, OperationalError
from django.test import override_settings

from chat import services
from chat.models import Message, Room
from chat.transport.ordering import NEXT_ORDER_KEY

ORIGIN = [[b"origin", b"http://localhost:8000"]]


class ConsumerTestCase(ChannelTestCase):
    def join(self, label="lobby", origin=ORIGIN):
        """A WSClient connected to ``label``'s room, its accept consumed."""
        client = WSClient(ordered=True)
        client.send_and_consume("websocket.connect", {"headers": origin}, path="/chat/%s/" % label)
        return client

    def say(self, client, label="lobby", **fields):
        client.send_and_consume("websocket.receive", text=fields, path="/chat/%s/" % label)

    def say_raw(self, client, content, label="lobby"):
        client.send_and_consume("websocket.receive", content, path="/chat/%s/" % label)


class ConnectTests(ConsumerTestCase):
    def test_connect_creates_the_room_on_first_use_and_accepts(self):
        self.join("new-room")
        self.assertEqual(Room.objects.get().label, "new-room")

    def test_connect_joins_the_rooms_group(self):
        client = self.join()
        self.assertIn(
            client.reply_channel, Group("chat-lobby").channel_layer.group_channels("chat-lobby")
        )

    def test_connect_remembers_the_room_in_the_channel_session(self):
        client = self.join()
        session = client.session.load()
        self.assertEqual(session["label"], "lobby")
        self.assertEqual(session["room"], Room.objects.get().pk)
        self.assertEqual(session[NEXT_ORDER_KEY], 1)

    def test_a_cross_site_origin_is_refused(self):
        client = WSClient(ordered=True)
        client.send(
            "websocket.connect",
            {"headers": [[b"origin", b"http://evil.example.com"]]},
            path="/chat/lobby/",
        )
        with self.assertRaises(DenyConnection):
            client.consume("websocket.connect", check_accept=False)
        self.assertFalse(Room.objects.exists())

    def test_a_missing_origin_is_refused(self):
        client = WSClient(ordered=True)
        client.send("websocket.connect", {"headers": []}, path="/chat/lobby/")
        with self.assertRaises(DenyConnection):
            client.consume("websocket.connect", check_accept=False)

    def test_a_label_that_is_not_a_valid_slug_is_refused(self):
        for label in ["not%20a%20slug", "x" * 51, "new", "ünïcode"]:
            client = WSClient(ordered=True)
            client.send("websocket.connect", {"headers": ORIGIN}, path="/chat/%s/" % label)
            with self.assertRaises(DenyConnection):
                client.consume("websocket.connect", check_accept=False)
        self.assertFalse(Room.objects.exists())

    def test_a_socket_on_another_path_is_refused(self):
        client = WSClient(ordered=True)
        client.send("websocket.connect", {"headers": ORIGIN}, path="/elsewhere/")
        with self.assertRaises(DenyConnection):
            client.consume("websocket.connect", check_accept=False)


# The rate limit has tests of its own; these send more frames than its burst.
@override_settings(CHAT_RATE_LIMIT_PER_MINUTE=0)
class ReceiveTests(ConsumerTestCase):
    def test_a_message_is_broadcast_to_every_member_the_sender_included(self):
        ann, bob, cat = self.join(), self.join(), self.join()
        self.say(ann, handle="ann", message="hello")

        stored = Message.objects.get()
        for member in (ann, bob, cat):
            self.assertEqual(member.receive(), stored.as_dict())
            self.assertIsNone(member.receive())

    def test_a_message_is_stored_in_its_room(self):
        ann = self.join("stored")
        self.join("other")
        self.say(ann, label="stored", handle="ann", message="kept")

        message = Message.objects.get()
        self.assertEqual(
            (message.room.label, message.handle, message.message), ("stored", "ann", "kept")
        )

    def test_other_rooms_hear_nothing(self):
        ann, outsider = self.join("one"), self.join("two")
        self.say(ann, label="one", handle="ann", message="hello")
        self.assertIsNone(outsider.receive())

    def test_every_refused_frame_gets_its_error_to_the_sender_only_and_stores_nothing(self):
        cases = [
            ({"bytes": b"\x00\x01"}, "BINARY_FRAME"),
            ({"text": "{not json"}, "INVALID_JSON"),
            ({"text": "x" * 100000}, "FRAME_TOO_LARGE"),
            ({"text": "[1, 2]"}, "INVALID_FRAME"),
            ({"text": json.dumps({"handle": "a", "message": "b", "x": 1})}, "INVALID_FRAME"),
            ({"text": json.dumps({"handle": "ann"})}, "MISSING_FIELD"),
            ({"text": json.dumps({"handle": 5, "message": "hi"})}, "INVALID_FIELD"),
            ({"text": json.dumps({"handle": "", "message": "hi"})}, "HANDLE_EMPTY"),
            ({"text": json.dumps({"handle": "h" * 51, "message": "hi"})}, "HANDLE_TOO_LONG"),
            ({"text": json.dumps({"handle": "ann", "message": " "})}, "MESSAGE_EMPTY"),
            ({"text": json.dumps({"handle": "ann", "message": "m" * 2001})}, "MESSAGE_TOO_LONG"),
        ]
        sender, other = self.join(), self.join()
        for content, code in cases:
            with self.subTest(code=code):
                self.say_raw(sender, content)
                error = sender.receive()
                self.assertEqual(set(error), {"error", "detail"})
                self.assertEqual(error["error"], code)
                self.assertIsNone(other.receive())
        self.assertFalse(Message.objects.exists())

    def test_the_socket_still_works_after_a_refused_frame(self):
        sender = self.join()
        self.say_raw(sender, {"text": "{not json"})
        sender.receive()
        self.say(sender, handle="ann", message="still here")
        self.assertEqual(sender.receive()["message"], "still here")

    def test_a_database_failure_gets_unavailable_without_exception_text(self):
        sender, other = self.join(), self.join()
        for failure in (
            OperationalError("connection to 10.0.0.5 refused, password=hunter2"),
            InterfaceError("connection to 10.0.0.5 already closed"),
        ):
            with mock.patch.object(services, "post_message", side_effect=failure):
                self.say(sender, handle="ann", message="lost?")
            error = sender.receive()
            self.assertEqual(error["error"], "UNAVAILABLE")
            self.assertNotIn("10.0.0.5", json.dumps(error))
            self.assertIsNone(other.receive())

    def test_a_frame_from_a_socket_that_never_joined_gets_not_joined(self):
        stranger = WSClient(ordered=True)
        self.say(stranger, handle="ann", message="hi")
        self.assertEqual(stranger.receive()["error"], "NOT_JOINED")
        self.assertFalse(Message.objects.exists())


class DisconnectTests(ConsumerTestCase):
    def test_disconnect_leaves_the_group(self):
        leaver, stayer = self.join(), self.join()
        leaver.send_and_consume("websocket.disconnect", {"code": 1000}, path="/chat/lobby/")

        self.say(stayer, handle="bob", message="anyone?")

        self.assertEqual(stayer.receive()["message"], "anyone?")
        self.assertIsNone(leaver.receive())
        self.assertNotIn(
            leaver.reply_channel, Group("chat-lobby").channel_layer.group_channels("chat-lobby")
        )

    def test_disconnect_deletes_the_channel_session(self):
        leaver = self.join()
        key = leaver.session.session_key
        self.assertTrue(leaver.session.exists(key))
        leaver.send_and_consume("websocket.disconnect", {"code": 1000}, path="/chat/lobby/")
        self.assertFalse(session_for_reply_channel(leaver.reply_channel).exists(key))


class RateLimitTests(ConsumerTestCase):
    @override_settings(CHAT_RATE_LIMIT_BURST=3, CHAT_RATE_LIMIT_PER_MINUTE=1)
    def test_a_flood_gets_rate_limited_frames_and_other_members_go_on(self):
        flooder, other = self.join(), self.join()
        for n in range(6):
            self.say(flooder, handle="flood", message="spam %d" % n)
        frames = [flooder.receive() for _ in range(6)]

        self.assertEqual([f.get("message") for f in frames[:3]], ["spam 0", "spam 1", "spam 2"])
        self.assertEqual([f.get("error") for f in frames[3:]], ["RATE_LIMITED"] * 3)
        self.assertEqual(Message.objects.count(), 3)
        # Everyone else is untouched: they saw the three, and can still speak.
        self.assertEqual(
            [other.receive()["message"] for _ in range(3)], ["spam 0", "spam 1", "spam 2"]
        )
        self.say(other, handle="bob", message="my turn")
        self.assertEqual(other.receive()["message"], "my turn")
