"""A property of messages that change: random posts, edits, deletes and
reactions by several authors, with members whose frames are lost or who
drop and reconnect at random, end with every member's view of the room
equal to the database's.

A hypothesis state machine drives ``chat.services.post_message`` and
``chat.conversations.changes`` on the in-memory channel layer. Each member
is a channel in the room's Groups with a ``bench.keeping_up.Timeline``,
which the catch-up endpoint (``GET /<label>/messages``) brings up to date,
as docs/protocol.md's "Keeping up" says."""

import json
import uuid

import pytest
from asgiref.inmemory import ChannelLayer as InMemoryChannelLayer
from channels import DEFAULT_CHANNEL_LAYER
from channels.asgi import ChannelLayerWrapper, channel_layers
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bench.keeping_up import GAP, Timeline
from chat import services
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.exceptions import ClientError
from chat.models import Message, Room, RoomMembership
from tests.factories import make_room

pytestmark = pytest.mark.django_db

# Emoji enough to collide, and texts enough to tell edits apart.
EMOJI = ["👍", "🎉", "👀"]
TEXTS = st.sampled_from(["hello", "hi", "fixed", "typo", "ok"])
# A small page, so that catching up takes several.
PAGE_SIZE = 3


class Member:
    """A member of the room: a channel in its Groups, and a timeline of
    the rules of 2026-12-05 (``follow``), or of 2026-11-30, whose channel
    is in the room's Group only, as a client that sends no typed frame."""

    def __init__(self, room, follow):
        self.room = room
        self.follow = follow
        self.channel = "member-%s!" % uuid.uuid4().hex
        self.timeline = Timeline(follow_changes=follow)
        self.connected = False
        self.http = Client()

    def join(self):
        self.room.group.add(self.channel)
        if self.follow:
            self.room.presence_group.add(self.channel)
        self.connected = True

    def leave(self):
        """The socket closes: it leaves the Groups, and what was on its way
        to it is lost."""
        self.room.group.discard(self.channel)
        self.room.presence_group.discard(self.channel)
        while self.next_frame() is not None:
            pass
        self.connected = False

    def next_frame(self):
        _, content = channel_layers[DEFAULT_CHANNEL_LAYER].receive_many([self.channel])
        return None if content is None else content["text"]

    def deliver(self, count):
        """Take up to ``count`` frames off the channel, catching up at a gap."""
        for _ in range(count):
            text = self.next_frame()
            if text is None:
                return
            if self.timeline.receive(_decode(text)) == GAP:
                self.catch_up()

    def lose_one(self):
        """A frame lost on the way (the channel layer delivers at most once)."""
        self.next_frame()

    def check(self):
        """docs/protocol.md, "Keeping up", step 3: now and then, ask for
        one event past the last; one there that never arrived means a frame
        was lost with nothing after it to show the gap."""
        after = self.timeline.last_seq if self.follow else self.timeline.last_id
        query = {self.timeline.catch_up_parameter: after, "limit": 1}
        if self.http.get("/%s/messages" % self.room.label, query).json()["messages"]:
            self.catch_up()

    def catch_up(self):
        again = True
        while again:
            after = self.timeline.begin_catch_up()
            while True:
                query = {self.timeline.catch_up_parameter: after, "limit": PAGE_SIZE}
                page = self.http.get("/%s/messages" % self.room.label, query).json()
                after = self.timeline.show_page(page["messages"])
                if not page["has_more"]:
                    break
            again = self.timeline.end_catch_up()


def _decode(text):
    return json.loads(text)


