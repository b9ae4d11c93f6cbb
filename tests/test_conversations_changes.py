"""Edits, deletes and reactions as events in the room's stream:
chat/conversations/changes.py, on the in-memory layer."""

import datetime
import json
import tempfile
import uuid
from unittest import mock

from channels.test import ChannelTestCase
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.test import override_settings
from django.utils import timezone

from chat import services
from chat.conversations import changes, rules
from chat.conversations.rules import Actor
from chat.exceptions import ClientError
from chat.models import Message, MessageEdit, Reaction, Room, RoomMembership, Upload
from tests.factories import make_room, make_upload


class ChangeTestCase(ChannelTestCase):
    """A room, ``lobby``, with a member socket in its Group (``"plain"``,
    as a seed-protocol socket) and one in its presence Group too
    (``"member"``); ``ann`` and ``bob`` are users, ``gus`` a guest."""

    def setUp(self):
        super().setUp()
        self.room = make_room()
        self.room.group.add("plain")
        self.room.group.add("member")
        self.room.presence_group.add("member")
        self.ann = Actor(user=User.objects.create_user("ann"))
        self.bob = Actor(user=User.objects.create_user("bob"))
        self.gus = Actor(guest_author=uuid.uuid4())

    def post(self, text="hello", author=None, handle="ann"):
        return services.post_message(self.room, handle, text, author=author or self.ann)

    def frames(self, channel):
        found = []
        while (frame := self.get_next_message(channel)) is not None:
            found.append(json.loads(frame.content["text"]))
        return found

    def last_seq(self):
        return Room.objects.get(pk=self.room.pk).last_seq

    def refused(self, code, call, *args, **kwargs):
        """Assert that ``call`` raises ``ClientError(code)`` and changes
        nothing: no seq taken, no frame sent, no message, edit or reaction
        touched."""
        before = (
            self.last_seq(),
            list(Message.objects.values_list("pk", "message", "version", "deleted_at")),
            MessageEdit.objects.count(),
            list(Reaction.objects.values_list("pk", "emoji")),
        )
        self.frames("member")
        with self.assertRaises(ClientError) as raised:
            call(*args, **kwargs)
        self.assertEqual(raised.exception.code, code)
        after = (
            self.last_seq(),
            list(Message.objects.values_list("pk", "message", "version", "deleted_at")),
            MessageEdit.objects.count(),
            list(Reaction.objects.values_list("pk", "emoji")),
        )
        self.assertEqual(after, before)
        self.assertEqual(self.frames("member"), [])


class SharedSeqTests(ChangeTestCase):
    def test_messages_and_changes_take_one_gap_free_seq_and_versions_follow(self):
        first = self.post("one")
        second = self.post("two")
        edited = changes.edit(self.room, self.ann, first.pk, "one, fixed")
        reacted = changes.react(self.room, self.bob, second.pk, "👍", "bob")
        third = self.post("three")
        deleted = changes.delete(self.room, self.ann, second.pk)

        self.assertEqual(
            [first.seq, second.seq, edited.version, reacted.version, third.seq, deleted.version],
            [1, 2, 3, 4, 5, 6],
        )
        self.assertEqual(self.last_seq(), 6)
        stored = {m.pk: (m.seq, m.version) for m in Message.objects.all()}
        self.assertEqual(stored, {first.pk: (1, 3), second.pk: (2, 6), third.pk: (5, 5)})
        # Every event's frame, in seq order, with its seq.
        frames = self.frames("member")
        self.assertEqual(
            [(f["type"], f.get("change"), f["seq"]) for f in frames],
            [
                ("message", None, 1),
                ("message", None, 2),
                ("change", "edit", 3),
                ("change", "react", 4),
                ("message", None, 5),
                ("change", "delete", 6),
            ],
        )

    def test_change_frames_reach_the_presence_group_and_never_a_seed_protocol_socket(self):
        message = self.post()
        changes.edit(self.room, self.ann, message.pk, "edited")
        changes.react(self.room, self.bob, message.pk, "🎉", "bob")
        changes.delete(self.room, self.ann, message.pk)
        self.assertEqual([f["type"] for f in self.frames("plain")], ["message"])
        self.assertEqual(
            [f.get("change") for f in self.frames("member")], [None, "edit", "react", "delete"]
        )


