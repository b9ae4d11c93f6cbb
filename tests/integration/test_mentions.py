"""Mentions on the real split (Daphne, two runworkers, Redis and
PostgreSQL): a mention reaches the mentioned user's socket in the message
frame, is stored with the message by the same statement, follows edits and
deletes, counts beside the room on ``/``, and never reaches anyone outside
a private room (docs/mentions.md)."""

import os
import re

import psycopg2
import pytest
import requests

from bench.chat_client import ChatClient, guest_sessions, unique_label, user_sessions
from bench.split import manage

pytestmark = pytest.mark.integration


def is_message(frame):
    return frame.get("type") == "message"


def mentions_of(database_url, label):
    """The room's ``chat_mention`` rows as ``[(username, message text), …]``, sorted."""
    with psycopg2.connect(database_url) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT u.username, m.message FROM chat_mention x "
            "JOIN auth_user u ON u.id = x.user_id JOIN chat_message m ON m.id = x.message_id "
            "JOIN chat_room r ON r.id = x.room_id WHERE r.label = %s ORDER BY 1, 2",
            [label],
        )
        rows = cursor.fetchall()
    connection.close()
    return rows


def room_list_mentions(split, session_key):
    """``{label: mentions}`` as the room list ``/`` shows a session."""
    cookies = {"sessionid": session_key} if session_key else {}
    page = requests.get(split.base_url + "/", cookies=cookies, timeout=30)
    page.raise_for_status()
    found = {}
    for item in re.findall(r'<li class="room" data-label="([^"]+)">(.*?)</li>', page.text, re.S):
        label, body = item
        count = re.search(r'data-mentions="(\d+)"', body)
        found[label] = int(count.group(1)) if count else 0
    return found


@pytest.fixture
def people(split_env):
    """Three accounts with unique names, signed in: ``{name: session key}``."""
    env = dict(os.environ, **split_env)
    names = [unique_label(stem).replace("-", "_") for stem in ("ann", "bob", "carol")]
    return env, dict(zip(names, user_sessions(env, *names), strict=True))


def test_a_mention_reaches_the_mentioned_user_follows_edits_and_counts_on_the_room_list(
    split, split_env, people
):
    env, sessions = people
    ann, bob, carol = sessions
    label = unique_label("lobby")
    sockets = {name: ChatClient(split, label, session_key=key) for name, key in sessions.items()}
    sockets[ann].send_frame(
        message="@%s and @%s: look, not %s@example.com" % (bob.upper(), carol, bob)
    )
    frame = sockets[bob].receive_until(is_message)[-1]
    assert frame["mentions"] == [bob, carol]
    assert "mentions_here" not in frame
    stored = mentions_of(split_env["DATABASE_URL"], label)
    assert [name for name, _ in stored] == sorted([bob, carol])

    # An edit re-reads them: carol's is removed, none is added for bob
    # again; the change frame carries the new list.
    sockets[ann].send_frame(type="edit", id=frame["id"], message="@%s only" % bob)
    change = sockets[carol].receive_until(lambda f: f.get("type") == "change")[-1]
    assert change["object"]["mentions"] == [bob]
    assert [name for name, _ in mentions_of(split_env["DATABASE_URL"], label)] == [bob]

    # bob sees one mention beside the room until he reads past it.
    assert room_list_mentions(split, sessions[bob])[label] == 1
    assert room_list_mentions(split, sessions[carol])[label] == 0
    sockets[bob].send_frame(type="read", seq=change["seq"])
    sockets[bob].close()  # the disconnect writes the pending read mark
    for _ in range(50):
        if room_list_mentions(split, sessions[bob])[label] == 0:
            break
    assert room_list_mentions(split, sessions[bob])[label] == 0

    # @here reaches the users present, never the author.
    sockets[carol].send_frame(message="@here standup")
    frame = sockets[ann].receive_until(lambda f: is_message(f) and "standup" in f["message"])[-1]
    assert frame["mentions_here"] is True
    here = [
        name for name, text in mentions_of(split_env["DATABASE_URL"], label) if "standup" in text
    ]
    assert here == [ann]

    # A delete drops the message's mentions.
    sockets[carol].send_frame(type="delete", id=frame["id"])
    sockets[ann].receive_until(lambda f: f.get("type") == "change" and f["change"] == "delete")
    assert all("standup" not in text for _, text in mentions_of(split_env["DATABASE_URL"], label))
    for name in (ann, carol):
        sockets[name].close()


def test_a_mention_in_a_private_room_never_reaches_a_non_member(split, split_env, people):
    env, sessions = people
    ann, bob, carol = sessions
    label = unique_label("attic")
    lobby = unique_label("lobby")
    manage(env, "chatroom", "create", label, "--private", "--members", bob, "--owners", ann)
    (guest_key,) = guest_sessions(env, unique_label("gwen"))
    # carol, a user who is no member, waits in a public room; a guest and a
    # stranger too.
    outside = [
        ChatClient(split, lobby, session_key=key) for key in (sessions[carol], guest_key, None)
    ]
    for client in outside:
        client.send_frame(type="ping")
        client.receive_until(lambda f: f.get("type") == "pong")
    members = {name: ChatClient(split, label, session_key=sessions[name]) for name in (ann, bob)}
    members[ann].send_frame(message="@%s @%s @here secret plans" % (bob, carol))
    frame = members[bob].receive_until(is_message)[-1]
    # carol is named in the text, but is no member: not mentioned.
    assert frame["mentions"] == [bob]
    assert frame["mentions_here"] is True
    stored = mentions_of(split_env["DATABASE_URL"], label)
    assert [name for name, _ in stored] == [bob]

    # Nothing of it reaches anyone outside: a message in the public room
    # sent after it is the first frame of the stream they receive.
    members[ann].send_frame(message="done")
    members[bob].receive_until(lambda f: is_message(f) and f["message"] == "done")
    outside[0].send_frame(message="after")
    for client in outside:
        heard = client.receive_until(lambda f: is_message(f) and f["message"] == "after")
        assert not any("secret" in str(f) for f in heard)
        client.close()
    # ...nor the room list: no count of the private room for carol, a guest
    # or a stranger, and one for bob.
    assert label not in room_list_mentions(split, sessions[carol])
    assert label not in room_list_mentions(split, guest_key)
    assert label not in room_list_mentions(split, None)
    assert room_list_mentions(split, sessions[bob])[label] == 1
    for client in members.values():
        client.close()
