"""Group names and channel sessions on the real split: Daphne and two
runworker processes against Redis and PostgreSQL, with real WebSocket
clients. Rooms whose labels are neighbours share nothing, and a socket
joined by an older release (a pickled session, or one without the current
format) is closed with 1012 at its next frame (docs/operations.md,
"Deploying a new Group naming")."""

import json
import os
import pickle
import re
import time

import pytest
import redis
import requests
import websocket

from bench.chat_client import ChatClient, guest_sessions, unique_label
from bench.split import manage
from chat.consumers import FORMAT_KEY

pytestmark = pytest.mark.integration

# How long the rooms are left to talk over one another before every frame
# received is checked, in seconds: well past the one-second presence window.
QUIET_S = 3.0


@pytest.fixture
def sessions(split_env):
    """A function making guest sessions by name in the split's database."""
    env = dict(os.environ, **split_env)
    return lambda *names: guest_sessions(env, *names)


def drain(client, timeout=0.2):
    """Every frame ``client`` has been sent so far (list of dict)."""
    frames = []
    while True:
        try:
            frames.append(client.receive(timeout=timeout))
        except TimeoutError:
            return frames


def test_rooms_whose_labels_are_neighbours_hear_nothing_of_one_another(split, sessions):
    base = unique_label("names")
    labels = [base, base + "-presence", base + "_presence", base + "-presence-presence"]
    names = ["g%d" % n for n in range(len(labels))]
    keys = sessions(*names)
    rooms = []
    for label, name, key in zip(labels, names, keys, strict=True):
        guest = ChatClient(split, label, session_key=key)
        anonymous = ChatClient(split, label)
        # An anonymous socket that pings takes presence and typing frames:
        # the overhearing of issue 15 began with one ping.
        anonymous.send_frame(type="ping")
        anonymous.receive_until(lambda frame: frame.get("type") == "pong")
        guest.wait_for_roster({name}, 1)
        rooms.append((label, name, guest, anonymous))

    for label, name, guest, anonymous in rooms:
        guest.send_frame(type="typing")
        guest.send_frame(message="from %s" % name)
        anonymous.send(name + "-anon", "anonymous in %s" % label)
        anonymous.send_frame(type="ping")
    time.sleep(QUIET_S)

    for label, name, guest, anonymous in rooms:
        own_handles = {name, name + "-anon"}
        own_texts = {"from %s" % name, "anonymous in %s" % label}
        for client in (guest, anonymous):
            frames = drain(client)
            texts = {f["message"] for f in frames if f.get("type") == "message"}
            assert texts == own_texts, (label, frames)
            for frame in frames:
                if "handle" in frame:
                    assert frame["handle"] in own_handles, (label, frame)
                if "members" in frame:
                    assert set(frame["members"]) <= {name}, (label, frame)
                if frame.get("type") == "presence":
                    assert frame["anonymous"] <= 1, (label, frame)
    for _, _, guest, anonymous in rooms:
        guest.close()
        anonymous.close()


@pytest.mark.parametrize("label", ["names.presence", "names%0A", "chat.names"])
def test_a_label_that_would_reach_into_a_group_name_is_refused(split, label):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ChatClient(split, label)
    assert refused.value.status_code == 403
    assert requests.get(split.base_url + "/%s/" % label, timeout=10).status_code == 404


class Planted:
    """A pickle that, unpickled, creates the directory at ``path``."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def close_code(client, timeout=10):
    """The code (int) of the close frame ``client`` receives next, skipping
    text frames, within ``timeout`` seconds in all."""
    deadline = time.monotonic() + timeout
    while True:
        kind, value = client.receive_frame(timeout=max(0.1, deadline - time.monotonic()))
        if kind == "close":
            return value


def session_keys(client, prefix):
    """The Redis keys (set of bytes) of every channel session of the split."""
    return set(client.scan_iter(match=prefix + "session:*", count=1000))


def connect_and_find_session(split, client, prefix, label, key=None):
    """A ChatClient in ``label`` (with the guest session ``key``, if any),
    and the Redis key of its channel session."""
    before = session_keys(client, prefix)
    socket = ChatClient(split, label, session_key=key)
    if key is not None:
        socket.receive_until(lambda frame: frame.get("type") == "presence")
    deadline = time.monotonic() + 10
    while not (new := session_keys(client, prefix) - before):
        assert time.monotonic() < deadline, "no channel session appeared"
        time.sleep(0.05)
    (session_key,) = new
    return socket, session_key


def test_sockets_joined_by_an_older_release_are_closed_with_1012_and_a_pickle_is_never_run(
    split, split_env, redis_url, sessions, tmp_path
):
    prefix = split_env["CHANNEL_LAYER_PREFIX"]
    client = redis.StrictRedis.from_url(redis_url)
    label = unique_label("deploy")
    (watcher_key,) = sessions("watcher")
    watcher = ChatClient(split, label, session_key=watcher_key)
    watcher.wait_for_roster({"watcher"}, 0)

    pickled, pickled_key = connect_and_find_session(split, client, prefix, label)
    # A session as a release before 2026-12-04 wrote it: a pickle, here
    # one that would create a directory when unpickled.
    target = tmp_path / "unpickled"
    ttl = client.ttl(pickled_key)
    client.set(pickled_key, pickle.dumps(Planted(str(target))), ex=ttl)

    old, old_key = connect_and_find_session(split, client, prefix, label)
    # ...and one readable but without the current format marker.
    data = json.loads(client.get(old_key))
    del data[FORMAT_KEY]
    client.set(old_key, json.dumps(data), ex=client.ttl(old_key))
    watcher.wait_for_roster({"watcher"}, 2)

    for stale in (pickled, old):
        stale.send_frame(type="ping")
        assert close_code(stale) == 1012
    # A socket joined now is not closed.
    fresh = ChatClient(split, label)
    fresh.send("ann", "hello")
    assert fresh.receive()["message"] == "hello"

    assert not target.exists()
    # Both left presence on their way out: only the fresh socket stays.
    watcher.wait_for_roster({"watcher"}, 1)
    for socket in (watcher, fresh):
        socket.close()


def test_chatreconnect_closes_a_listening_seed_client_with_1012(split, split_env):
    label = unique_label("listening")
    listener = ChatClient(split, label)  # the seed protocol: sends nothing
    listener.send("ann", "hello")
    assert listener.receive()["message"] == "hello"

    stdout = manage(split_env, "chatreconnect")
    # Every Daphne whose heartbeat is under the prefix: the session's split
    # has one, and Daphnes of other tests on the same prefix may linger.
    asked = re.search(r"Asked (\d+) Daphne", stdout)
    assert asked and int(asked.group(1)) >= 1, stdout
    # Within the heartbeat's 5 s, and the close.
    assert close_code(listener) == 1012
    # And the reconnect hears the room again.
    again = ChatClient(split, label)
    again.send("ann", "back")
    assert again.receive()["message"] == "back"
    again.close()
