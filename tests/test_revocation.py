"""Closing a socket when its reader loses the room (chat/revocation.py), and
the ``ping`` that re-checks access, through channels' own test client.

The tests that need "a room this reader can no longer read" make it
private (``make_private``) and leave the reader out of its members, or
take them out."""

import json
import time

from channels import Group
from channels.sessions import session_for_reply_channel
from channels.test import TransactionChannelTestCase, WSClient
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client, override_settings

from chat import conf, presence, revocation
from chat.consumers import HTTP_SESSION_KEY
from chat.models import Room, RoomMembership

ORIGIN = [[b"origin", b"http://localhost:8000"]]


def make_private(room):
    """Make ``room`` (a ``Room``) one that a socket without a signed-in
    user may no longer read; returns it as stored."""
    Room.objects.filter(pk=room.pk).update(private=True)
    return Room.objects.get(pk=room.pk)


def sign_in(user):
    """A Django test ``Client`` signed in as ``user`` (a new session of
    theirs), and the ``cookie`` header (list of one [name, value] pair) a
    handshake from its page carries."""
    http = Client()
    http.force_login(user)
    key = http.cookies[settings.SESSION_COOKIE_NAME].value
    return http, [[b"cookie", ("%s=%s" % (settings.SESSION_COOKIE_NAME, key)).encode()]]


def session_key_of(http):
    return http.cookies[settings.SESSION_COOKIE_NAME].value


# Some tests save users and read what the commit's callbacks did, so the
# database is really committed (a TransactionTestCase).
@override_settings(CHAT_RATE_LIMIT_PER_MINUTE=0)
class RevocationTestCase(TransactionChannelTestCase):
    def setUp(self):
        super().setUp()
        presence.reset_store()
        self.room = Room.objects.create(label="club", name="club")

    def tearDown(self):
        presence.reset_store()
        super().tearDown()

    def connect(self, label="club", headers=()):
        """A WSClient connected to ``label``'s room with ``headers`` besides
        the Origin, its accept consumed."""
        client = WSClient(ordered=True)
        client.send(
            "websocket.connect", {"headers": ORIGIN + list(headers)}, path="/chat/%s/" % label
        )
        client.consume("websocket.connect", check_accept=False)
        reply = self.get_next_message(client.reply_channel, require=True).content
        self.assertTrue(reply.get("accept"))
        self.assertNotIn("close", reply)
        return client

    def ping(self, client, label="club"):
        client.send_and_consume(
            "websocket.receive", text={"type": "ping"}, path="/chat/%s/" % label
        )

    def replies(self, client):
        """Every message waiting on ``client``'s reply channel (list of
        dict: ``text`` decoded, ``close`` as sent)."""
        found = []
        while True:
            message = self.get_next_message(client.reply_channel)
            if message is None:
                return found
            content = dict(message.content)
            if "text" in content:
                content["text"] = json.loads(content["text"])
            found.append(content)

    def assert_closed_for_access(self, client):
        self.assertIn(
            {
                "text": {
                    "type": "error",
                    "error": "ROOM_ACCESS_DENIED",
                    "detail": revocation.denied_error().detail,
                },
                "close": 4003,
            },
            self.replies(client),
        )

    def assert_left_open(self, client):
        self.assertNotIn(4003, [reply.get("close") for reply in self.replies(client)])


