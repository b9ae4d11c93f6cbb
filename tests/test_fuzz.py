"""Fuzzing the frame handler: whatever arrives, the socket gets a message or
an error frame, the worker raises nothing, nothing invalid is stored, and the
socket still works afterwards."""

import json

from channels.test import WSClient
from channels.test.base import ChannelTestCaseMixin
from django.test import override_settings
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from chat import conf
from chat.models import Message
from chat.protocol import HANDLE_FORBIDDEN_RE, MESSAGE_FORBIDDEN_RE

ORIGIN = [[b"origin", b"http://localhost"]]
ERROR_CODES = {
    "BINARY_FRAME",
    "FRAME_TOO_LARGE",
    "INVALID_JSON",
    "INVALID_FRAME",
    "MISSING_FIELD",
    "INVALID_FIELD",
    "HANDLE_EMPTY",
    "HANDLE_TOO_LONG",
    "MESSAGE_EMPTY",
    "MESSAGE_TOO_LONG",
}

# Any code point at all, lone surrogates and control characters included.
any_text = st.text(st.characters(blacklist_categories=()), max_size=300)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=20,
)
chat_like = st.fixed_dictionaries(
    {},
    optional={
        "handle": json_values | any_text,
        "message": json_values | any_text | st.text(min_size=1990, max_size=2010),
        "extra": json_values,
    },
)
# Frames of the right shape, whose strings are mostly fine: these reach the
# length and character checks, and are often accepted.
printable = st.characters(blacklist_categories=("Cs", "Cc"))
well_formed = st.fixed_dictionaries(
    {
        "handle": st.text(printable, max_size=60) | st.text(max_size=60),
        "message": st.text(printable, max_size=2100) | st.text(max_size=60),
    }
)
frames = st.one_of(
    well_formed.map(lambda value: {"text": json.dumps(value)}),
    st.binary(max_size=300).map(lambda data: {"bytes": data}),
    any_text.map(lambda text: {"text": text}),
    json_values.map(lambda value: {"text": json.dumps(value)}),
    chat_like.map(lambda value: {"text": json.dumps(value)}),
    chat_like.map(lambda value: {"text": json.dumps(value, ensure_ascii=False)}),
)

MEGABYTE_FRAME = {"text": json.dumps({"handle": "ann", "message": "m" * 1_000_000})}
DEEP_FRAME = {"text": "[" * 100_000 + "]" * 100_000}
DEEP_OBJECT = {"text": '{"a":' * 5000 + "1" + "}" * 5000}


# Every example joins a room of its own from one address: neither the frame
# rate nor the new-room rate is under test here.
@override_settings(CHAT_RATE_LIMIT_PER_MINUTE=0, CHAT_ROOMS_PER_HOUR=0)
class FrameFuzzTests(ChannelTestCaseMixin, TestCase):
    @settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(frame=frames)
    @example(frame=MEGABYTE_FRAME)
    @example(frame=DEEP_FRAME)
    @example(frame=DEEP_OBJECT)
    @example(frame={"text": '{"handle": "a\\ud800", "message": "x"}'})
    @example(frame={"text": '{"handle": "ann", "message": "nul\\u0000"}'})
    @example(frame={"text": "\ud800"})
    def test_any_frame_gets_a_message_or_an_error_and_the_socket_still_works(self, frame):
        client = WSClient(ordered=True)
        client.send_and_consume("websocket.connect", {"headers": ORIGIN}, path="/chat/fuzz/")
        stored_before = Message.objects.count()

        # A consumer that raised would propagate here and fail the example.
        client.send_and_consume("websocket.receive", frame, path="/chat/fuzz/")
        reply = client.receive()

        event("refused: %s" % reply.get("error") if "error" in reply else "accepted")
        if "error" in reply:
            self.assertIn(reply["error"], ERROR_CODES)
            self.assertEqual(set(reply), {"type", "error", "detail"})
            self.assertEqual(Message.objects.count(), stored_before)
        else:
            stored = Message.objects.get(pk=reply["id"])
            self.assertEqual(reply, stored.as_dict())
            self.assertTrue(0 < len(stored.handle) <= conf.get("CHAT_HANDLE_MAX_LENGTH"))
            self.assertTrue(0 < len(stored.message) <= conf.get("CHAT_MESSAGE_MAX_LENGTH"))
            self.assertIsNone(HANDLE_FORBIDDEN_RE.search(stored.handle))
            self.assertIsNone(MESSAGE_FORBIDDEN_RE.search(stored.message))
            stored.message.encode("utf-8")  # storable text, no lone surrogates

        client.send_and_consume(
            "websocket.receive", text={"handle": "ann", "message": "still here"}, path="/chat/fuzz/"
        )
        self.assertEqual(client.receive()["message"], "still here")
