"""chat/scheduling.py: the rules of messages sent later, their delivery
exactly once, the sweeper, and the socket frames that schedule, list and
cancel them (docs/protocol.md, "Messages sent later")."""

import datetime
import json
import uuid

import pytest
from channels import Channel
from channels.delay.models import DelayedMessage
from channels.test import ChannelTestCase
from django.contrib.auth.models import User
from django.test import override_settings
from django.utils import timezone

from chat import protocol, scheduling, services
from chat.conversations.rules import Actor
from chat.exceptions import ClientError
from chat.models import Message, RegisteredHandle, Room, RoomMembership, ScheduledMessage
from tests.factories import make_room
from tests.test_consumers import IdentityTestCase, session_cookie

NOW = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.UTC)
LATER = NOW + datetime.timedelta(minutes=20)


def later(minutes=20):
    return timezone.now() + datetime.timedelta(minutes=minutes)


def make_private_room(label, *members):
    room = Room.objects.create(label=label, name=label, private=True)
    for user in members:
        RoomMembership.objects.create(room=room, user=user)
    return room


class ScheduleRulesTests(ChannelTestCase):
    def setUp(self):
        super().setUp()
        self.ann = User.objects.create_user("ann", password="x")
        self.room = make_room()

    def refusal(self, actor, at, text="hello", room=None, handle="ann"):
        with self.assertRaises(ClientError) as raised:
            scheduling.schedule(room or self.room, actor, handle, text, at, now=NOW)
        self.assertFalse(ScheduledMessage.objects.exists())
        return raised.exception.code

    def test_a_user_schedules_a_message_and_the_delay_server_is_asked_for_its_time(self):
        row = scheduling.schedule(self.room, Actor(user=self.ann), "ann", "hello", LATER, now=NOW)
        self.assertEqual((row.status, row.due_at, row.user_id), ("pending", LATER, self.ann.pk))
        asked = self.get_next_message(scheduling.DELAY_CHANNEL, require=True).content
        self.assertEqual(
            asked, {"channel": "chat.scheduled", "delay": 20 * 60 * 1000, "content": {"id": row.pk}}
        )

    def test_a_named_guest_schedules_under_their_guest_id(self):
        guest = uuid.uuid4()
        row = scheduling.schedule(self.room, Actor(guest_author=guest), "Gus", "hi", LATER, now=NOW)
        self.assertEqual((row.guest_author, row.user_id, row.handle), (guest, None, "Gus"))

    def test_nobody_may_schedule(self):
        self.assertEqual(self.refusal(Actor(), LATER), "IDENTITY_REQUIRED")

    def test_a_time_in_the_past_is_refused(self):
        past = NOW - datetime.timedelta(seconds=scheduling.PAST_GRACE_S + 1)
        self.assertEqual(self.refusal(Actor(user=self.ann), past), "SCHEDULE_IN_PAST")

    def test_a_time_beyond_the_maximum_is_refused_and_the_maximum_itself_is_not(self):
        limit = NOW + datetime.timedelta(days=30)
        too_far = limit + datetime.timedelta(seconds=1)
        self.assertEqual(self.refusal(Actor(user=self.ann), too_far), "SCHEDULE_TOO_FAR")
        scheduling.schedule(self.room, Actor(user=self.ann), "ann", "ok", limit, now=NOW)

    @override_settings(CHAT_SCHEDULED_MAX_PENDING=2)
    def test_an_author_has_at_most_the_cap_pending_over_all_rooms(self):
        other = make_room("other")
        scheduling.schedule(self.room, Actor(user=self.ann), "ann", "1", LATER, now=NOW)
        scheduling.schedule(other, Actor(user=self.ann), "ann", "2", LATER, now=NOW)
        with self.assertRaises(ClientError) as raised:
            scheduling.schedule(self.room, Actor(user=self.ann), "ann", "3", LATER, now=NOW)
        self.assertEqual(raised.exception.code, "TOO_MANY_SCHEDULED")
        self.assertEqual(ScheduledMessage.objects.count(), 2)
        # Someone else is not counted against ann.
        bob = User.objects.create_user("bob", password="x")
        scheduling.schedule(self.room, Actor(user=bob), "bob", "mine", LATER, now=NOW)

    @override_settings(CHAT_SCHEDULED_MAX_PENDING=1)
    def test_a_cancelled_one_frees_its_place(self):
        row = scheduling.schedule(self.room, Actor(user=self.ann), "ann", "1", LATER, now=NOW)
        scheduling.cancel(Actor(user=self.ann), row.pk)
        scheduling.schedule(self.room, Actor(user=self.ann), "ann", "2", LATER, now=NOW)

    def test_a_stranger_a_guest_and_a_non_member_may_not_schedule_into_a_private_room(self):
        private = make_private_room("secret", self.ann)
        bob = User.objects.create_user("bob", password="x")
        for actor in (Actor(guest_author=uuid.uuid4()), Actor(user=bob)):
            self.assertEqual(self.refusal(actor, LATER, room=private), "SCHEDULE_NOT_ALLOWED")
        self.assertEqual(self.refusal(Actor(), LATER, room=private), "IDENTITY_REQUIRED")
        scheduling.schedule(private, Actor(user=self.ann), "ann", "member", LATER, now=NOW)

    def test_a_deactivated_user_may_not_schedule(self):
        self.ann.is_active = False
        self.ann.save()
        self.assertEqual(self.refusal(Actor(user=self.ann), LATER), "SCHEDULE_NOT_ALLOWED")


