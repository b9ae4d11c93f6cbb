"""No silently deaf socket: after the channel layer loses its state (a Redis
restart), every open socket either goes on receiving or is closed by Daphne
with 1012 within 10 s of Redis answering again, for a client that speaks the
seed protocol and sends nothing (docs/operations.md, "Deaf sockets")."""

import time

import pytest

from bench.chat_client import ChatClient, unique_label

pytestmark = pytest.mark.integration

# The bound docs/operations.md promises, in seconds.
BOUND_S = 10.0


def close_code_or_message(client, deadline):
    """Wait on a listening client until its socket is closed (returns the
    close code, int) or a chat message arrives (returns the frame, dict)."""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("neither a close nor a message in time")
        kind, content = client.receive_frame(timeout=remaining)
        if kind == "close" or content.get("type") == "message":
            return content


def test_a_listening_seed_client_is_closed_with_1012_after_redis_restarts(fault_split, fault_redis):
    label = unique_label("deaf")
    listener = ChatClient(fault_split, label)  # seed protocol: never sends
    speaker = ChatClient(fault_split, label)
    speaker.send("ann", "before the restart")
    assert listener.receive()["message"] == "before the restart"

    fault_redis.stop()
    fault_redis.start()
    back_at = time.monotonic()

    outcome = close_code_or_message(listener, back_at + BOUND_S + 5)
    elapsed = time.monotonic() - back_at
    # Redis kept nothing, so the listener's Group membership is gone: a
    # message could not reach it; Daphne must have closed it to rejoin.
    assert outcome == 1012, outcome
    assert elapsed <= BOUND_S, elapsed

    # A client that reconnects hears the room again.
    again = ChatClient(fault_split, label)
    speaker.close()
    other = ChatClient(fault_split, label)
    other.send("bob", "after the restart")
    assert again.receive()["message"] == "after the restart"
    print("\nlistener closed with 1012 %.1f s after Redis came back" % elapsed)
