"""Losing a room closes its sockets, on the real split: a user who signs out
over HTTP, or is deactivated, has the sockets that access admitted closed
with 4003 within 5 s, and nothing else of theirs."""

import threading
import time
import uuid

import pytest
import requests
import websocket

from bench.chat_client import ChatClient, unique_label
from bench.split import manage

pytestmark = pytest.mark.integration

PASSWORD = "a long enough password 42"


def run_in_the_project(split_env, code):
    """Run ``code`` (str) with ``manage.py shell`` against the split's
    database and layer; returns its stdout (str)."""
    return manage(split_env, "shell", "-c", code)


def make_user_and_private_room(split_env, stem, members=()):
    """A new user (their username, str, with ``PASSWORD``) and a new room
    (its label, str): a private room they own, with ``members`` (usernames
    of users that exist) as members too."""
    username, label = "%s-%s" % (stem, uuid.uuid4().hex[:6]), unique_label(stem)
    run_in_the_project(
        split_env,
        "from django.contrib.auth.models import User\n"
        "from chat import services\n"
        "user = User.objects.create_user(%r, password=%r)\n"
        "room = services.create_private_room(%r, user)\n"
        "for member in %r:\n"
        "    services.add_member(room, member)\n" % (username, PASSWORD, label, list(members)),
    )
    return username, label


class Browser:
    """One browser signed in over HTTP: its own session, from the login
    form with its CSRF token, as a person would."""

    def __init__(self, split, username):
        self.split = split
        self.http = requests.Session()
        form = self.http.get(split.base_url + "/accounts/login/", timeout=30)
        assert form.status_code == 200
        answer = self.http.post(
            split.base_url + "/accounts/login/",
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": self.http.cookies["csrftoken"],
            },
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302, answer.text
        self.session_key = self.http.cookies["sessionid"]

    def open_socket(self, label):
        """A socket into ``label`` with this browser's cookie, its roster
        (the first frame a signed-in socket gets) received."""
        client = ChatClient(self.split, label, session_key=self.session_key)
        assert client.receive()["type"] == "presence"
        return client

    def sign_out(self):
        answer = self.http.post(
            self.split.base_url + "/accounts/logout/",
            headers={"X-CSRFToken": self.http.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302


def until_closed(client, timeout=10):
    """The frames ``client`` receives until its close: a list of
    ``("text", dict)`` and, last, ``("close", code)``."""
    frames = []
    deadline = time.monotonic() + timeout
    while True:
        frames.append(client.receive_frame(timeout=deadline - time.monotonic()))
        if frames[-1][0] == "close":
            return frames


def still_speaks(client, handle):
    """Whether ``client`` can still post, and hears its own message back."""
    client.send(handle, "still here")
    frames = client.receive_until(lambda frame: frame.get("message") == "still here", 15)
    return frames[-1]["handle"] == handle


def test_signing_out_closes_that_sessions_socket_within_5_s_and_not_the_other_sessions(
    split, split_env
):
    username, label = make_user_and_private_room(split_env, "ann")
    phone, laptop = Browser(split, username), Browser(split, username)
    assert phone.session_key != laptop.session_key
    phone_socket, laptop_socket = phone.open_socket(label), laptop.open_socket(label)

    started = time.monotonic()
    phone.sign_out()
    frames = until_closed(phone_socket)
    elapsed = time.monotonic() - started

    assert frames[-1] == ("close", 4003)
    assert ("text", "ROOM_ACCESS_DENIED") in [
        (kind, frame.get("error")) for kind, frame in frames[:-1]
    ]
    assert elapsed < 5, elapsed
    assert still_speaks(laptop_socket, username)
    # The signed-out cookie opens no way back in: the room is private.
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ChatClient(split, label, session_key=phone.session_key)
    assert refused.value.status_code == 403
    laptop_socket.close()


def test_deactivating_a_user_closes_their_socket_within_5_s(split, split_env):
    bystander_name, _ = make_user_and_private_room(split_env, "eve")
    username, label = make_user_and_private_room(split_env, "dee", members=[bystander_name])
    socket = Browser(split, username).open_socket(label)
    bystander = Browser(split, bystander_name).open_socket(label)

    # The deactivation runs in its own process, as an operator's would;
    # it prints the moment of its save, and the close is timed from there.
    saved_at = []
    operator = threading.Thread(
        target=lambda: saved_at.append(
            float(
                run_in_the_project(
                    split_env,
                    "import time\n"
                    "from django.contrib.auth.models import User\n"
                    "user = User.objects.get(username=%r)\n"
                    "user.is_active = False\n"
                    "user.save()\n"
                    "print(time.time())\n" % username,
                )
            )
        )
    )
    operator.start()
    frames = until_closed(socket, timeout=60)
    closed_at = time.time()
    operator.join()

    assert frames[-1] == ("close", 4003)
    assert closed_at - saved_at[0] < 5, closed_at - saved_at[0]
    assert still_speaks(bystander, bystander_name)
    bystander.close()