class DeliveryTests(ChannelTestCase):
    def setUp(self):
        super().setUp()
        self.ann = User.objects.create_user("ann", password="x")
        self.room = make_room()
        self.room.group.add("member")

    def scheduled(self, actor=None, room=None, handle="ann", text="hello", minutes=20):
        actor = actor or Actor(user=self.ann)
        return scheduling.schedule(room or self.room, actor, handle, text, later(minutes))

    def due(self, row):
        return row.due_at + datetime.timedelta(milliseconds=10)

    def test_a_due_message_is_posted_as_its_author_broadcast_and_marked_sent(self):
        row = self.scheduled()
        self.assertEqual(scheduling.deliver(row.pk, now=self.due(row)), "sent")
        message = Message.objects.get()
        self.assertEqual((message.handle, message.user_id, message.seq), ("ann", self.ann.pk, 1))
        frame = json.loads(self.get_next_message("member", require=True).content["text"])
        self.assertEqual((frame["id"], frame["message"]), (message.pk, "hello"))
        row.refresh_from_db()
        self.assertEqual((row.status, row.message_id), ("sent", message.pk))

    def test_a_second_delivery_of_the_same_row_posts_nothing(self):
        row = self.scheduled()
        scheduling.deliver(row.pk, now=self.due(row))
        self.get_next_message("member", require=True)
        self.assertEqual(scheduling.deliver(row.pk, now=self.due(row)), "sent")
        self.assertEqual(Message.objects.count(), 1)
        self.assertIsNone(self.get_next_message("member"))

    def test_a_claim_that_finds_the_row_no_longer_pending_rolls_the_message_back_unsent(self):
        row = self.scheduled()
        real_post = services.post_message

        def cancelled_meanwhile(*args, on_store, **kwargs):
            def claim_after_cancel(message):
                ScheduledMessage.objects.filter(pk=row.pk).update(status="cancelled")
                on_store(message)

            return real_post(*args, on_store=claim_after_cancel, **kwargs)

        scheduling.services.post_message = cancelled_meanwhile
        try:
            # The cancel ran in the claim's own transaction, so it is rolled
            # back with the message; a real one commits first, elsewhere.
            self.assertEqual(scheduling.deliver(row.pk, now=self.due(row)), "pending")
        finally:
            scheduling.services.post_message = real_post
        self.assertFalse(Message.objects.exists())
        self.assertIsNone(self.get_next_message("member"))
        # The room's counter was rolled back with it: no gap in seq.
        services.post_message(self.room, "bob", "next")
        self.assertEqual(Message.objects.get().seq, 1)

    def test_a_cancelled_message_is_never_posted(self):
        row = self.scheduled()
        scheduling.cancel(Actor(user=self.ann), row.pk)
        self.assertEqual(scheduling.deliver(row.pk, now=self.due(row)), "cancelled")
        self.assertFalse(Message.objects.exists())

    def test_an_early_delivery_goes_back_to_the_delay_server(self):
        row = self.scheduled(minutes=20)
        self.get_next_message(scheduling.DELAY_CHANNEL, require=True)
        self.assertEqual(scheduling.deliver(row.pk), "pending")
        again = self.get_next_message(scheduling.DELAY_CHANNEL, require=True).content
        self.assertGreater(again["delay"], 19 * 60 * 1000)
        self.assertFalse(Message.objects.exists())

    def test_a_user_removed_from_a_private_room_gets_nothing_posted_and_the_row_says_why(self):
        private = make_private_room("secret", self.ann)
        row = self.scheduled(room=private)
        RoomMembership.objects.filter(room=private, user=self.ann).delete()
        self.assertEqual(scheduling.deliver(row.pk, now=self.due(row)), "refused")
        row.refresh_from_db()
        self.assertEqual(row.reason, "ACCESS_DENIED")
        self.assertFalse(Message.objects.exists())

    def test_a_deactivated_user_gets_nothing_posted(self):
        row = self.scheduled()
        User.objects.filter(pk=self.ann.pk).update(is_active=False)
        self.assertEqual(scheduling.deliver(row.pk, now=self.due(row)), "refused")
        row.refresh_from_db()
        self.assertEqual(row.reason, "ACCOUNT_INACTIVE")

    def test_a_guest_whose_name_was_registered_since_gets_nothing_posted(self):
        row = self.scheduled(actor=Actor(guest_author=uuid.uuid4()), handle="Gus")
        User.objects.create_user("gus", password="x")
        self.assertTrue(RegisteredHandle.is_registered("Gus"))
        self.assertEqual(scheduling.deliver(row.pk, now=self.due(row)), "refused")
        row.refresh_from_db()
        self.assertEqual(row.reason, "HANDLE_TAKEN")

    def test_a_guests_message_is_posted_as_the_guest(self):
        guest = uuid.uuid4()
        row = self.scheduled(actor=Actor(guest_author=guest), handle="Gus")
        scheduling.deliver(row.pk, now=self.due(row))
        message = Message.objects.get()
        self.assertEqual(
            (message.handle, message.guest, message.guest_author), ("Gus", True, guest)
        )

    def test_a_user_posts_under_their_current_username(self):
        row = self.scheduled()
        User.objects.filter(pk=self.ann.pk).update(username="annie")
        scheduling.deliver(row.pk, now=self.due(row))
        self.assertEqual(Message.objects.get().handle, "annie")

    def test_the_consumer_posts_what_the_delay_server_sends_back(self):
        row = self.scheduled(minutes=0)
        Channel(scheduling.SCHEDULED_CHANNEL).send({"id": row.pk})
        self.consume(scheduling.SCHEDULED_CHANNEL)
        self.assertEqual(Message.objects.get().message, "hello")

    def consume(self, channel):
        from channels.test.base import Client

        Client().consume(channel)

    def test_the_sweeper_posts_only_rows_overdue_by_its_grace(self):
        overdue = self.scheduled(text="lost on the way", minutes=0)
        fresh = self.scheduled(text="still on time", minutes=0)
        ScheduledMessage.objects.filter(pk=overdue.pk).update(
            due_at=timezone.now() - datetime.timedelta(seconds=scheduling.SWEEP_GRACE_S + 1)
        )
        self.assertEqual(scheduling.sweep(), 1)
        self.assertEqual(
            list(Message.objects.values_list("message", flat=True)), ["lost on the way"]
        )
        fresh.refresh_from_db()
        self.assertEqual(fresh.status, "pending")
        self.assertEqual(scheduling.sweep(), 0)


