import json

import pytest
from django.test import override_settings

from chat.exceptions import ClientError
from chat.protocol import (
    Frame,
    canonical_handle,
    check_emoji,
    check_handle,
    max_frame_length,
    parse_chat_frame,
    parse_frame,
)


def frame(**fields):
    return {"text": json.dumps(fields)}


def test_a_valid_frame_gives_the_stripped_handle_and_the_message_as_sent():
    assert parse_chat_frame(frame(handle="  ann ", message=" hi\n there ")) == (
        "ann",
        " hi\n there ",
    )


def test_unicode_beyond_the_basic_plane_is_accepted():
    assert parse_chat_frame(frame(handle="zoë", message="🎉 ok")) == ("zoë", "🎉 ok")


@pytest.mark.parametrize(
    "content, code",
    [
        ({"bytes": b'{"handle": "a", "message": "b"}'}, "BINARY_FRAME"),
        ({"text": "{not json"}, "INVALID_JSON"),
        ({"text": "[" * 100000 + "]" * 100000}, "FRAME_TOO_LARGE"),
        ({"text": "[" * 5000 + "]" * 5000}, "INVALID_JSON"),
        ({"text": '["handle", "message"]'}, "INVALID_FRAME"),
        ({"text": '"a string"'}, "INVALID_FRAME"),
        (frame(handle="ann", message="hi", extra=1), "INVALID_FRAME"),
        (frame(message="hi"), "MISSING_FIELD"),
        (frame(handle="ann"), "MISSING_FIELD"),
        (frame(handle=1, message="hi"), "INVALID_FIELD"),
        (frame(handle="ann", message=None), "INVALID_FIELD"),
        (frame(handle="ann", message=["hi"]), "INVALID_FIELD"),
        (frame(handle="   ", message="hi"), "HANDLE_EMPTY"),
        (frame(handle="ann", message=""), "MESSAGE_EMPTY"),
        (frame(handle="ann", message=" \n\t "), "MESSAGE_EMPTY"),
        (frame(handle="a" * 51, message="hi"), "HANDLE_TOO_LONG"),
        (frame(handle="ann", message="m" * 2001), "MESSAGE_TOO_LONG"),
        (frame(handle="ann", message="nul \x00 here"), "INVALID_FIELD"),
        (frame(handle="ann", message="bell \x07"), "INVALID_FIELD"),
        (frame(handle="a\nb", message="hi"), "INVALID_FIELD"),
        ({"text": '{"handle": "ann", "message": "lone \\ud800 surrogate"}'}, "INVALID_FIELD"),
    ],
)
def test_a_refused_frame_raises_a_client_error_with_its_code(content, code):
    with pytest.raises(ClientError) as refused:
        parse_chat_frame(content)
    assert refused.value.code == code
    expected = {"type": "error", "error": code, "detail": refused.value.detail}
    assert refused.value.as_dict() == expected
    assert refused.value.detail


def test_the_longest_valid_message_and_handle_are_accepted():
    handle, message = parse_chat_frame(frame(handle="h" * 50, message="m" * 2000))
    assert (len(handle), len(message)) == (50, 2000)


def test_the_frame_size_limit_admits_the_longest_valid_frame_fully_escaped():
    # Every character of a maximal frame written as a \\uXXXX surrogate pair.
    escaped = json.dumps({"handle": "😀" * 50, "message": "😀" * 2000}, ensure_ascii=True)
    assert len(escaped) <= max_frame_length()
    assert parse_chat_frame({"text": escaped}) == ("😀" * 50, "😀" * 2000)


@override_settings(CHAT_MESSAGE_MAX_LENGTH=10, CHAT_HANDLE_MAX_LENGTH=3)
def test_the_limits_come_from_settings():
    with pytest.raises(ClientError) as refused:
        parse_chat_frame(frame(handle="ann", message="m" * 11))
    assert refused.value.code == "MESSAGE_TOO_LONG"
    with pytest.raises(ClientError) as refused:
        parse_chat_frame(frame(handle="anne", message="m"))
    assert refused.value.code == "HANDLE_TOO_LONG"


