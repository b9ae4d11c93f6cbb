"""The admin's messages (chat/admin.py, ``MessageAdmin``): shown, never
rewritten; deleted only as the room's moderation deletes, leaving a
tombstone the room is told of; and a deleted message's text is left
nowhere, the admin's own log included."""

import io
import json
import tempfile

from channels.test import ChannelTestCase
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import User
from django.core.cache import caches
from django.core.files.storage import default_storage
from django.core.management import call_command

from chat import services, webhooks
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.models import (
    Message,
    MessageEdit,
    Reaction,
    Room,
    RoomMembership,
    Upload,
    WebhookDelivery,
)
from tests.factories import make_room, make_upload

# The inlines' management forms, which a change form's POST carries.
NO_INLINES = {
    "edits-TOTAL_FORMS": 0,
    "edits-INITIAL_FORMS": 0,
    "reactions-TOTAL_FORMS": 0,
    "reactions-INITIAL_FORMS": 0,
}


class MessageAdminTests(ChannelTestCase):
    """``lobby``, with a socket in its presence Group (``"member"``), a
    message by ann, and a superuser signed in to the admin."""

    def setUp(self):
        super().setUp()
        self.room = make_room()
        self.room.presence_group.add("member")
        self.ann = Actor(user=User.objects.create_user("ann"))
        self.message = services.post_message(self.room, "ann", "what ann said", author=self.ann)
        self.root = User.objects.create_superuser("root", "root@example.com", "x")
        self.client.force_login(self.root)
        self.frames()

    def frames(self):
        found = []
        while (frame := self.get_next_message("member")) is not None:
            found.append(json.loads(frame.content["text"]))
        return found

    def url(self, message, action="change"):
        return "/admin/chat/message/%d/%s/" % (message.pk, action)

    def stored(self):
        return list(
            Message.objects.order_by("pk").values_list(
                "room", "handle", "message", "bot", "guest", "user", "version", "deleted_at"
            )
        )

    def test_staff_cannot_rewrite_a_messages_text_handle_room_or_author(self):
        other = make_room("other")
        page = self.client.get(self.url(self.message)).content.decode()
        self.assertIn("what ann said", page)
        self.assertNotIn('name="message"', page)
        before = self.stored()

        answer = self.client.post(
            self.url(self.message),
            {
                "room": other.pk,
                "handle": "bob",
                "message": "words ann never said",
                "bot": "on",
                "user": self.root.pk,
                **NO_INLINES,
            },
        )

        self.assertEqual(answer.status_code, 302)
        self.assertEqual(self.stored(), before)
        self.assertEqual(self.frames(), [])
        self.assertEqual(self.client.get("/admin/chat/message/add/").status_code, 403)

    def test_deleting_a_message_leaves_a_tombstone_and_tells_the_room(self):
        changes.edit(self.room, self.ann, self.message.pk, "what ann meant")
        self.frames()

        answer = self.client.post(self.url(self.message, "delete"), {"post": "yes"})

        self.assertEqual(answer.status_code, 302)
        tombstone = Message.objects.get()
        self.assertEqual((tombstone.message, tombstone.version), ("", 3))
        self.assertIsNotNone(tombstone.deleted_at)
        self.assertFalse(MessageEdit.objects.exists())
        [frame] = self.frames()
        self.assertEqual((frame["change"], frame["seq"]), ("delete", 3))
        self.assertEqual(frame["object"], tombstone.as_dict())

    def test_the_lists_delete_action_leaves_tombstones_too(self):
        second = services.post_message(self.room, "gus", "and gus", guest=True)
        self.frames()

        answer = self.client.post(
            "/admin/chat/message/",
            {
                "action": "delete_selected",
                "_selected_action": [self.message.pk, second.pk],
                "post": "yes",
            },
        )

        self.assertEqual(answer.status_code, 302)
        self.assertEqual(
            sorted(Message.objects.values_list("message", "version")), [("", 3), ("", 4)]
        )
        self.assertEqual([f["change"] for f in self.frames()], ["delete", "delete"])

    def test_staff_delete_only_in_rooms_they_may_read(self):
        club = Room.objects.create(label="club", name="club", private=True)
        owner = User.objects.create_user("olive")
        RoomMembership.objects.create(room=club, user=owner, role=RoomMembership.OWNER)
        secret = services.post_message(club, "olive", "members only", author=Actor(user=owner))
        before = self.stored()

        answer = self.client.post(self.url(secret, "delete"), {"post": "yes"}, follow=True)

        self.assertEqual(self.stored(), before)
        self.assertIn("Not deleted: message(s) %d" % secret.pk, answer.content.decode())
        # A member of the room, staff moderate it as its owners do.
        RoomMembership.objects.create(room=club, user=self.root)
        self.client.post(self.url(secret, "delete"), {"post": "yes"})
        self.assertTrue(Message.objects.get(pk=secret.pk).deleted)

    def test_a_deleted_messages_text_is_left_nowhere_in_the_database_or_the_storage(self):
        texts = ("open sesame, said the caption", "open sesame, said the edit", "sesame, at last")
        Room.objects.filter(pk=self.room.pk).update(webhook_url="https://hooks.example.com/")
        caches[webhooks.URL_CACHE_ALIAS].delete(webhooks.URL_CACHE_KEY % self.room.pk)
        with tempfile.TemporaryDirectory() as media, self.settings(MEDIA_ROOT=media):
            upload = make_upload(
                self.room, status=Upload.PROCESSING, thumbnail=b"thumb", caption=texts[0]
            )
            names = [upload.original.name, upload.thumbnail.name]
            photo = services.post_message(
                self.room, "ann", texts[0], upload=upload, author=self.ann
            )
            for text in texts[1:]:
                changes.edit(self.room, self.ann, photo.pk, text)
            changes.react(self.room, self.ann, photo.pk, "🔑", "ann")
            # Staff look at it, and save its page unchanged: the admin logs it.
            self.client.get(self.url(photo))
            self.client.post(self.url(photo), NO_INLINES)
            self.assertTrue(LogEntry.objects.exists())
            # Deliveries queued and not yet made: a body is made at each
            # try, from the message as it is then.
            self.assertEqual(WebhookDelivery.objects.count(), 3)

            self.client.post(self.url(photo, "delete"), {"post": "yes"})

            self.assertFalse(any(default_storage.exists(name) for name in names))
        everything = io.StringIO()
        call_command("dumpdata", stdout=everything)
        self.assertNotIn("sesame", everything.getvalue())
        self.assertEqual(WebhookDelivery.objects.count(), 4)
        self.assertFalse(Upload.objects.exists() or Reaction.objects.exists())
        self.assertTrue(Message.objects.get(pk=photo.pk).deleted)
