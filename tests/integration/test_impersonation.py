"""Nobody speaks as a registered user, on the real split: a cookieless
socket is refused a registered username however it is written, stores
nothing and reaches nobody, and a seed-protocol client under a name of its
own goes on working, its messages marked ``guest``."""

import json
import urllib.request
import uuid

import pytest

from bench.chat_client import ChatClient, stored_messages, unique_label
from bench.split import manage

pytestmark = pytest.mark.integration


def register(split_env, username):
    """Make the account ``username`` (str) in the split's database, as
    sign-up or the admin would, if it does not exist yet."""
    code = (
        "from django.contrib.auth.models import User\n"
        "User.objects.filter(username=%r).exists() or User.objects.create_user(%r)\n"
    ) % (username, username)
    manage(split_env, "shell", "-c", code)


def test_a_cookieless_socket_cannot_speak_as_a_registered_user_however_it_writes_the_name(
    split, split_env
):
    # An ann of this test's own: other tests of the session use guests
    # named ann, which a registered ann would turn away.
    ann = "ann" + uuid.uuid4().hex[:6]
    register(split_env, ann)
    fullwidth = "".join(chr(ord(char) + 0xFEE0) for char in ann)
    label = unique_label("impostor")
    listener = ChatClient(split, label)
    stranger = ChatClient(split, label)

    refusals = []
    for handle in [ann, ann.upper(), fullwidth, ann + "\u200b"]:
        stranger.send(handle, "it is me, ann")
        frame = stranger.receive()
        refusals.append((frame["type"], frame["error"]))
    # The zero-width space is refused for itself, before any comparison:
    # a handle may hold no format character at all.
    assert refusals == [
        ("error", "HANDLE_TAKEN"),
        ("error", "HANDLE_TAKEN"),
        ("error", "HANDLE_TAKEN"),
        ("error", "INVALID_FIELD"),
    ]

    # The socket stayed open: the same seed client, under a name of its own,
    # is heard by everyone, and its message is marked as a guest's.
    stranger.send("visitor", "hello, I am not ann")
    echoed = stranger.receive()
    heard = listener.receive()
    assert heard == echoed
    assert (heard["handle"], heard["message"], heard["guest"]) == (
        "visitor",
        "hello, I am not ann",
        True,
    )
    # Nothing of the impostor's was stored: the room holds the one message.
    rows = stored_messages(
        split_env["DATABASE_URL"], label, columns=("id", "handle", "message", "guest")
    )
    assert rows == [(heard["id"], "visitor", "hello, I am not ann", True)]
    with urllib.request.urlopen("%s/%s/messages" % (split.base_url, label)) as response:
        caught_up = json.load(response)["messages"]
    assert caught_up == [heard]
    listener.close()
    stranger.close()
