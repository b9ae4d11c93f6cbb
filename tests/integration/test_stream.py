"""The ``/stream/`` socket on the real split: live counts of a user's rooms
reach them wherever they are, never leak a private room, and are
coalesced."""

import os

import pytest
import websocket

from bench.chat_client import (
    ChatClient,
    StreamClient,
    guest_sessions,
    unique_label,
    user_sessions,
)
from bench.split import manage

pytestmark = pytest.mark.integration


def username(stem):
    return unique_label(stem).replace("-", "_")


def read_room(split, label, session_key, poster):
    """Have the user of ``session_key`` open ``label``, receive a message
    ``poster`` (a ChatClient in the room) sends, and mark it read; returns
    once the mark is stored (the read frame's write is immediate for a
    socket's first mark; the disconnect writes it otherwise)."""
    reader = ChatClient(split, label, session_key=session_key)
    poster.send("poster", "hello %s" % label)
    frames = reader.receive_until(lambda frame: frame.get("message") == "hello %s" % label)
    reader.send_frame(type="read", seq=frames[-1]["seq"])
    reader.close()


def test_a_message_in_room_a_reaches_the_stream_as_a_count_while_the_user_is_in_room_b(
    split, split_env
):
    env = dict(os.environ, **split_env)
    room_a, room_b = unique_label("alpha"), unique_label("beta")
    uma = username("uma")
    (key,) = user_sessions(env, uma)
    poster_a = ChatClient(split, room_a)
    read_room(split, room_a, key, poster_a)

    stream = StreamClient(split, session_key=key)
    snapshot = stream.rooms_until(lambda payload: payload["label"] == room_a)
    assert snapshot[-1]["unread"] == 0
    in_b = ChatClient(split, room_b, session_key=key)

    poster_a.send("poster", "are you there?")
    payloads = stream.rooms_until(
        lambda payload: payload["label"] == room_a and payload["unread"] == 1
    )
    assert payloads[-1]["last_activity"].endswith("Z")
    assert payloads[-1]["mentions"] == 0

    # A mention counts as one, in the same payload.
    poster_a.send("poster", "@%s can you look?" % uma)
    stream.rooms_until(
        lambda payload: (
            payload["label"] == room_a and payload["unread"] == 2 and payload["mentions"] == 1
        )
    )
    for client in (stream, in_b, poster_a):
        client.close()


def test_reading_a_room_on_one_socket_clears_its_count_on_the_stream(split, split_env):
    env = dict(os.environ, **split_env)
    label = unique_label("clear")
    (key,) = user_sessions(env, username("cleo"))
    poster = ChatClient(split, label)
    read_room(split, label, key, poster)
    stream = StreamClient(split, session_key=key)
    poster.send("poster", "one more")
    stream.rooms_until(lambda payload: payload["label"] == label and payload["unread"] == 1)

    read_room(split, label, key, poster)
    stream.rooms_until(lambda payload: payload["label"] == label and payload["unread"] == 0)
    stream.close()
    poster.close()


def test_a_private_rooms_counts_never_reach_a_non_members_stream(split, split_env):
    env = dict(os.environ, **split_env)
    private, public = unique_label("secret"), unique_label("open")
    owner, outsider = username("olga"), username("otto")
    owner_key, outsider_key = user_sessions(env, owner, outsider)
    manage(env, "chatroom", "create", private, "--private", "--owners", owner)
    # The outsider even has a read mark there, as a removed member keeps:
    # the room's followers include them, and only the access rule stops it.
    manage(
        env,
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "from chat.models import ReadMark, Room\n"
        "ReadMark.objects.create(room=Room.objects.get(label=%r), "
        "user=get_user_model().objects.get(username=%r), seq=0)" % (private, outsider),
    )
    public_poster = ChatClient(split, public)
    read_room(split, public, outsider_key, public_poster)

    owners_stream = StreamClient(split, session_key=owner_key)
    outsiders_stream = StreamClient(split, session_key=outsider_key)
    inside = ChatClient(split, private, session_key=owner_key)
    inside.send_frame(message="the plans")
    owners_stream.rooms_until(lambda payload: payload["label"] == private and payload["unread"])

    # Then a message the outsider may see: everything before it was sent.
    public_poster.send("poster", "news for all")
    seen = outsiders_stream.rooms_until(
        lambda payload: payload["label"] == public and payload["unread"] == 1
    )
    assert private not in {payload["label"] for payload in seen}
    for client in (owners_stream, outsiders_stream, inside, public_poster):
        client.close()


def test_strangers_and_guests_are_refused_the_stream_with_403(split, split_env):
    env = dict(os.environ, **split_env)
    (guest_key,) = guest_sessions(env, unique_label("gus"))
    for session_key in (None, guest_key, "not-a-session"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            StreamClient(split, timeout=10, session_key=session_key)
        assert refused.value.status_code == 403


def test_a_cross_site_stream_is_refused_with_403(split, split_env):
    env = dict(os.environ, **split_env)
    (key,) = user_sessions(env, username("xavier"))
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        StreamClient(split, timeout=10, session_key=key, origin="https://evil.example")
    assert refused.value.status_code == 403


def test_a_burst_of_messages_gives_few_frames_and_the_last_carries_the_final_count(
    split, split_env
):
    env = dict(os.environ, **split_env)
    label = unique_label("burst")
    (key,) = user_sessions(env, username("bea"))
    poster = ChatClient(split, label)
    read_room(split, label, key, poster)
    stream = StreamClient(split, session_key=key)
    stream.rooms_until(lambda payload: payload["label"] == label)

    # Six sockets of ten messages each: a socket's rate limit allows a
    # burst of ten (CHAT_RATE_LIMIT_BURST).
    posters = [ChatClient(split, label) for _ in range(6)]
    burst = 10 * len(posters)
    for number in range(burst):
        posters[number % len(posters)].send("poster", "burst %d" % number)
    # Every message stored before counting: each poster hears all of them
    # (several workers store them, so "burst 59" need not come last), and
    # none closes its socket before its own are stored.
    for each in posters:
        heard = set()

        def all_heard(frame, heard=heard):
            if str(frame.get("message", "")).startswith("burst "):
                heard.add(frame["message"])
            return len(heard) == burst

        each.receive_until(all_heard)
    for each in posters:
        each.close()
    payloads = stream.rooms_until(
        lambda payload: payload["label"] == label and payload["unread"] == burst
    )
    counts = [payload["unread"] for payload in payloads if payload["label"] == label]
    # One flush a second at most: 60 messages spread over a few seconds at
    # most, far fewer frames than messages, and the last one is exact.
    assert len(counts) < burst / 4, counts
    assert counts == sorted(counts)
    assert counts[-1] == burst
    stream.close()
    poster.close()


def test_the_seed_protocol_is_unaffected_by_stream_sockets(split, split_env):
    env = dict(os.environ, **split_env)
    label = unique_label("seed")
    (key,) = user_sessions(env, username("sid"))
    stream = StreamClient(split, session_key=key)
    seed = ChatClient(split, label)
    seed.send("seedy", "plain old frame")
    frames = seed.receive_until(lambda frame: frame.get("message") == "plain old frame")
    assert frames[-1]["handle"] == "seedy"
    assert all("stream" not in frame for frame in frames)
    stream.close()
    seed.close()