def test_a_frame_without_a_type_or_typed_message_is_a_chat_message():
    assert parse_frame(frame(handle="ann", message="hi")) == Frame("message", "ann", "hi")
    typed = frame(type="message", handle=" ann ", message="hi")
    assert parse_frame(typed) == Frame("message", "ann", "hi")


def test_a_socket_with_a_server_set_handle_may_leave_the_handle_out_and_any_sent_is_ignored():
    assert parse_frame(frame(message="hi"), handle="bob") == Frame("message", "bob", "hi")
    spoofed = frame(handle="carol", message="hi")
    assert parse_frame(spoofed, handle="bob") == Frame("message", "bob", "hi")
    # ...even one that would be refused as a handle.
    assert parse_frame(frame(handle="", message="hi"), handle="bob").handle == "bob"


@pytest.mark.parametrize("kind", ["typing", "ping"])
def test_typing_and_ping_frames_carry_nothing_else(kind):
    assert parse_frame(frame(type=kind)) == Frame(kind)
    with pytest.raises(ClientError) as refused:
        parse_frame(frame(type=kind, handle="ann"))
    assert refused.value.code == "INVALID_FRAME"


def test_a_read_frame_carries_a_non_negative_integer_seq():
    assert parse_frame(frame(type="read", seq=12)) == Frame("read", seq=12)
    for seq in (-1, 1.5, "12", True, None, 2**31):
        with pytest.raises(ClientError) as refused:
            parse_frame(frame(type="read", seq=seq))
        assert refused.value.code == "INVALID_FIELD", seq
    with pytest.raises(ClientError) as refused:
        parse_frame(frame(type="read"))
    assert refused.value.code == "MISSING_FIELD"


@pytest.mark.parametrize("kind", ["hello", "", 3, None, ["ping"]])
def test_an_unknown_type_is_an_invalid_frame(kind):
    with pytest.raises(ClientError) as refused:
        parse_frame(frame(type=kind))
    assert refused.value.code == "INVALID_FRAME"


@pytest.mark.parametrize(
    "handle, canonical",
    [
        ("ann", "ann"),
        ("ANN", "ann"),
        ("ａｎｎ", "ann"),  # fullwidth
        ("\ufb01ona", "fiona"),  # the ligature "ﬁ"
        ("Straße", "strasse"),  # folding, not lower()
        ("ann\u034f", "ann"),  # a combining grapheme joiner draws nothing
        ("\u3164ann", "ann"),  # nor does a Hangul filler
        ("  ann\u3000", "ann"),  # ideographic space, stripped
        ("Ǆ", "dž"),  # a title-case digraph
    ],
)
def test_the_canonical_form_makes_handles_that_read_alike_equal(handle, canonical):
    assert canonical_handle(handle) == canonical


def test_the_canonical_form_keeps_names_that_read_differently_apart():
    assert canonical_handle("ann") != canonical_handle("anne")
    assert canonical_handle("ann") != canonical_handle("a nn")


def test_the_canonical_form_is_its_own_canonical_form():
    for handle in ["ＡＮＮ", "\ufb03x", "Straße", "ΣΊΣΥΦΟΣ", "ﷺ"]:
        once = canonical_handle(handle)
        assert canonical_handle(once) == once


@pytest.mark.parametrize(
    "handle",
    [
        "ann\u200b",  # zero-width space
        "a\u200dnn",  # zero-width joiner
        "\u202eann",  # right-to-left override
        "ann\u2066",  # left-to-right isolate
        "\ufeffann",  # byte order mark
        "an\u00adn",  # soft hyphen
        "ann\U000e0041",  # a tag character
    ],
)
def test_a_handle_with_a_format_character_is_refused(handle):
    with pytest.raises(ClientError) as raised:
        check_handle(handle)
    assert raised.value.code == "INVALID_FIELD"
    with pytest.raises(ClientError) as raised:
        parse_frame({"text": json.dumps({"handle": handle, "message": "hi"})})
    assert raised.value.code == "INVALID_FIELD"


def test_a_message_may_still_hold_format_characters():
    frame = parse_frame({"text": json.dumps({"handle": "ann", "message": "👩\u200d💻 ok"})})
    assert frame.message == "👩\u200d💻 ok"


# Changing messages (added 2026-12-05)