class Conversation(RuleBasedStateMachine):
    """Authors post, edit, delete and react; members hear, lose frames,
    leave and come back."""

    messages = Bundle("messages")

    def __init__(self):
        super().__init__()
        suffix = uuid.uuid4().hex[:8]
        self.room = make_room("room-%s" % suffix)
        users = [User.objects.create_user("%s-%s" % (n, suffix)) for n in ("ann", "bob", "own")]
        RoomMembership.objects.create(room=self.room, user=users[2], role=RoomMembership.OWNER)
        self.authors = [
            (Actor(user=users[0]), users[0].username),
            (Actor(user=users[1]), users[1].username),
            (Actor(guest_author=uuid.uuid4()), "gus"),
            (Actor(user=users[2]), users[2].username),
        ]
        self.members = [Member(self.room, follow=True) for _ in range(3)]
        self.members.append(Member(self.room, follow=False))
        self.events = 0
        # Who posted each message: its id to the author's index.
        self.posted = {}

    @initialize()
    def everyone_joins(self):
        for member in self.members:
            member.join()

    @rule(target=messages, author=st.integers(0, 3), text=TEXTS)
    def post(self, author, text):
        actor, handle = self.authors[author]
        message = services.post_message(self.room, handle, text, author=actor)
        self.events += 1
        self.posted[message.pk] = author
        return message.pk

    @rule(message=messages, author=st.integers(0, 3), text=TEXTS)
    def edit(self, message, author, text):
        self.change(changes.edit, author, message, text)

    @rule(message=messages, text=TEXTS)
    def edit_own(self, message, text):
        self.change(changes.edit, self.author_of(message), message, text)

    @rule(message=messages, author=st.integers(0, 3))
    def delete(self, message, author):
        self.change(changes.delete, author, message)

    def author_of(self, message_id):
        """The index of the author who posted the message ``message_id``."""
        return self.posted[message_id]

    @rule(message=messages, author=st.integers(0, 3), emoji=st.sampled_from(EMOJI))
    def react(self, message, author, emoji):
        self.change(changes.react, author, message, emoji, self.authors[author][1])

    def change(self, make, author, message, *args):
        """Make a change; a refusal must change nothing."""
        actor = self.authors[author][0]
        before = Room.objects.get(pk=self.room.pk).last_seq
        try:
            make(self.room, actor, message, *args)
        except ClientError as refusal:
            assert refusal.code in ("NOT_YOURS", "MESSAGE_NOT_FOUND")
            assert Room.objects.get(pk=self.room.pk).last_seq == before
        else:
            self.events += 1

    @rule(member=st.integers(0, 3), count=st.integers(1, 10))
    def deliver(self, member, count):
        self.members[member].deliver(count)

    @precondition(lambda self: any(m.connected for m in self.members))
    @rule(member=st.integers(0, 3))
    def lose_a_frame(self, member):
        self.members[member].lose_one()

    @rule(member=st.integers(0, 3))
    def leave(self, member):
        if self.members[member].connected:
            self.members[member].leave()

    @rule(member=st.integers(0, 3))
    def come_back(self, member):
        member = self.members[member]
        if not member.connected:
            member.join()
            member.catch_up()

    @invariant()
    def every_event_took_the_next_seq(self):
        room = Room.objects.get(pk=self.room.pk)
        assert (room.last_seq or 0) == self.events
        versions = sorted(Message.objects.filter(room=room).values_list("version", flat=True))
        assert len(set(versions)) == len(versions)
        assert not versions or versions[-1] == self.events

    def teardown(self):
        """Let everything arrive (or be caught up), then compare."""
        stored = {
            message.pk: message.as_dict()
            for message in Message.objects.filter(room=self.room)
            .select_related("room", "upload")
            .prefetch_related("reactions")
        }
        for member in self.members:
            if not member.connected:
                member.join()
                member.catch_up()
            member.deliver(10**6)
            member.check()
            if member.follow:
                assert member.timeline.messages == stored
                assert member.timeline.last_seq == self.events
            else:
                # The older rules: every message shown, once.
                assert member.timeline.shown_set == set(stored)
            assert member.timeline.duplicates == 0


@pytest.fixture
def fresh_layer():
    """A fresh in-memory channel layer in place of the default one."""
    old = channel_layers.set(
        DEFAULT_CHANNEL_LAYER,
        ChannelLayerWrapper(
            InMemoryChannelLayer(),
            DEFAULT_CHANNEL_LAYER,
            channel_layers[DEFAULT_CHANNEL_LAYER].routing[:],
        ),
    )
    yield
    channel_layers.set(DEFAULT_CHANNEL_LAYER, old)


def test_every_members_view_ends_equal_to_the_database(fresh_layer):
    run_state_machine_as_test(
        Conversation,
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
