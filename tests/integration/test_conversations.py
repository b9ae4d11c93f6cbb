"""Messages that change, on the real split: edits, deletes and reactions
reach the room's members live as change frames, a member away during them
catches up to the same final state, a stranger's change is refused, and a
seed-protocol client hears none of it (docs/protocol.md, "Changing
messages")."""

import os
import subprocess
import sys

import pytest
import requests

from bench.chat_client import ChatClient, stored_messages, unique_label, user_sessions
from bench.keeping_up import GAP, Timeline
from bench.split import PROJECT_DIR

pytestmark = pytest.mark.integration

# The frames of the room's stream; the rest (presence, typing, pong, errors)
# are no part of it.
STREAM_TYPES = ("message", "change")


class Member:
    """A signed-in member: a socket to the room, and a ``Timeline`` of the
    rules of 2026-12-05 fed with every message and change frame it
    receives, caught up over HTTP with its session."""

    def __init__(self, split, label, session_key):
        self.split = split
        self.label = label
        self.session_key = session_key
        self.timeline = Timeline(follow_changes=True)
        self.connect()

    def connect(self):
        self.client = ChatClient(self.split, self.label, session_key=self.session_key)

    def fetch(self, after):
        answer = requests.get(
            self.split.base_url + "/%s/messages" % self.label,
            params={self.timeline.catch_up_parameter: after, "limit": 2},
            cookies={"sessionid": self.session_key},
            timeout=30,
        )
        answer.raise_for_status()
        return answer.json()

    def catch_up(self):
        """Docs/protocol.md, "Keeping up", step 1, by ``after_seq``."""
        again = True
        while again:
            after = self.timeline.begin_catch_up()
            while True:
                page = self.fetch(after)
                after = self.timeline.show_page(page["messages"])
                if not page["has_more"]:
                    break
            again = self.timeline.end_catch_up()

    def hear(self, frame):
        if frame.get("type") in STREAM_TYPES and self.timeline.receive(frame) == GAP:
            self.catch_up()

    def receive_until(self, done):
        """Receive, feeding the timeline, until ``done(frame)``; returns the
        frames received."""
        frames = self.client.receive_until(done)
        for frame in frames:
            self.hear(frame)
        return frames

    def send(self, **fields):
        self.client.send_frame(**fields)


def is_change(kind):
    return lambda frame: frame.get("type") == "change" and frame["change"] == kind


def is_message(text):
    return lambda frame: frame.get("type") == "message" and frame["message"] == text


def test_changes_reach_members_live_and_a_member_away_catches_up_to_the_same_state(
    split, split_env
):
    env = dict(os.environ, **split_env)
    label = unique_label("changes")
    names = [unique_label(n).replace("-", "_") for n in ("ann", "bob", "cat", "mal")]
    ann_key, bob_key, cat_key, mal_key = user_sessions(env, *names)
    ann = Member(split, label, ann_key)
    bob = Member(split, label, bob_key)
    cat = Member(split, label, cat_key)
    mallory = Member(split, label, mal_key)
    seed = ChatClient(split, label)

    ann.send(message="helo", nonce="first-try")
    ann.send(message="a secret", nonce="second")
    for member in (ann, bob, cat, mallory):
        member.receive_until(is_message("a secret"))
    first, second = (ann.timeline.messages[i] for i in ann.timeline.shown)
    assert first["nonce"] == "first-try"

    # cat goes away; the room goes on changing.
    cat.client.close()
    ann.send(type="edit", id=first["id"], message="hello")
    ann.receive_until(is_change("edit"))
    bob.send(type="react", id=first["id"], emoji="👍")
    ann.receive_until(is_change("react"))
    ann.send(type="delete", id=second["id"])
    ann.receive_until(is_change("delete"))
    ann.send(type="edit", id=first["id"], message="hello, everyone")
    ann.receive_until(is_change("edit"))
    # A resend whose answer was lost: answered to ann alone, stored once.
    ann.send(message="helo", nonce="first-try")
    repeated = ann.receive_until(lambda frame: frame.get("nonce") == "first-try")[-1]
    assert (repeated["id"], repeated["message"]) == (first["id"], "hello, everyone")
    ann.send(message="the end")

    # A stranger to these messages: refused, and nothing changes.
    mallory.receive_until(is_message("the end"))
    mallory.send(type="edit", id=first["id"], message="mallory was here")
    mallory.send(type="delete", id=first["id"])
    refusals = [
        mallory.client.receive_until(lambda frame: frame.get("type") == "error")[-1]["error"]
        for _ in range(2)
    ]
    assert refusals == ["NOT_YOURS", "NOT_YOURS"]

    # Live, every member saw every event in seq order.
    frames = bob.receive_until(is_message("the end"))
    stream = [f for f in frames if f.get("type") in STREAM_TYPES]
    assert [(f["type"], f.get("change")) for f in stream] == [
        ("change", "edit"),
        ("change", "react"),
        ("change", "delete"),
        ("change", "edit"),
        ("message", None),
    ]
    assert [f["seq"] for f in stream] == [3, 4, 5, 6, 7]
    ann.receive_until(is_message("the end"))

    # The seed-protocol client heard the messages and nothing else new.
    heard = seed.receive_until(lambda frame: frame.get("message") == "the end")
    assert [f["type"] for f in heard] == ["message", "message", "message"]

    # cat comes back, catches up, and ends where the others are.
    cat.connect()
    cat.catch_up()
    everything = Timeline(follow_changes=True)
    everything.begin_catch_up()
    page = requests.get(
        split.base_url + "/%s/messages" % label, params={"after_seq": 0}, timeout=30
    ).json()
    everything.show_page(page["messages"])
    everything.end_catch_up()

    def state(timeline):
        return {
            message_id: {k: v for k, v in message.items() if k != "nonce"}
            for message_id, message in timeline.messages.items()
        }

    assert state(cat.timeline) == state(bob.timeline) == state(ann.timeline)
    assert state(cat.timeline) == state(everything)
    assert cat.timeline.last_seq == bob.timeline.last_seq == 7
    final = state(everything)
    assert final[first["id"]]["message"] == "hello, everyone"
    assert final[first["id"]]["reactions"] == [{"emoji": "👍", "count": 1, "handles": [names[1]]}]
    assert final[second["id"]]["deleted"] is True
    assert "a secret" not in str(final)

    # PostgreSQL holds the same, and the secret is gone from it.
    rows = stored_messages(split_env["DATABASE_URL"], label, ("id", "seq", "version", "message"))
    assert rows == [
        (first["id"], 1, 6, "hello, everyone"),
        (second["id"], 2, 5, ""),
        (stream[-1]["id"], 7, 7, "the end"),
    ]
    for member in (ann, bob, cat, mallory):
        member.client.close()
    seed.close()


