import json
import tempfile
import uuid

import pytest
from channels import Channel
from channels.test import ChannelTestCase
from django.contrib.auth.models import User
from django.db import IntegrityError
from django.test import override_settings
from django.utils import timezone

from chat import services
from chat.conversations.rules import Actor
from chat.exceptions import ClientError, HttpClientError
from chat.models import ApiToken, Message, Room, Upload, hash_api_token
from tests.factories import make_room, make_upload

pytestmark = pytest.mark.django_db


def test_open_room_creates_a_room_on_first_use_and_finds_it_after():
    first = services.open_room("lobby")
    again = services.open_room("lobby")
    assert first.pk == again.pk
    assert (first.label, first.name) == ("lobby", "lobby")
    assert Room.objects.count() == 1


@pytest.mark.parametrize("label", ["new", "admin", "no spaces", "x" * 51, ""])
def test_open_room_refuses_a_label_that_may_not_name_a_room_and_creates_nothing(label):
    with pytest.raises(ClientError) as raised:
        services.open_room(label)
    assert raised.value.code == "INVALID_LABEL"
    assert not Room.objects.exists()


class PostMessageTests(ChannelTestCase):
    def test_post_message_stores_it_and_broadcasts_as_dict_to_the_group(self):
        room = make_room()
        room.group.add("member-a")
        room.group.add("member-b")

        stored = services.post_message(room, "ann", "hello")

        self.assertEqual(Message.objects.get().pk, stored.pk)
        self.assertEqual(stored.seq, 1)
        for member in ("member-a", "member-b"):
            frame = self.get_next_message(member, require=True)
            self.assertEqual(json.loads(frame.content["text"]), stored.as_dict())

    def test_a_message_is_not_broadcast_to_other_rooms(self):
        room, other = make_room("one"), make_room("two")
        other.group.add("outsider")
        services.post_message(room, "ann", "hello")
        Channel("outsider").send({"text": "marker"})

        self.assertEqual(self.get_next_message("outsider").content["text"], "marker")

    def test_messages_are_numbered_one_by_one_within_each_room(self):
        room, other = make_room("one"), make_room("two")
        seqs = [services.post_message(room, "ann", "m%d" % n).seq for n in range(3)]
        self.assertEqual(seqs, [1, 2, 3])
        self.assertEqual(services.post_message(other, "bob", "first").seq, 1)


class SayTests(ChannelTestCase):
    def test_say_validates_stores_and_broadcasts_like_a_socket_message(self):
        room = make_room()
        room.group.add("member")

        stored = services.say("lobby", "  ann  ", "hello")

        self.assertEqual((stored.handle, stored.message, stored.seq), ("ann", "hello", 1))
        self.assertFalse(stored.bot)
        frame = json.loads(self.get_next_message("member", require=True).content["text"])
        self.assertEqual(frame, stored.as_dict())
        self.assertNotIn("bot", frame)

    def test_a_bots_message_is_stored_and_broadcast_marked_as_a_bots(self):
        room = make_room()
        room.group.add("member")

        stored = services.say("lobby", "robot", "beep", bot=True)

        self.assertTrue(Message.objects.get(pk=stored.pk).bot)
        frame = json.loads(self.get_next_message("member", require=True).content["text"])
        self.assertIs(frame["bot"], True)
        self.assertEqual(frame, stored.as_dict())

    def test_say_numbers_its_messages_after_the_rooms_others(self):
        room = make_room()
        services.post_message(room, "ann", "first")
        self.assertEqual(services.say("lobby", "bob", "second").seq, 2)


def test_say_never_creates_a_room_and_answers_not_found():
    with pytest.raises(ClientError) as raised:
        services.say("nowhere", "ann", "hello")
    assert (raised.value.code, raised.value.status) == ("NOT_FOUND", 404)
    assert not Room.objects.exists()


def test_say_refuses_a_label_that_may_not_name_a_room_as_not_found():
    with pytest.raises(ClientError) as raised:
        services.say("admin", "ann", "hello")
    assert raised.value.code == "NOT_FOUND"


@pytest.mark.parametrize(
    "handle, text, code",
    [
        ("", "hello", "HANDLE_EMPTY"),
        ("   ", "hello", "HANDLE_EMPTY"),
        ("x" * 51, "hello", "HANDLE_TOO_LONG"),
        ("a\x00b", "hello", "INVALID_FIELD"),
        ("ann", "", "MESSAGE_EMPTY"),
        ("ann", " \n ", "MESSAGE_EMPTY"),
        ("ann", "x" * 2001, "MESSAGE_TOO_LONG"),
        ("ann", "a\x07b", "INVALID_FIELD"),
        (None, "hello", "INVALID_FIELD"),
        ("ann", 42, "INVALID_FIELD"),
    ],
)
def test_say_refuses_what_the_protocol_refuses_with_its_code_and_stores_nothing(handle, text, code):
    make_room()
    with pytest.raises(ClientError) as raised:
        services.say("lobby", handle, text)
    assert (raised.value.code, raised.value.status) == (code, 400)
    assert not Message.objects.exists()