class GroupTests(RevocationTestCase):
    def members(self, name):
        return list(Group(name).channel_layer.group_channels(name))

    def test_a_signed_in_socket_joins_its_sessions_its_users_and_its_users_room_groups(self):
        alice = User.objects.create_user("alice")
        http, cookie = sign_in(alice)
        client = self.connect(headers=cookie)
        names = [
            "chat.accounts.session.%s" % session_key_of(http),
            "chat.accounts.user.%d" % alice.pk,
            "chat.club.user.%d" % alice.pk,
        ]
        for name in names:
            self.assertEqual(self.members(name), [client.reply_channel])
        self.assertEqual(self.members("chat.club.guests"), [])
        self.assertEqual(client.session.load()[HTTP_SESSION_KEY], session_key_of(http))

        client.send_and_consume("websocket.disconnect", {"code": 1000}, path="/chat/club/")
        for name in names:
            self.assertEqual(self.members(name), [])

    def test_a_socket_without_a_signed_in_user_joins_only_its_rooms_guests_group(self):
        seed = self.connect()
        self.assertEqual(self.members("chat.club.guests"), [seed.reply_channel])
        seed.send_and_consume("websocket.disconnect", {"code": 1000}, path="/chat/club/")
        self.assertEqual(self.members("chat.club.guests"), [])

    def test_a_ping_puts_the_socket_back_in_groups_the_layer_dropped(self):
        alice = User.objects.create_user("alice")
        _, cookie = sign_in(alice)
        client = self.connect(headers=cookie)
        name = "chat.club.user.%d" % alice.pk
        Group(name).discard(client.reply_channel)  # as group_expiry would
        self.ping(client)
        self.assertEqual(self.members(name), [client.reply_channel])

    def test_no_label_can_name_an_accounts_group_or_another_rooms_group(self):
        self.assertIn(revocation.ACCOUNTS, conf.RESERVED_LABELS)
        self.assertFalse(conf.is_valid_label("accounts"))
        labels = ["x", "x-user-1", "x_guests", "user", "session", "guests", "accounts-x", "X"]
        names = []
        for label in labels:
            names += revocation.groups_for(label) + revocation.groups_for(label, 1, "a" * 32)
            names += [revocation.room_user_group_name(label, 2)]
        names = set(names)
        by_room = {
            name
            for name in names
            if name.startswith("chat.") and not name.startswith("chat.accounts.")
        }
        for name in by_room:
            owners = [label for label in labels if name.split(".")[1] == label]
            self.assertEqual(len(owners), 1, name)
        self.assertEqual(revocation.session_group_name("../etc"), None)


class TriggerTests(RevocationTestCase):
    def test_signing_out_closes_that_sessions_sockets_only_and_within_5_s(self):
        alice = User.objects.create_user("alice")
        self.room = make_private(self.room)
        RoomMembership.objects.create(room=self.room, user=alice)
        phone, phone_cookie = sign_in(alice)
        _, laptop_cookie = sign_in(alice)
        phone_socket = self.connect(headers=phone_cookie)
        laptop_socket = self.connect(headers=laptop_cookie)
        self.replies(phone_socket), self.replies(laptop_socket)

        started = time.monotonic()
        self.assertEqual(phone.post("/accounts/logout/").status_code, 302)
        self.assert_closed_for_access(phone_socket)
        self.assertLess(time.monotonic() - started, 5)
        self.assert_left_open(laptop_socket)

    def test_signing_out_closes_the_sessions_sockets_in_every_room(self):
        alice = User.objects.create_user("alice")
        Room.objects.create(label="other", name="other")
        http, cookie = sign_in(alice)
        here, there = self.connect(headers=cookie), self.connect("other", cookie)
        http.post("/accounts/logout/")
        self.assert_closed_for_access(here)
        self.assert_closed_for_access(there)

    def test_deactivating_a_user_closes_their_sockets_in_every_room(self):
        alice = User.objects.create_user("alice")
        bob = User.objects.create_user("bob")
        Room.objects.create(label="other", name="other")
        _, cookie = sign_in(alice)
        here, there = self.connect(headers=cookie), self.connect("other", cookie)
        _, bob_cookie = sign_in(bob)
        bystander = self.connect(headers=bob_cookie)

        alice.is_active = False
        alice.save()

        self.assert_closed_for_access(here)
        self.assert_closed_for_access(there)
        self.assert_left_open(bystander)

    def test_saves_that_do_not_deactivate_close_nothing(self):
        alice = User.objects.create_user("alice")
        _, cookie = sign_in(alice)
        socket = self.connect(headers=cookie)
        alice.first_name = "Alice"
        alice.save()
        alice.is_active = False
        alice.save(update_fields=["first_name"])  # is_active not written
        self.assert_left_open(socket)
        User.objects.filter(pk=alice.pk).update(is_active=False)
        alice.save()  # inactive already
        self.assert_left_open(socket)

    def test_removing_a_member_closes_their_sockets_in_that_room_only(self):
        alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
        self.room = make_private(self.room)
        for member in (alice, bob):
            RoomMembership.objects.create(room=self.room, user=member)
        Room.objects.create(label="other", name="other")
        _, cookie = sign_in(alice)
        _, bob_cookie = sign_in(bob)
        removed, elsewhere = self.connect(headers=cookie), self.connect("other", cookie)
        stayer = self.connect(headers=bob_cookie)

        RoomMembership.objects.filter(room=self.room, user=alice).delete()
        revocation.member_removed(self.room, alice)

        self.assert_closed_for_access(removed)
        self.assert_left_open(elsewhere)
        self.assert_left_open(stayer)

    def test_removing_someone_who_may_still_read_the_room_closes_nothing(self):
        alice = User.objects.create_user("alice")
        _, cookie = sign_in(alice)
        socket = self.connect(headers=cookie)
        revocation.member_removed(self.room, alice)
        self.assert_left_open(socket)

    def test_making_a_room_private_closes_every_socket_that_may_no_longer_read_it(self):
        alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
        _, alice_cookie = sign_in(alice)
        _, bob_cookie = sign_in(bob)
        member, outsider = self.connect(headers=alice_cookie), self.connect(headers=bob_cookie)
        seed = self.connect()
        guest_session = SessionStore()
        guest_session["chat_guest_name"] = "Gus"
        guest_session.create()
        guest = self.connect(
            headers=[[b"cookie", ("sessionid=%s" % guest_session.session_key).encode()]]
        )
        elsewhere = self.connect("other")

        RoomMembership.objects.create(room=self.room, user=alice)
        revocation.room_made_private(make_private(self.room))

        for refused in (outsider, seed, guest):
            self.assert_closed_for_access(refused)
        self.assert_left_open(member)
        self.assert_left_open(elsewhere)

    def test_calling_room_made_private_on_a_room_guests_may_read_closes_nothing(self):
        seed = self.connect()
        revocation.room_made_private(self.room)
        self.assert_left_open(seed)