class CancelTests(ChannelTestCase):
    def setUp(self):
        super().setUp()
        self.ann = User.objects.create_user("ann", password="x")
        self.room = make_room()
        self.row = scheduling.schedule(self.room, Actor(user=self.ann), "ann", "hi", later())

    def test_the_author_cancels_and_the_delay_servers_row_is_dropped(self):
        DelayedMessage.objects.create(
            due_date=self.row.due_at,
            channel_name="chat.scheduled",
            content=json.dumps({"id": self.row.pk}),
        )
        scheduling.cancel(Actor(user=self.ann), self.row.pk)
        self.row.refresh_from_db()
        self.assertEqual(self.row.status, "cancelled")
        self.assertFalse(DelayedMessage.objects.exists())

    def test_someone_elses_or_an_unknown_id_is_not_found_and_changes_nothing(self):
        bob = User.objects.create_user("bob", password="x")
        for actor, scheduled_id in (
            (Actor(user=bob), self.row.pk),
            (Actor(guest_author=uuid.uuid4()), self.row.pk),
            (Actor(user=self.ann), self.row.pk + 1),
        ):
            with self.assertRaises(ClientError) as raised:
                scheduling.cancel(actor, scheduled_id)
            self.assertEqual(raised.exception.code, "SCHEDULED_NOT_FOUND")
        self.row.refresh_from_db()
        self.assertEqual(self.row.status, "pending")

    def test_nobody_cancels_or_lists_anything(self):
        for call in (
            lambda: scheduling.cancel(Actor(), self.row.pk),
            lambda: scheduling.pending(Actor(), self.room),
        ):
            with self.assertRaises(ClientError) as raised:
                call()
            self.assertEqual(raised.exception.code, "IDENTITY_REQUIRED")
        self.row.refresh_from_db()
        self.assertEqual(self.row.status, "pending")

    def test_a_sent_one_cannot_be_cancelled(self):
        scheduling.deliver(self.row.pk, now=self.row.due_at)
        with self.assertRaises(ClientError) as raised:
            scheduling.cancel(Actor(user=self.ann), self.row.pk)
        self.assertEqual(raised.exception.code, "SCHEDULED_NOT_PENDING")
        self.assertEqual(Message.objects.count(), 1)