class EditTests(ChangeTestCase):
    def test_an_edit_replaces_the_text_keeps_the_old_one_and_is_sent_as_a_change(self):
        message = self.post("helo")
        self.frames("member")
        moment = timezone.now()
        edited = changes.edit(self.room, self.ann, message.pk, "hello", now=moment)

        self.assertEqual((edited.message, edited.seq, edited.version), ("hello", 1, 2))
        self.assertEqual(edited.edited_at, moment)
        [kept] = MessageEdit.objects.all()
        self.assertEqual(
            (kept.message_id, kept.seq, kept.text, kept.editor_id, kept.edited_at),
            (message.pk, 2, "helo", self.ann.user_id, moment),
        )
        [frame] = self.frames("member")
        self.assertEqual(
            frame, {"type": "change", "change": "edit", "seq": 2, "object": edited.as_dict()}
        )
        self.assertEqual(frame["object"]["message"], "hello")
        self.assertEqual(frame["object"]["version"], 2)
        self.assertIn("edited", frame["object"])

    def test_each_edit_keeps_the_text_it_replaced(self):
        message = self.post("one")
        for text in ("two", "three"):
            changes.edit(self.room, self.ann, message.pk, text)
        history = list(MessageEdit.objects.values_list("seq", "text"))
        self.assertEqual(history, [(2, "one"), (3, "two")])

    def test_a_guest_edits_their_own_and_the_edit_records_them(self):
        message = self.post(author=self.gus, handle="gus")
        changes.edit(self.room, self.gus, message.pk, "fixed")
        self.assertEqual(MessageEdit.objects.get().editor_guest, self.gus.guest_author)

    def test_someone_elses_edit_is_refused_and_changes_nothing(self):
        message = self.post()
        self.refused("NOT_YOURS", changes.edit, self.room, self.bob, message.pk, "mine now")
        self.refused("NOT_YOURS", changes.edit, self.room, self.gus, message.pk, "mine now")

    @override_settings(CHAT_EDIT_WINDOW_SECONDS=60)
    def test_an_edit_after_the_window_is_too_late_and_changes_nothing(self):
        message = self.post()
        later = message.timestamp + datetime.timedelta(seconds=61)
        self.refused("TOO_LATE", changes.edit, self.room, self.ann, message.pk, "x", now=later)

    def test_a_message_of_another_room_or_none_is_not_found(self):
        elsewhere = services.post_message(make_room("other"), "ann", "there", author=self.ann)
        for message_id in (elsewhere.pk, 10**6):
            self.refused("MESSAGE_NOT_FOUND", changes.edit, self.room, self.ann, message_id, "x")

    def test_a_socket_without_an_identity_is_told_to_get_one(self):
        message = self.post()
        self.refused("IDENTITY_REQUIRED", changes.edit, self.room, rules.NOBODY, message.pk, "x")
        self.refused("IDENTITY_REQUIRED", changes.delete, self.room, rules.NOBODY, message.pk)
        self.refused(
            "IDENTITY_REQUIRED", changes.react, self.room, rules.NOBODY, message.pk, "👍", "x"
        )

    def test_a_message_deleted_between_the_check_and_the_lock_is_not_found_and_numbers_nothing(
        self,
    ):
        message = self.post()
        check = rules.check_change

        def check_then_lose_it(*args, **kwargs):
            check(*args, **kwargs)
            Message.objects.filter(pk=message.pk).update(deleted_at=timezone.now())

        with mock.patch.object(rules, "check_change", check_then_lose_it):
            with self.assertRaises(ClientError) as raised:
                changes.edit(self.room, self.ann, message.pk, "too late")
        self.assertEqual(raised.exception.code, "MESSAGE_NOT_FOUND")
        self.assertEqual(self.last_seq(), 1)
        self.assertFalse(MessageEdit.objects.exists())


class DeleteTests(ChangeTestCase):
    def test_a_delete_leaves_a_tombstone_and_forgets_the_text_history_and_reactions(self):
        message = self.post("secret")
        changes.edit(self.room, self.ann, message.pk, "still secret")
        changes.react(self.room, self.bob, message.pk, "👀", "bob")
        self.frames("member")

        tombstone = changes.delete(self.room, self.ann, message.pk)

        stored = Message.objects.get(pk=message.pk)
        self.assertEqual((stored.message, stored.seq, stored.version), ("", 1, 4))
        self.assertIsNotNone(stored.deleted_at)
        self.assertIsNone(stored.edited_at)
        self.assertFalse(MessageEdit.objects.exists())
        self.assertFalse(Reaction.objects.exists())
        [frame] = self.frames("member")
        self.assertEqual(frame["change"], "delete")
        self.assertEqual(frame["seq"], 4)
        self.assertEqual(
            frame["object"],
            {
                "type": "message",
                "id": message.pk,
                "seq": 1,
                "version": 4,
                "timestamp": message.as_dict()["timestamp"],
                "handle": "ann",
                "deleted": True,
                "message": "",
            },
        )
        self.assertEqual(frame["object"], tombstone.as_dict())

    def test_deleting_an_images_message_deletes_the_upload_and_its_files(self):
        with tempfile.TemporaryDirectory() as media, self.settings(MEDIA_ROOT=media):
            upload = make_upload(
                self.room, status=Upload.PROCESSING, thumbnail=b"thumb", user_id=self.ann.user_id
            )
            names = [upload.original.name, upload.thumbnail.name]
            message = services.post_message(self.room, "ann", "photo", upload=upload)
            self.assertTrue(all(default_storage.exists(name) for name in names))

            tombstone = changes.delete(self.room, self.ann, message.pk)

            self.assertFalse(any(default_storage.exists(name) for name in names))
        self.assertFalse(Upload.objects.exists())
        self.assertIsNone(Message.objects.get(pk=message.pk).upload_id)
        self.assertNotIn("image", tombstone.as_dict())

    def test_owners_and_staff_delete_anyones_message_and_others_cannot(self):
        owner = User.objects.create_user("owner")
        RoomMembership.objects.create(room=self.room, user=owner, role=RoomMembership.OWNER)
        staff = User.objects.create_user("staff", is_staff=True)
        first, second = self.post("one"), self.post("two", author=self.gus, handle="gus")
        self.refused("NOT_YOURS", changes.delete, self.room, self.bob, first.pk)
        changes.delete(self.room, Actor(user=owner), first.pk)
        changes.delete(self.room, Actor(user=staff), second.pk)
        self.assertEqual(Message.objects.filter(deleted_at__isnull=False).count(), 2)

    def test_a_deleted_message_cannot_be_edited_reacted_to_or_deleted_again(self):
        message = self.post()
        changes.delete(self.room, self.ann, message.pk)
        self.refused("MESSAGE_NOT_FOUND", changes.edit, self.room, self.ann, message.pk, "x")
        self.refused("MESSAGE_NOT_FOUND", changes.react, self.room, self.bob, message.pk, "👍", "b")
        self.refused("MESSAGE_NOT_FOUND", changes.delete, self.room, self.ann, message.pk)


