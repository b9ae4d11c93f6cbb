"""Floods refused by Daphne itself on the real split: the flooder is
answered and closed at the edge, and the rest of its room goes on."""

import threading
import time

import pytest
import websocket

from bench.chat_client import ChatClient, stored_messages, unique_label
from chat import conf

pytestmark = pytest.mark.integration

FLOOD_FRAMES = 3000


class Flood:
    """One socket sending ``FLOOD_FRAMES`` frames as fast as it can, while a
    thread reads what it gets back until the server closes it."""

    def __init__(self, client):
        self.client = client
        self.frames, self.sent, self.close_code = [], 0, None
        self.started = self.closed_at = None
        self.reader = threading.Thread(target=self._read, daemon=True)

    def run(self):
        self.reader.start()
        self.started = time.monotonic()
        try:
            for n in range(FLOOD_FRAMES):
                self.client.send("flood", "spam %d" % n)
                self.sent += 1
        except (websocket.WebSocketException, OSError):
            pass  # closed under it: the rest of the flood is not sent
        self.reader.join(timeout=60)
        assert not self.reader.is_alive(), "the flooder was never closed"

    def _read(self):
        try:
            while True:
                kind, content = self.client.receive_frame()
                if kind == "close":
                    self.close_code = content
                    return
                self.frames.append(content)
        except (websocket.WebSocketException, OSError):
            pass
        finally:
            self.closed_at = time.monotonic()


def receive_ids(member, seen, wanted):
    """Receive on ``member`` until ``seen`` (a set of message ids, updated)
    holds every id in ``wanted``."""
    if wanted <= seen:
        return

    def done(frame):
        if "id" in frame and "message" in frame:
            seen.add(frame["id"])
        return wanted <= seen

    member.receive_until(done)


def test_a_flood_is_refused_and_closed_at_the_edge_while_the_room_talks_on(split, split_env):
    label = unique_label("edge")
    flooder = Flood(ChatClient(split, label))
    ann, bob = ChatClient(split, label), ChatClient(split, label)
    seen = {"ann": set(), "bob": set()}
    flood = threading.Thread(target=flooder.run, daemon=True)
    flood.start()

    # Ann and Bob take turns while the flood runs: each line must reach the
    # other before the next is said.
    exchanged = []
    for n in range(5):
        for speaker, listener, name in ((ann, bob, "ann"), (bob, ann, "bob")):
            text = "%s says %d" % (name, n)
            speaker.send(name, text)
            frames = listener.receive_until(lambda f, text=text: f.get("message") == text)
            exchanged.append(text)
            other = "bob" if name == "ann" else "ann"
            seen[other].update(f["id"] for f in frames if "id" in f and "message" in f)
    flood.join(timeout=120)
    assert not flood.is_alive()

    limited = [f for f in flooder.frames if f.get("error") == "RATE_LIMITED"]
    assert limited and flooder.close_code == 1008

    # Both stay open: one more line each, and every stored message (theirs
    # and whatever of the flood was let through) reached both of them.
    ann.send("ann", "still here")
    bob.send("bob", "me too")
    for member, name in ((ann, "ann"), (bob, "bob")):
        heard = set()

        def both_lines(frame, heard=heard, name=name):
            if "id" in frame and "message" in frame:
                seen[name].add(frame["id"])
                heard.add(frame["message"])
            return {"still here", "me too"} <= heard

        member.receive_until(both_lines)
    # Then every stored row, down to the last of the flood's that a worker
    # may still have been storing, until a read of the table adds nothing.
    rows = stored_messages(split_env["DATABASE_URL"], label)
    while True:
        wanted = {row[0] for row in rows}
        receive_ids(ann, seen["ann"], wanted)
        receive_ids(bob, seen["bob"], wanted)
        again = stored_messages(split_env["DATABASE_URL"], label)
        if again == rows:
            break
        rows = again
    texts = [row[2] for row in rows]
    assert {"still here", "me too"} <= set(texts) and set(exchanged) <= set(texts)
    assert {row[0] for row in rows} <= seen["ann"] and {row[0] for row in rows} <= seen["bob"]

    # The flood stored no more than its bucket allows over its lifetime.
    flooded = [row for row in rows if row[1] == "flood"]
    duration = flooder.closed_at - flooder.started
    burst = conf.DEFAULTS["CHAT_RATE_LIMIT_BURST"]
    per_second = conf.DEFAULTS["CHAT_RATE_LIMIT_PER_MINUTE"] / 60.0
    assert len(flooded) <= burst + per_second * duration
    print(
        "flood: %d frames sent, %d refused at the edge (RATE_LIMITED), %d stored, "
        "closed with %d after %.2f s; %d lines exchanged, %d rows stored"
        % (
            flooder.sent,
            len(limited),
            len(flooded),
            flooder.close_code,
            duration,
            len(exchanged),
            len(rows),
        )
    )
    ann.close()
    bob.close()