def test_say_keeps_a_bot_out_of_a_private_room_but_not_the_operator():
    room = make_room()
    room.private = True
    room.save()
    with pytest.raises(ClientError) as raised:
        services.say("lobby", "robot", "beep", bot=True)
    assert (raised.value.code, raised.value.status) == ("NOT_FOUND", 404)
    assert services.say("lobby", "admin", "notice").seq == 1


def test_create_api_token_stores_only_the_hash_of_a_long_random_secret():
    api_token, secret = services.create_api_token("  weather-bot ")
    stored = ApiToken.objects.get()
    assert stored.name == "weather-bot"
    assert len(secret) >= 43
    assert stored.token_hash != secret
    assert secret not in stored.token_hash
    assert stored.token_hash == hash_api_token(secret)
    assert ApiToken.find_active(secret) == api_token


def test_two_tokens_get_different_secrets():
    _, first = services.create_api_token("one")
    _, second = services.create_api_token("two")
    assert first != second


def test_create_api_token_refuses_a_name_already_taken():
    services.create_api_token("bot")
    with pytest.raises(ClientError) as raised:
        services.create_api_token("bot")
    assert (raised.value.code, raised.value.status) == ("NAME_TAKEN", 409)
    assert ApiToken.objects.count() == 1


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_create_api_token_refuses_an_empty_or_too_long_name(name):
    with pytest.raises(ClientError) as raised:
        services.create_api_token(name)
    assert raised.value.code == "INVALID_FIELD"
    assert not ApiToken.objects.exists()


def test_a_revoked_token_is_no_longer_found():
    _, secret = services.create_api_token("bot")
    revoked = services.revoke_api_token("bot")
    assert revoked.is_revoked
    assert ApiToken.find_active(secret) is None


def test_revoking_twice_keeps_the_first_revocation_time():
    services.create_api_token("bot")
    first = services.revoke_api_token("bot").revoked_at
    assert services.revoke_api_token("bot").revoked_at == first


def test_revoking_an_unknown_token_is_not_found():
    with pytest.raises(ClientError) as raised:
        services.revoke_api_token("nobody")
    assert (raised.value.code, raised.value.status) == ("NOT_FOUND", 404)