# Each process waits for a go-ahead file, so that they all start at once.
POST_CODE = """
import os, time
from chat import services
from chat.models import Room
room = Room.objects.get(label=%(label)r)
while not os.path.exists(%(go)r):
    time.sleep(0.005)
for n in range(%(count)d):
    services.post_message(room, %(handle)r, "%%s %%d" %% (%(handle)r, n))
"""

CHANGE_CODE = """
import os, time
from django.contrib.auth import get_user_model
from chat.conversations import changes
from chat.conversations.rules import Actor
from chat.models import Room
room = Room.objects.get(label=%(label)r)
author = Actor(user=get_user_model().objects.get(username=%(username)r))
while not os.path.exists(%(go)r):
    time.sleep(0.005)
for n in range(%(count)d):
    if n %% 2:
        changes.react(room, author, %(target)d, "👍", %(username)r)
    else:
        changes.edit(room, author, %(target)d, "edit %%d" %% n)
"""


def test_racing_messages_and_changes_share_one_gap_free_seq_broadcast_in_order(
    split, split_env, tmp_path
):
    env = dict(os.environ, **split_env)
    label = unique_label("race-changes")
    username = unique_label("ann").replace("-", "_")
    (session_key,) = user_sessions(env, username)
    listener = Member(split, label, session_key)
    listener.send(message="the target")
    target = listener.client.receive_until(is_message("the target"))[-1]

    go = tmp_path / "go"
    count = 20
    codes = [
        POST_CODE % {"label": label, "go": str(go), "count": count, "handle": "poster-%d" % n}
        for n in range(2)
    ]
    codes.append(
        CHANGE_CODE
        % {
            "label": label,
            "go": str(go),
            "count": count,
            "username": username,
            "target": target["id"],
        }
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "manage.py", "shell", "-c", code], cwd=PROJECT_DIR, env=env
        )
        for code in codes
    ]
    go.touch()
    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0]

    total = 1 + 3 * count
    frames = listener.client.receive_until(
        lambda frame: frame.get("type") in STREAM_TYPES and frame["seq"] == total
    )
    stream = [f for f in frames if f.get("type") in STREAM_TYPES]
    assert [f["seq"] for f in stream] == list(range(2, total + 1))
    assert sum(f["type"] == "change" for f in stream) == count
    # The target's last change is its version; every message's seq is its own.
    rows = stored_messages(split_env["DATABASE_URL"], label, ("id", "seq", "version"))
    last_change = [f for f in stream if f["type"] == "change"][-1]
    assert (target["id"], 1, last_change["seq"]) in rows
    assert sorted(seq for _, seq, _ in rows) == [1] + [
        f["seq"] for f in stream if f["type"] == "message"
    ]
    listener.client.close()


ROUND_TRIPS_CODE = """
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from chat import services
from chat.conversations.rules import Actor
room = services.open_room(%(label)r)
author = Actor(user=get_user_model().objects.create(username=%(username)r))
services.post_message(room, "ann", "warms the webhook URL's cache")
counts = []
for kwargs in ({}, {"author": author, "nonce": "n-1"}, {"author": author, "nonce": "n-1"}):
    with CaptureQueriesContext(connection) as captured:
        services.post_message(room, "ann", "hello", **kwargs)
    counts.append(len(captured))
print(counts)
"""


def test_a_message_costs_postgresql_one_round_trip_with_a_nonce_or_without(split, split_env):
    env = dict(os.environ, **split_env)
    code = ROUND_TRIPS_CODE % {
        "label": unique_label("round-trips"),
        "username": unique_label("ann").replace("-", "_"),
    }
    output = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    # One statement numbers and stores it (the layer keeps the broadcasts
    # in seq order, so no lock spans them); a repeated nonce reads its
    # message back (the message with its upload, and its reactions).
    assert output.split()[-3:] == ["[1,", "1,", "3]"]
