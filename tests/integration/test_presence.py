"""Presence, typing and identity on the real split: Daphne and two
runworker processes against Redis and PostgreSQL, with real WebSocket
clients (docs/protocol.md, "Identity" and "Presence")."""

import os
import signal
import time

import pytest

from bench.chat_client import ChatClient, guest_sessions, unique_label
from bench.split import Split

pytestmark = pytest.mark.integration


def is_message(frame):
    return frame.get("type") == "message"


@pytest.fixture
def sessions(split_env):
    """A function making guest sessions by name in the split's database."""
    env = dict(os.environ, **split_env)
    return lambda *names: guest_sessions(env, *names)


def test_three_clients_see_each_other_come_and_go_and_a_seed_client_is_unchanged(split, sessions):
    label = unique_label("presence")
    ann_key, bob_key = sessions("ann", "bob")
    seed = ChatClient(split, label)  # no cookie, no type: the seed protocol
    ann = ChatClient(split, label, session_key=ann_key)
    ann.wait_for_roster({"ann"}, 1)
    bob = ChatClient(split, label, session_key=bob_key)
    bob.wait_for_roster({"ann", "bob"}, 1)
    ann.wait_for_roster({"ann", "bob"}, 1)

    # A socket without a session takes presence once it pings.
    watcher = ChatClient(split, label)
    watcher.send_frame(type="ping")
    frames = watcher.receive_until(lambda frame: frame.get("type") == "pong")
    assert frames[0]["type"] == "presence"
    assert (watcher.roster.members, watcher.roster.anonymous) == ({"ann", "bob"}, 2)
    ann.wait_for_roster({"ann", "bob"}, 2)

    bob.close()
    ann.wait_for_roster({"ann"}, 2)
    watcher.wait_for_roster({"ann"}, 2)

    # The seed client sends and receives as it always did, and has heard
    # nothing but messages.
    seed.send("carl", "still here")
    assert ann.receive_until(is_message)[-1]["handle"] == "carl"
    frame = seed.receive()
    assert (frame["type"], frame["handle"], frame["message"]) == ("message", "carl", "still here")
    # Every key it knew, plus only the dated additions: `guest` (2026-12-04,
    # it is no member) and `html` (2026-12-05, the text formatted).
    assert set(frame) == {"type", "id", "seq", "timestamp", "handle", "message", "guest", "html"}
    assert frame["html"] == "<p>still here</p>"
    assert frame["guest"] is True
    # A message that mentions anyone carries who (2026-12-05, additions
    # like `html`): the seed client gets them as every socket does.
    seed.send("carl", "@here still here?")
    frame = seed.receive()
    assert set(frame) == {
        "type",
        "id",
        "seq",
        "timestamp",
        "handle",
        "message",
        "guest",
        "html",
        "mentions_here",
    }
    assert frame["mentions_here"] is True

    # A guest's handle is their name, whatever the frame says.
    ann.send_frame(handle="mallory", message="hello")
    assert seed.receive()["handle"] == "ann"
    for client in (seed, ann, watcher):
        client.close()


def test_typing_is_relayed_once_per_two_seconds_and_stores_nothing(split, split_env, sessions):
    label = unique_label("typing")
    ann_key, bob_key = sessions("ann", "bob")
    ann = ChatClient(split, label, session_key=ann_key)
    bob = ChatClient(split, label, session_key=bob_key)
    bob.wait_for_roster({"ann", "bob"}, 0)
    for _ in range(5):
        ann.send_frame(type="typing")
    ann.send_frame(message="done typing")
    frames = bob.receive_until(is_message)
    typing = [frame for frame in frames if frame.get("type") == "typing"]
    assert typing == [{"type": "typing", "handle": "ann"}]
    assert frames[-1]["message"] == "done typing"
    ann.close()
    bob.close()


def test_members_on_a_daphne_killed_with_sigkill_leave_every_roster_within_a_minute(
    split, split_env, sessions
):
    label = unique_label("daphne-death")
    ann_key, vic_key = sessions("ann", "vic")
    second = Split(split_env)
    try:
        second.start_web()
        second.wait_ready()
        ann = ChatClient(split, label, session_key=ann_key)
        victims = [ChatClient(second, label, session_key=vic_key), ChatClient(second, label)]
        victims[1].send_frame(type="ping")
        ann.wait_for_roster({"ann", "vic"}, 1)

        killed_at = time.monotonic()
        second.kill(second.web, signal.SIGKILL)
        ann.wait_for_roster({"ann"}, 0, timeout=60)
        assert time.monotonic() - killed_at < 60
        # Nothing else is lost: the survivor still chats.
        ann.send_frame(message="anyone left?")
        assert ann.receive_until(is_message)[-1]["message"] == "anyone left?"
        ann.close()
    finally:
        second.stop()
