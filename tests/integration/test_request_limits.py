"""Bodies and messages over their limits, refused by Daphne on the real split
before they are held whole: Daphne's resident memory and Redis's
``used_memory`` are sampled throughout each request, and neither may grow
by more than a few MB."""

import json
import select
import socket
import threading
import time

import psutil
import pytest
import redis
import websocket

from bench.chat_client import ChatClient, unique_label
from chat import conf

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
# What a refused request may add to Daphne's or Redis's memory, in bytes:
# a few MB of noise (other tests' keys, the allocator), far below the
# 30 MiB the request carries.
GROWTH_BOUND = 8 * MIB


class MemorySampler:
    """Samples the Daphne process's RSS and Redis's ``used_memory`` every
    10 ms in a thread, between ``with``'s start and end; ``growth()`` is
    the largest rise of each over its value at the start, in bytes."""

    def __init__(self, split, split_env):
        self.daphne = psutil.Process(split.web.pid)
        self.redis = redis.StrictRedis.from_url(split_env["REDIS_URL"])
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _read(self):
        return self.daphne.memory_info().rss, self.redis.info("memory")["used_memory"]

    def _sample(self):
        while not self.stop.is_set():
            rss, used = self._read()
            self.peak = (max(self.peak[0], rss), max(self.peak[1], used))
            time.sleep(0.01)

    def __enter__(self):
        self.start = self.peak = self._read()
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        # A last look after the request, for what the layer held on to.
        time.sleep(0.5)
        self.stop.set()
        self.thread.join()

    def growth(self):
        """``(daphne_rss, redis_used_memory)`` growth, in bytes (int)."""
        return self.peak[0] - self.start[0], self.peak[1] - self.start[1]


def stream_post(split, path, size, chunked=False, piece=64 * 1024, timeout=30):
    """POST ``size`` bytes to ``path`` on a raw socket with no cookie: the
    headers (``Content-Length``, or ``Transfer-Encoding: chunked``), then
    the body in pieces, as long as the server reads it; reading the answer
    all along. Returns ``(status, headers and body as bytes, bytes of body
    sent)``; status is None when no answer came."""
    connection = socket.create_connection(("127.0.0.1", split.port), timeout=timeout)
    length = "Transfer-Encoding: chunked" if chunked else "Content-Length: %d" % size
    connection.sendall(
        (
            "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/octet-stream\r\n%s\r\n\r\n" % (path, length)
        ).encode("ascii")
    )
    connection.setblocking(False)
    answer, sent, pending = b"", 0, b""
    deadline = time.monotonic() + timeout
    closed = False
    try:
        while time.monotonic() < deadline and not closed:
            if not pending and sent < size:
                data = b"x" * min(piece, size - sent)
                sent += len(data)
                pending = b"%x\r\n%s\r\n" % (len(data), data) if chunked else data
                if chunked and sent == size:
                    pending += b"0\r\n\r\n"
            readable, writable, _ = select.select(
                [connection], [connection] if pending else [], [], 1
            )
            if readable:
                data = connection.recv(65536)
                closed = not data
                answer += data
            elif writable:
                try:
                    pending = pending[connection.send(pending) :]
                except (BrokenPipeError, ConnectionResetError):
                    break
    except ConnectionResetError:
        pass
    finally:
        connection.close()
    if not answer.startswith(b"HTTP/1.1 "):
        return None, answer, sent
    return int(answer.split(b" ")[1]), answer, sent


def json_body(answer):
    return json.loads(answer.partition(b"\r\n\r\n")[2])


def test_a_30_mib_upload_is_refused_from_its_content_length_without_growing_daphne_or_redis(
    split, split_env
):
    label = unique_label("big-upload")
    ChatClient(split, label).close()
    with MemorySampler(split, split_env) as memory:
        status, answer, sent = stream_post(split, "/%s/upload/" % label, 30 * MIB)
    assert status == 413
    assert json_body(answer)["error"] == "FILE_TOO_LARGE"
    assert sent < 30 * MIB
    daphne, used = memory.growth()
    assert daphne < GROWTH_BOUND, "Daphne grew by %d bytes" % daphne
    assert used < GROWTH_BOUND, "Redis grew by %d bytes" % used


