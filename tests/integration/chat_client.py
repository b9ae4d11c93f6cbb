"""A WebSocket client of the chat protocol, for tests against the real split."""

import json
import uuid

import websocket

from bench import services


def unique_label(stem):
    """A room label (str) no other test uses."""
    return "%s-%s" % (stem, uuid.uuid4().hex[:8])


class ChatClient:
    """One member of a room: a real WebSocket to ``/chat/<label>/``.

    ``timeout`` (seconds) bounds every receive; a message that never comes
    fails the test instead of hanging it.
    """

    def __init__(self, split, label, timeout=30, origin=None):
        self.socket = websocket.create_connection(
            split.ws_url("/chat/%s/" % label),
            timeout=timeout,
            origin=origin or split.base_url,
        )

    def send(self, handle, message):
        self.socket.send(json.dumps({"handle": handle, "message": message}))

    def send_raw(self, text):
        self.socket.send(text)

    def receive(self):
        """The next frame, decoded from JSON (dict)."""
        return json.loads(self.socket.recv())

    def receive_many(self, count):
        """The next ``count`` frames (list of dict)."""
        return [self.receive() for _ in range(count)]

    def close(self):
        self.socket.close()


def stored_messages(database_url, label, columns=("id", "handle", "message")):
    """The rows of room ``label`` in PostgreSQL, oldest first: a list of
    tuples of ``columns`` (names of ``chat_message`` columns)."""
    rows = services.stored_messages(database_url, labels=[label], columns=columns)
    return [row[1:] for row in rows]