@pytest.mark.parametrize(
    "text",
    ["2026-12-05T09:00:00", "2026-12-05", "tomorrow", "2026-13-05T09:00:00Z", 1733389200, None],
)
def test_an_instant_without_its_offset_or_not_a_date_and_time_is_refused(text):
    with pytest.raises(ClientError) as raised:
        protocol.check_instant(text)
    assert raised.value.code == "INVALID_FIELD"


@pytest.mark.parametrize(
    "text",
    ["2026-12-05T09:00:00Z", "2026-12-05T09:00:00.000Z", "2026-12-05T10:00+01:00"],
)
def test_an_instant_with_its_offset_is_read_in_utc(text):
    assert protocol.check_instant(text) == datetime.datetime(2026, 12, 5, 9, tzinfo=datetime.UTC)


def test_a_schedule_frame_is_refused_with_an_overlong_text_or_an_unknown_field():
    long_text = "x" * 2001
    frame = {"type": "schedule", "message": long_text, "at": "2026-12-05T09:00:00Z"}
    with pytest.raises(ClientError) as raised:
        protocol.parse_frame({"text": json.dumps(frame)}, "ann")
    assert raised.value.code == "MESSAGE_TOO_LONG"
    frame = {"type": "schedule", "message": "hi", "at": "2026-12-05T09:00:00Z", "room": "x"}
    with pytest.raises(ClientError) as raised:
        protocol.parse_frame({"text": json.dumps(frame)}, "ann")
    assert raised.value.code == "INVALID_FRAME"


class SocketFrameTests(IdentityTestCase):
    def frame(self, client, **fields):
        client.send_and_consume("websocket.receive", text=fields, path="/chat/lobby/")
        return client.receive()

    def test_a_signed_in_socket_schedules_lists_and_cancels_its_own(self):
        ann = User.objects.create_user("ann", password="x")
        client, _ = self.connect(headers=session_cookie(ann))
        at = later().isoformat()
        reply = self.frame(client, type="schedule", message="later", at=at, nonce="n1")
        row = ScheduledMessage.objects.get()
        self.assertEqual(
            reply,
            {"type": "scheduled", "id": row.pk, "nonce": "n1", "pending": [row.as_dict()]},
        )
        self.assertEqual(self.frame(client, type="list_scheduled")["pending"], [row.as_dict()])
        reply = self.frame(client, type="cancel_scheduled", id=row.pk)
        self.assertEqual(reply, {"type": "scheduled", "cancelled": row.pk, "pending": []})

    def test_a_socket_without_an_identity_is_refused_and_nothing_is_stored(self):
        client, _ = self.connect()
        reply = self.frame(client, type="schedule", message="x", at=later().isoformat())
        self.assertEqual((reply["type"], reply["error"]), ("error", "IDENTITY_REQUIRED"))
        self.assertFalse(ScheduledMessage.objects.exists())

    def test_a_socket_without_an_identity_lists_and_cancels_nobodys(self):
        ann = User.objects.create_user("ann", password="x")
        client, _ = self.connect()
        row = scheduling.schedule(
            Room.objects.get(label="lobby"), Actor(user=ann), "ann", "ann's secret", later()
        )
        for frame in ({"type": "list_scheduled"}, {"type": "cancel_scheduled", "id": row.pk}):
            reply = self.frame(client, **frame)
            self.assertEqual((reply["type"], reply["error"]), ("error", "IDENTITY_REQUIRED"))
            self.assertNotIn("ann's secret", json.dumps(reply))
        row.refresh_from_db()
        self.assertEqual(row.status, "pending")

    def test_a_socket_sees_only_its_own_author_and_room_in_the_list(self):
        ann = User.objects.create_user("ann", password="x")
        bob = User.objects.create_user("bob", password="x")
        scheduling.schedule(make_room("other"), Actor(user=ann), "ann", "elsewhere", later())
        client, _ = self.connect(headers=session_cookie(bob))
        lobby = Room.objects.get(label="lobby")
        scheduling.schedule(lobby, Actor(user=ann), "ann", "ann's", later())
        self.assertEqual(self.frame(client, type="list_scheduled")["pending"], [])
        reply = self.frame(client, type="cancel_scheduled", id=ScheduledMessage.objects.first().pk)
        self.assertEqual(reply["error"], "SCHEDULED_NOT_FOUND")
        self.assertEqual(ScheduledMessage.objects.filter(status="pending").count(), 2)
