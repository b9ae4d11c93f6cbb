"""Mentions: the rules of chat/mentions.py, who ``selectors.mentioned``
finds, and what ``post_message`` and the changes store and send, on the
in-memory layer."""

import json
import uuid
from unittest import mock

import pytest
from channels.test import ChannelTestCase
from django.contrib.auth.models import User

from chat import mentions, selectors, services
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.mentions import Mentions, Parsed, candidates, parse, resolve
from chat.models import Mention, Message, ReadMark, Room, RoomMembership
from tests.factories import make_room

# The rules, with no database.


def test_a_name_with_hyphens_and_underscores_is_read_whole():
    assert parse("@bob-smith and @ann_lee, hi").names == ("bob-smith", "ann_lee")


def test_punctuation_after_a_name_is_read_and_later_cut_by_candidates():
    assert parse("thanks @ann.").names == ("ann.",)
    assert parse("(@ann) @bob, @carol! @dave? @erin: @fay's").names == (
        "ann",
        "bob",
        "carol",
        "dave",
        "erin",
        "fay",
    )
    assert candidates("ann.") == ["ann.", "ann"]
    assert candidates("ann.lee.") == ["ann.lee.", "ann.lee", "ann"]
    assert candidates("a-b_c") == ["a-b_c", "a-b", "a"]


def test_at_here_in_any_case_and_with_punctuation_mentions_everyone_present():
    for text in ("@here", "@HERE!", "hey @Here.", "**@here**"):
        assert parse(text) == Parsed((), True), text
    # A longer name that starts with "here" is a name.
    assert parse("@here-team") == Parsed(("here-team",), False)


def test_a_mention_in_inline_code_or_a_code_block_is_no_mention():
    assert parse("`@ann` and @bob").names == ("bob",)
    assert parse("```\n@carol\n```\n@dave").names == ("dave",)
    assert parse("    @eve indented\n\n@fay").names == ("fay",)
    assert not parse("`@here`")


def test_email_addresses_and_addresses_in_links_are_no_mentions():
    assert not parse("write to ann@example.com")
    assert not parse("ann@localhost or bob.smith@example.org")
    assert not parse("see https://example.com/@ann")
    assert parse("mail ann@example.com, or ask @bob").names == ("bob",)


def test_a_name_is_listed_once_whatever_its_case():
    assert parse("@ann @Ann @ANN @bob").names == ("ann", "bob")


def test_a_text_without_at_is_not_even_parsed():
    with mock.patch.object(mentions, "mentionable_text") as read:
        assert parse("nobody here") == Parsed()
    read.assert_not_called()


def test_resolve_takes_the_longest_registered_candidate_case_insensitively():
    registered = {"ann": [(1, "ann")], "ann.lee": [(2, "Ann.Lee")], "bob": [(3, "bob")]}
    assert resolve(parse("@ANN. @ann.lee. @bob-x"), registered) == Mentions(
        ["ann", "Ann.Lee", "bob"], False, [1, 2, 3]
    )


def test_unknown_names_mention_nobody():
    assert resolve(parse("@nobody @ghost."), {"ann": [(1, "ann")]}) == Mentions([], False, [])


def test_accounts_that_read_alike_are_meant_only_when_spelled_exactly():
    registered = {"ann": [(1, "Ann"), (2, "ann")]}
    assert resolve(parse("@ann"), registered).user_ids == [2]
    assert resolve(parse("@Ann"), registered).user_ids == [1]
    assert resolve(parse("@ANN"), registered) == Mentions([], False, [])


def test_here_reaches_the_present_accounts_but_never_the_author():
    registered = {"ann": [(1, "ann")], "bob": [(2, "bob")]}
    # "gus" is a guest's handle: no account, no notification.
    found = resolve(parse("@here"), registered, present=["ann", "bob", "gus"], author_id=2)
    assert found == Mentions([], True, [1])
    # The author named still shows among the names, but is not notified.
    assert resolve(parse("@bob"), registered, author_id=2) == Mentions(["bob"], False, [])


# Who is mentioned, and what is stored and sent.