def test_a_wrong_secret_finds_no_token():
    _, secret = services.create_api_token("bot")
    assert ApiToken.find_active(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    assert ApiToken.find_active("") is None


@override_settings(CHAT_ROOMS_PER_HOUR=3)
def test_open_room_lets_one_address_create_its_hourly_share_of_rooms_then_refuses_with_429():
    for n in range(3):
        services.open_room("room-%d" % n, client="203.0.113.7")
    with pytest.raises(HttpClientError) as raised:
        services.open_room("one-too-many", client="203.0.113.7")
    assert (raised.value.code, raised.value.status) == ("RATE_LIMITED", 429)
    # A third of a room a minute comes back: the next one in 20 minutes.
    assert 1100 <= int(raised.value.headers["Retry-After"]) <= 1200
    assert not Room.objects.filter(label="one-too-many").exists()


@override_settings(CHAT_ROOMS_PER_HOUR=1)
def test_open_room_charges_nothing_for_a_room_that_exists_nor_for_the_operator():
    make_room("lobby")
    for _ in range(5):
        services.open_room("lobby", client="203.0.113.7")
    services.open_room("fresh", client="203.0.113.7")
    services.open_room("by-the-operator")
    services.open_room("another-address", client="198.51.100.1")
    assert Room.objects.count() == 4


def test_post_message_notes_the_rooms_last_seq_and_activity():
    room = make_room()
    assert (room.last_seq, room.last_activity) == (None, None)
    services.post_message(room, "ann", "one")
    second = services.post_message(room, "ann", "two")
    room.refresh_from_db()
    assert (room.last_seq, room.last_activity) == (2, second.timestamp)


class EventCounterTests(ChannelTestCase):
    def test_a_message_takes_the_seq_after_the_rooms_counter_whatever_the_messages_say(self):
        room = make_room()
        services.post_message(room, "ann", "one")
        # As after two changes to messages, which took seqs 2 and 3.
        Room.objects.filter(pk=room.pk).update(last_seq=3)
        message = services.post_message(room, "ann", "two")
        self.assertEqual((message.seq, message.version), (4, 4))
        room.refresh_from_db()
        self.assertEqual(room.last_seq, 4)

    def test_a_message_for_a_room_that_is_gone_is_refused_and_stores_nothing(self):
        room = make_room()
        gone = Room(pk=room.pk, label=room.label)
        room.delete()
        with self.assertRaises(IntegrityError):
            services.post_message(gone, "ann", "anyone?")
        self.assertFalse(Message.objects.exists())


class AuthorTests(ChannelTestCase):
    def test_each_kind_of_author_is_recorded_and_nobody_is_recorded_as_none(self):
        room = make_room()
        user = User.objects.create_user("ann")
        guest = uuid.uuid4()
        token, _ = services.create_api_token("weather")
        by_user = services.post_message(room, "ann", "a", author=Actor(user=user))
        by_guest = services.post_message(room, "gus", "b", author=Actor(guest_author=guest))
        by_bot = services.say("lobby", "weather", "c", bot=True, api_token=token)
        by_nobody = services.post_message(room, "seed", "d")
        rows = {
            m.message: (m.user_id, m.guest_author, m.api_token_id) for m in Message.objects.all()
        }
        self.assertEqual(
            rows,
            {
                "a": (user.pk, None, None),
                "b": (None, guest, None),
                "c": (None, None, token.pk),
                "d": (None, None, None),
            },
        )
        self.assertEqual(
            [m.pk for m in (by_user, by_guest, by_bot, by_nobody)],
            list(Message.objects.order_by("seq").values_list("pk", flat=True)),
        )

    def test_an_images_message_has_its_uploads_sender_as_author(self):
        room = make_room()
        guest = uuid.uuid4()
        with tempfile.TemporaryDirectory() as media, self.settings(MEDIA_ROOT=media):
            upload = make_upload(
                room, status=Upload.PROCESSING, thumbnail=b"png", guest_author=guest
            )
            message = services.post_message(room, "gus", "photo", upload=upload, guest=True)
        self.assertEqual(Message.objects.get(pk=message.pk).guest_author, guest)


@override_settings(CHAT_RATE_LIMIT_PER_MINUTE=0)
class NonceTests(ChannelTestCase):
    def setUp(self):
        super().setUp()
        self.room = make_room()
        self.room.group.add("member")
        self.ann = Actor(user=User.objects.create_user("ann"))

    def frames(self, channel):
        frames = []
        while (frame := self.get_next_message(channel)) is not None:
            frames.append(json.loads(frame.content["text"]))
        return frames

    def test_the_broadcast_of_a_message_with_a_nonce_carries_it(self):
        stored = services.post_message(self.room, "ann", "hi", author=self.ann, nonce="n-1")
        self.assertFalse(stored.repeated)
        self.assertEqual(self.frames("member"), [dict(stored.as_dict(), nonce="n-1")])
        self.assertNotIn("nonce", stored.as_dict())

    def test_a_resend_with_the_same_nonce_stores_nothing_and_answers_the_sender_alone(self):
        first = services.post_message(self.room, "ann", "hi", author=self.ann, nonce="n-1")
        self.frames("member")
        again = services.post_message(
            self.room, "ann", "hi", author=self.ann, nonce="n-1", reply_channel=Channel("sender")
        )
        self.assertTrue(again.repeated)
        self.assertEqual(again.pk, first.pk)
        self.assertEqual(Message.objects.count(), 1)
        self.assertEqual(self.frames("member"), [])
        self.assertEqual(self.frames("sender"), [dict(first.as_dict(), nonce="n-1")])
        self.room.refresh_from_db()
        self.assertEqual(self.room.last_seq, 1)

    def test_the_same_nonce_from_another_author_or_in_another_room_is_another_message(self):
        bob = Actor(user=User.objects.create_user("bob"))
        gus = Actor(guest_author=uuid.uuid4())
        other = make_room("other")
        for room, author in [(self.room, self.ann), (self.room, bob), (self.room, gus)]:
            services.post_message(room, "x", "hi", author=author, nonce="same")
        services.post_message(other, "x", "hi", author=self.ann, nonce="same")
        self.assertEqual(Message.objects.count(), 4)

    def test_a_nonce_of_nobody_or_of_a_bot_is_echoed_and_not_kept(self):
        token, _ = services.create_api_token("bot")
        for author in (None, Actor(api_token_id=token.pk)):
            for _ in range(2):
                message = services.post_message(self.room, "x", "hi", author=author, nonce="n")
                self.assertFalse(message.repeated)
        self.assertEqual(Message.objects.count(), 4)
        self.assertEqual(set(Message.objects.values_list("nonce", flat=True)), {""})
        self.assertEqual([f["nonce"] for f in self.frames("member")], ["n"] * 4)

    def test_a_repeated_nonce_answers_with_the_messages_current_state(self):
        first = services.post_message(self.room, "ann", "hi", author=self.ann, nonce="n-1")
        Message.objects.filter(pk=first.pk).update(message="", deleted_at=timezone.now())
        again = services.post_message(
            self.room, "ann", "hi", author=self.ann, nonce="n-1", reply_channel=Channel("sender")
        )
        self.assertEqual(self.frames("sender")[0]["deleted"], True)
        self.assertEqual(again.message, "")