def test_a_30_mib_post_elsewhere_is_refused_from_its_content_length(split, split_env):
    with MemorySampler(split, split_env) as memory:
        status, answer, _ = stream_post(split, "/accounts/login/", 30 * MIB)
    assert status == 413
    assert json_body(answer)["error"] == "BODY_TOO_LARGE"
    daphne, used = memory.growth()
    assert daphne < GROWTH_BOUND, "Daphne grew by %d bytes" % daphne
    assert used < GROWTH_BOUND, "Redis grew by %d bytes" % used


def test_a_30_mib_chunked_post_is_cut_off_at_the_limit(split, split_env):
    with MemorySampler(split, split_env) as memory:
        status, answer, sent = stream_post(split, "/accounts/login/", 30 * MIB, chunked=True)
    assert status == 413
    assert json_body(answer)["error"] == "BODY_TOO_LARGE"
    assert sent < 30 * MIB
    daphne, used = memory.growth()
    assert daphne < GROWTH_BOUND, "Daphne grew by %d bytes" % daphne
    assert used < GROWTH_BOUND, "Redis grew by %d bytes" % used


def test_a_30_mib_chunked_upload_is_cut_off_at_the_upload_limit(split, split_env):
    label = unique_label("chunked-upload")
    ChatClient(split, label).close()
    with MemorySampler(split, split_env) as memory:
        status, answer, sent = stream_post(split, "/%s/upload/" % label, 30 * MIB, chunked=True)
    assert status == 413
    assert json_body(answer)["error"] == "FILE_TOO_LARGE"
    assert sent < 30 * MIB
    daphne, used = memory.growth()
    # Daphne spools a body over 100 kB to a temporary file, not memory.
    assert daphne < GROWTH_BOUND, "Daphne grew by %d bytes" % daphne
    assert used < GROWTH_BOUND, "Redis grew by %d bytes" % used


def test_a_body_within_the_limit_still_reaches_django(split):
    # Django answers a POST without its CSRF cookie with 403: the body
    # went through Daphne and the layer to a worker.
    status, _, _ = stream_post(split, "/accounts/login/", 60 * 1024)
    assert status == 403


def close_code_of(client, timeout=30):
    """The code of the close frame ``client`` gets within ``timeout``
    seconds, skipping text frames; None when none comes. Each read is
    short: ``receive_frame`` starts its wait again after every ping."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kind, content = client.receive_frame(timeout=1)
        except TimeoutError:
            continue
        if kind == "close":
            return content
    return None


def test_a_20_mib_frame_is_closed_with_1009_before_daphne_buffers_it(split, split_env):
    label = unique_label("huge-frame")
    sender = ChatClient(split, label)
    payload = json.dumps({"handle": "ann", "message": "m" * (20 * MIB)})
    failed = []

    def send():
        try:
            sender.send_raw(payload)
        except (websocket.WebSocketException, OSError) as error:
            failed.append(error)

    with MemorySampler(split, split_env) as memory:
        sending = threading.Thread(target=send, daemon=True)
        sending.start()
        assert close_code_of(sender) == 1009
        sending.join(timeout=30)
    daphne, _ = memory.growth()
    assert daphne < GROWTH_BOUND, "Daphne grew by %d bytes" % daphne
    sender.close()


def test_a_frame_just_over_the_protocol_limit_gets_frame_too_large_and_the_socket_stays_open(
    split,
):
    label = unique_label("long-frame")
    sender = ChatClient(split, label)
    frame = json.dumps({"handle": "ann", "message": "m" * conf.max_frame_length()})
    assert conf.max_frame_length() < len(frame.encode("utf8")) <= conf.websocket_payload_max_bytes()
    sender.send_raw(frame)
    assert sender.receive()["error"] == "FRAME_TOO_LARGE"
    sender.send("ann", "small")
    assert sender.receive()["message"] == "small"
    sender.close()


def test_a_frame_of_the_protocols_length_in_four_byte_characters_reaches_the_protocol(split):
    # As long as the protocol allows, every character 4 bytes of UTF-8: at
    # autobahn's cap, not over it, so the socket stays open and the frame
    # meets the protocol's own checks (not JSON, here).
    label = unique_label("wide-frame")
    sender = ChatClient(split, label)
    frame = "\U0001f600" * conf.max_frame_length()
    assert len(frame.encode("utf8")) == conf.websocket_payload_max_bytes()
    sender.send_raw(frame)
    kind, content = sender.receive_frame()
    assert (kind, content["error"]) == ("text", "INVALID_JSON")
    sender.send("ann", "after")
    assert sender.receive()["message"] == "after"
    sender.close()