class MentionTestCase(ChannelTestCase):
    """``lobby`` (public) and ``attic`` (private: ann and bob), users ann,
    bob and carol, and a socket, ``member``, in each room's Groups."""

    def setUp(self):
        super().setUp()
        self.ann = User.objects.create_user("ann")
        self.bob = User.objects.create_user("bob")
        self.carol = User.objects.create_user("carol")
        self.lobby = make_room("lobby")
        self.attic = make_room("attic")
        Room.objects.filter(pk=self.attic.pk).update(private=True)
        self.attic.refresh_from_db()
        for user in (self.ann, self.bob):
            RoomMembership.objects.create(room=self.attic, user=user)
        for room in (self.lobby, self.attic):
            room.group.add("member-%s" % room.label)
            room.presence_group.add("member-%s" % room.label)

    def post(self, room, text, author=None, handle="ann"):
        author = author or self.ann
        return services.post_message(room, handle, text, author=Actor(user=author))

    def frames(self, room):
        found = []
        while (frame := self.get_next_message("member-%s" % room.label)) is not None:
            found.append(json.loads(frame.content["text"]))
        return found

    def mentioned(self, message):
        return sorted(Mention.objects.filter(message=message).values_list("user__username", "seq"))

    def test_a_mention_is_stored_with_the_message_and_sent_in_its_frame(self):
        message = self.post(self.lobby, "@bob and @Carol, look")
        self.assertEqual(self.mentioned(message), [("bob", message.seq), ("carol", message.seq)])
        (frame,) = self.frames(self.lobby)
        self.assertEqual(frame["mentions"], ["bob", "carol"])
        self.assertNotIn("mentions_here", frame)
        stored = Message.objects.get(pk=message.pk)
        self.assertEqual(stored.as_dict()["mentions"], ["bob", "carol"])

    def test_a_message_without_mentions_has_no_mention_keys_and_asks_nothing(self):
        with mock.patch.object(selectors, "mentioned") as asked:
            self.post(self.lobby, "hello all")
        asked.assert_not_called()
        (frame,) = self.frames(self.lobby)
        self.assertFalse({"mentions", "mentions_here"} & set(frame))
        self.assertFalse(Mention.objects.exists())

    def test_the_mentions_are_stored_in_the_messages_transaction(self):
        # A failure after the message's insert, inside its transaction,
        # leaves neither the message nor its mentions.
        with mock.patch.object(
            services, "store_mentions_locally", side_effect=RuntimeError("boom")
        ):
            with self.assertRaises(RuntimeError):
                self.post(self.lobby, "@bob hi")
        self.assertFalse(Message.objects.exists())
        self.assertFalse(Mention.objects.exists())

    def test_unknown_names_and_the_author_are_not_notified(self):
        message = self.post(self.lobby, "@nobody and @ann (me)")
        self.assertEqual(self.mentioned(message), [])
        (frame,) = self.frames(self.lobby)
        self.assertEqual(frame["mentions"], ["ann"])

    def test_a_mention_in_a_private_room_reaches_its_members_only(self):
        message = self.post(self.attic, "@bob @carol")
        self.assertEqual(self.mentioned(message), [("bob", message.seq)])
        (frame,) = self.frames(self.attic)
        self.assertEqual(frame["mentions"], ["bob"])
        self.assertEqual(selectors.mention_counts(self.carol, [self.attic]), {})
        self.assertEqual(selectors.mention_counts(self.bob, [self.attic]), {self.attic.pk: 1})

    def test_a_guests_name_mentions_nobody(self):
        gus = Actor(guest_author=uuid.uuid4())
        services.post_message(self.lobby, "gus", "hi", guest=True, author=gus)
        message = self.post(self.lobby, "@gus are you there?")
        self.assertEqual(self.mentioned(message), [])
        self.assertNotIn("mentions", self.frames(self.lobby)[-1])

    def test_here_mentions_the_signed_in_users_present_in_the_room(self):
        present = {"ann", "bob", "gus"}  # gus: a guest
        with mock.patch("chat.presence.present_handles", return_value=present):
            message = self.post(self.lobby, "@here standup")
        self.assertEqual(self.mentioned(message), [("bob", message.seq)])
        (frame,) = self.frames(self.lobby)
        self.assertIs(frame["mentions_here"], True)
        self.assertNotIn("mentions", frame)

    def test_an_edit_adds_and_removes_mentions_and_keeps_the_ones_it_still_makes(self):
        message = self.post(self.lobby, "@bob hi")
        edited = changes.edit(self.lobby, Actor(user=self.ann), message.pk, "@bob and @carol hi")
        # carol is new, with the edit's seq; bob keeps his.
        self.assertEqual(self.mentioned(message), [("bob", message.seq), ("carol", edited.version)])
        self.assertEqual(edited.as_dict()["mentions"], ["bob", "carol"])
        changes.edit(self.lobby, Actor(user=self.ann), message.pk, "@carol only")
        self.assertEqual(self.mentioned(message), [("carol", edited.version)])
        last = changes.edit(self.lobby, Actor(user=self.ann), message.pk, "nobody")
        self.assertEqual(self.mentioned(message), [])
        self.assertNotIn("mentions", last.as_dict())
        self.assertEqual(self.frames(self.lobby)[-1]["object"]["message"], "nobody")

    def test_a_delete_drops_the_mentions(self):
        message = self.post(self.lobby, "@bob @here")
        tombstone = changes.delete(self.lobby, Actor(user=self.ann), message.pk)
        self.assertFalse(Mention.objects.exists())
        self.assertFalse({"mentions", "mentions_here"} & set(tombstone.as_dict()))

    def test_the_count_clears_once_the_user_reads_past_the_mention(self):
        self.post(self.lobby, "first")
        mention = self.post(self.lobby, "@bob look")
        self.post(self.lobby, "after")
        self.assertEqual(selectors.mention_counts(self.bob, [self.lobby]), {self.lobby.pk: 1})
        services.mark_read(self.bob.pk, self.lobby, mention.seq - 1)
        self.assertEqual(selectors.mention_counts(self.bob, [self.lobby]), {self.lobby.pk: 1})
        services.mark_read(self.bob.pk, self.lobby, mention.seq)
        self.assertEqual(selectors.mention_counts(self.bob, [self.lobby]), {})
        self.assertEqual(ReadMark.objects.get(user=self.bob).seq, mention.seq)

    def test_a_mention_added_by_editing_an_old_message_counts_again(self):
        message = self.post(self.lobby, "hi")
        services.mark_read(self.bob.pk, self.lobby, message.seq)
        changes.edit(self.lobby, Actor(user=self.ann), message.pk, "hi @bob")
        self.assertEqual(selectors.mention_counts(self.bob, [self.lobby]), {self.lobby.pk: 1})