class PingBackstopTests(RevocationTestCase):
    def test_a_ping_closes_a_socket_whose_session_was_deleted_behind_its_back(self):
        alice = User.objects.create_user("alice")
        http, cookie = sign_in(alice)
        socket = self.connect(headers=cookie)
        self.replies(socket)
        SessionStore(session_key_of(http)).delete()

        self.ping(socket)

        replies = self.replies(socket)
        self.assertEqual([reply.get("close") for reply in replies], [4003])
        self.assertEqual(replies[0]["text"]["error"], "ROOM_ACCESS_DENIED")

    def test_a_ping_closes_a_socket_of_a_user_deactivated_without_a_signal(self):
        alice = User.objects.create_user("alice")
        _, cookie = sign_in(alice)
        socket = self.connect(headers=cookie)
        User.objects.filter(pk=alice.pk).update(is_active=False)
        self.ping(socket)
        self.assert_closed_for_access(socket)

    def test_a_ping_closes_a_socket_whose_user_changed_their_password(self):
        alice = User.objects.create_user("alice", password="old password")
        _, cookie = sign_in(alice)
        socket = self.connect(headers=cookie)
        alice.set_password("new password")
        alice.save()
        self.ping(socket)
        self.assert_closed_for_access(socket)

    def test_a_ping_closes_a_socket_whose_room_became_unreadable(self):
        seed = self.connect()
        make_private(self.room)  # no trigger called
        self.ping(seed)
        self.assert_closed_for_access(seed)

    def test_a_ping_closes_a_signed_in_socket_the_rule_now_refuses(self):
        alice = User.objects.create_user("alice")
        self.room = make_private(self.room)
        RoomMembership.objects.create(room=self.room, user=alice)
        _, cookie = sign_in(alice)
        socket = self.connect(headers=cookie)
        self.replies(socket)
        # Taken out behind the socket's back: no trigger runs.
        RoomMembership.objects.filter(room=self.room, user=alice).delete()
        self.ping(socket)
        self.assert_closed_for_access(socket)

    def test_a_ping_of_a_socket_that_may_stay_is_answered_with_one_query_or_three(self):
        alice = User.objects.create_user("alice")
        _, cookie = sign_in(alice)
        signed_in, seed = self.connect(headers=cookie), self.connect()
        self.replies(signed_in), self.replies(seed)
        with self.assertNumQueries(1):
            self.ping(seed)
        with self.assertNumQueries(3):  # the session, the user, the room
            self.ping(signed_in)
        self.assertEqual(self.replies(signed_in)[-1], {"text": {"type": "pong"}})
        self.assertEqual(self.replies(seed)[-1], {"text": {"type": "pong"}})

    def test_a_signed_in_socket_from_before_the_session_was_kept_is_told_to_reconnect(self):
        alice = User.objects.create_user("alice")
        _, cookie = sign_in(alice)
        socket = self.connect(headers=cookie)
        session = session_for_reply_channel(socket.reply_channel)
        del session[HTTP_SESSION_KEY]
        session.save()
        self.replies(socket)
        self.ping(socket)
        self.assertEqual(self.replies(socket), [{"close": 1012}])