def test_the_change_frames_give_the_message_id_and_what_they_carry():
    assert parse_frame(frame(type="edit", id=7, message=" new text ")) == Frame(
        "edit", id=7, message=" new text "
    )
    assert parse_frame(frame(type="delete", id=7)) == Frame("delete", id=7)
    assert parse_frame(frame(type="react", id=7, emoji="👍")) == Frame("react", id=7, emoji="👍")


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"type": "edit", "id": 7}, "MISSING_FIELD"),
        ({"type": "edit", "message": "x"}, "MISSING_FIELD"),
        ({"type": "delete"}, "MISSING_FIELD"),
        ({"type": "react", "id": 7}, "MISSING_FIELD"),
        ({"type": "delete", "id": 7, "handle": "ann"}, "INVALID_FRAME"),
        ({"type": "react", "id": 7, "emoji": "👍", "nonce": "n"}, "INVALID_FRAME"),
        ({"type": "delete", "id": "7"}, "INVALID_FIELD"),
        ({"type": "delete", "id": 0}, "INVALID_FIELD"),
        ({"type": "delete", "id": -1}, "INVALID_FIELD"),
        ({"type": "delete", "id": 7.0}, "INVALID_FIELD"),
        ({"type": "delete", "id": True}, "INVALID_FIELD"),
        ({"type": "delete", "id": 2**31}, "INVALID_FIELD"),
        ({"type": "edit", "id": 7, "message": ""}, "MESSAGE_EMPTY"),
        ({"type": "edit", "id": 7, "message": "m" * 2001}, "MESSAGE_TOO_LONG"),
        ({"type": "edit", "id": 7, "message": "bell \x07"}, "INVALID_FIELD"),
        ({"type": "edit", "id": 7, "message": 5}, "INVALID_FIELD"),
    ],
)
def test_a_refused_change_frame_raises_its_code(fields, code):
    with pytest.raises(ClientError) as refused:
        parse_frame(frame(**fields), handle="ann")
    assert refused.value.code == code


@pytest.mark.parametrize(
    "value",
    [
        "👍",
        "👍🏽",  # a skin tone modifier
        "👨\u200d👩\u200d👧",  # a ZWJ family
        "🇫🇷",  # a flag: two regional indicators
        "1️⃣",  # a keycap
        "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",  # England's tag flag
        "👩🏻\u200d❤️\u200d💋\u200d👨🏼",  # ten code points
    ],
)
def test_one_emoji_of_any_kind_is_a_reaction(value):
    assert check_emoji(value) == value


@pytest.mark.parametrize(
    "value",
    ["", "a", "1", "#", ":)", "👍👍", "👍 ", " 👍", "👍a", "\u200d", "🇫", 5, None, ["👍"]]
    + ["👍" * 40],
)
def test_anything_but_one_emoji_is_not_an_emoji(value):
    with pytest.raises(ClientError) as refused:
        check_emoji(value)
    assert refused.value.code == "NOT_AN_EMOJI"


def test_an_unqualified_emoji_is_the_same_reaction_as_its_emoji_presentation():
    assert check_emoji("\u2764") == "\u2764\ufe0f" == check_emoji("\u2764\ufe0f")


def test_a_chat_message_may_carry_a_nonce_and_nothing_else_new():
    assert parse_frame(frame(handle="ann", message="hi", nonce="n-1")).nonce == "n-1"
    assert parse_frame(frame(message="hi"), handle="ann").nonce == ""
    for nonce in ["", "n" * 65, 5, None, "a\nb"]:
        with pytest.raises(ClientError) as refused:
            parse_frame(frame(message="hi", nonce=nonce), handle="ann")
        assert refused.value.code == "INVALID_FIELD", nonce
    assert len(parse_frame(frame(message="hi", nonce="n" * 64), handle="ann").nonce) == 64


def test_the_frame_size_limit_admits_the_longest_frame_with_a_nonce_fully_escaped():
    escaped = json.dumps(
        {"handle": "😀" * 50, "message": "😀" * 2000, "nonce": "😀" * 64}, ensure_ascii=True
    )
    assert len(escaped) <= max_frame_length()
    assert parse_frame({"text": escaped}).nonce == "😀" * 64