@pytest.mark.django_db
def test_mentioned_asks_one_query_for_a_text_with_names(django_assert_num_queries):
    User.objects.create_user("bob")
    room = make_room()
    with django_assert_num_queries(1):
        found = selectors.mentioned(room, "@bob @nobody", None)
    assert found.names == ["bob"]
    with django_assert_num_queries(0):
        assert selectors.mentioned(room, "mail ann@example.com", None) == mentions.NONE


@pytest.mark.django_db
def test_the_room_page_highlights_a_mention_of_the_reader_only(client):
    ann = User.objects.create_user("ann")
    bob = User.objects.create_user("bob")
    room = make_room("lobby")
    services.post_message(room, "ann", "@bob look", author=Actor(user=ann))
    services.post_message(room, "ann", "@here standup", author=Actor(user=ann))
    services.post_message(room, "ann", "nobody", author=Actor(user=ann))

    def highlighted(user):
        client.force_login(user)
        page = client.get("/lobby/").content.decode()
        return [
            text
            for text in ("@bob look", "@here standup", "nobody")
            if 'mentions-me"' in page.split(text)[0].rsplit('<li class="message', 1)[1]
        ]

    assert highlighted(bob) == ["@bob look", "@here standup"]
    # ann wrote them: her own messages are never highlighted for her.
    assert highlighted(ann) == []