class ReactTests(ChangeTestCase):
    def test_a_reaction_is_added_then_taken_back_by_the_same_reactor(self):
        message = self.post()
        self.frames("member")
        added = changes.react(self.room, self.bob, message.pk, "👍", "bob")
        self.assertEqual(
            added.as_dict()["reactions"], [{"emoji": "👍", "count": 1, "handles": ["bob"]}]
        )
        taken_back = changes.react(self.room, self.bob, message.pk, "👍", "bob")
        self.assertNotIn("reactions", taken_back.as_dict())
        self.assertEqual(taken_back.version, 3)
        frames = self.frames("member")
        self.assertEqual([(f["change"], f["seq"]) for f in frames], [("react", 2), ("react", 3)])
        self.assertEqual(frames[0]["object"]["reactions"][0]["handles"], ["bob"])
        self.assertNotIn("reactions", frames[1]["object"])

    def test_reactions_count_per_emoji_in_the_order_first_given(self):
        message = self.post()
        for actor, emoji, handle in [
            (self.bob, "👍", "bob"),
            (self.gus, "🎉", "gus"),
            (self.ann, "👍", "ann"),
            (self.gus, "👍", "gus"),
        ]:
            current = changes.react(self.room, actor, message.pk, emoji, handle)
        self.assertEqual(
            current.as_dict()["reactions"],
            [
                {"emoji": "👍", "count": 3, "handles": ["bob", "ann", "gus"]},
                {"emoji": "🎉", "count": 1, "handles": ["gus"]},
            ],
        )

    @override_settings(CHAT_REACTIONS_MAX_EMOJI=2)
    def test_a_new_emoji_beyond_the_most_is_refused_but_more_of_one_given_is_not(self):
        message = self.post()
        changes.react(self.room, self.bob, message.pk, "👍", "bob")
        changes.react(self.room, self.bob, message.pk, "🎉", "bob")
        self.refused(
            "TOO_MANY_REACTIONS", changes.react, self.room, self.ann, message.pk, "🚀", "ann"
        )
        changes.react(self.room, self.ann, message.pk, "🎉", "ann")
        self.assertEqual(Reaction.objects.filter(emoji="🎉").count(), 2)

    def test_a_bot_does_not_react(self):
        token, _ = services.create_api_token("bot")
        message = self.post()
        bot = Actor(api_token_id=token.pk)
        self.refused("IDENTITY_REQUIRED", changes.react, self.room, bot, message.pk, "👍", "bot")


class EditHistoryTests(ChangeTestCase):
    def test_owners_read_the_edit_history_and_the_author_does_not(self):
        owner = User.objects.create_user("owner")
        RoomMembership.objects.create(room=self.room, user=owner, role=RoomMembership.OWNER)
        message = self.post("one")
        changes.edit(self.room, self.ann, message.pk, "two")
        found, edits = changes.edit_history(self.room, Actor(user=owner), message.pk)
        self.assertEqual(found.pk, message.pk)
        self.assertEqual([(e.text, e.editor.username) for e in edits], [("one", "ann")])
        with self.assertRaises(ClientError) as raised:
            changes.edit_history(self.room, self.ann, message.pk)
        self.assertEqual(raised.exception.code, "NOT_ALLOWED")
