"""New rooms per client address, on the real split: the page answers 429
and the handshake is refused once an address has created its share, while
rooms that exist stay open to it."""

import urllib.error
import urllib.request
import uuid

import pytest
import websocket

from bench.chat_client import ChatClient, unique_label
from bench.split import running

pytestmark = pytest.mark.integration


@pytest.fixture
def strict_split(split_env):
    """A split of the test's own that lets an address create 2 rooms an
    hour (the shared split lifts the limit, as every test connects from
    127.0.0.1)."""
    env = dict(
        split_env,
        CHAT_ROOMS_PER_HOUR="2",
        CHANNEL_LAYER_PREFIX="asgi-rooms-%s:" % uuid.uuid4().hex[:6],
    )
    with running(env, workers=1) as split:
        yield split


def status_of(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def test_an_address_over_its_share_of_new_rooms_gets_429_pages_and_refused_handshakes(
    strict_split,
):
    first, second, third, fourth = (unique_label("limit") for _ in range(4))
    assert status_of(strict_split.base_url + "/%s/" % first)[0] == 200
    ChatClient(strict_split, second).close()  # a handshake creates one too

    status, headers = status_of(strict_split.base_url + "/%s/" % third)
    assert status == 429
    assert int(headers["Retry-After"]) > 0
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        ChatClient(strict_split, fourth)
    assert refused.value.status_code == 403

    # The rooms it made still open, page and socket.
    assert status_of(strict_split.base_url + "/%s/" % first)[0] == 200
    member = ChatClient(strict_split, second)
    member.send("ann", "still here")
    assert member.receive()["message"] == "still here"
    member.close()
