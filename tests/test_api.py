"""chat/api.py: the HTTP API for bots, ``/api/rooms/<label>/messages``."""

import datetime
import json

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client, RequestFactory, override_settings

from chat import api, ratelimit, services
from chat.exceptions import HttpClientError
from chat.models import ApiToken, Message, Room, RoomMembership
from tests.factories import make_messages, make_room

pytestmark = pytest.mark.django_db

URL = "/api/rooms/%s/messages"


@pytest.fixture(autouse=True)
def full_invalid_token_buckets():
    """Every test's addresses start with no invalid tokens counted."""
    caches[ratelimit.CACHE_ALIAS].clear()


def make_token(name="bot"):
    """A new token's secret (str), with an untouched rate-limit bucket."""
    api_token, secret = services.create_api_token(name)
    caches[ratelimit.CACHE_ALIAS].delete(ratelimit.bucket_key("api", api_token.pk))
    return secret


def post(client, label, body, secret=None, **extra):
    if secret is not None:
        extra["HTTP_AUTHORIZATION"] = "Bearer %s" % secret
    if not isinstance(body, (str, bytes)):
        body = json.dumps(body)
    return client.post(URL % label, body, content_type="application/json", **extra)


def get(client, label, secret, query=""):
    return client.get(URL % label + query, HTTP_AUTHORIZATION="Bearer %s" % secret)


def test_a_bot_posts_a_message_and_gets_it_back_as_stored_marked_as_a_bots(client):
    make_room()
    secret = make_token()

    response = post(client, "lobby", {"handle": "weather", "message": "sunny"}, secret)

    assert response.status_code == 201
    stored = Message.objects.get()
    assert stored.bot
    assert response.json() == stored.as_dict()
    assert response.json()["bot"] is True
    assert (response.json()["handle"], response.json()["seq"]) == ("weather", 1)


def test_a_bots_post_is_numbered_after_the_rooms_messages(client):
    make_messages(make_room(), 3)
    response = post(client, "lobby", {"handle": "b", "message": "m"}, make_token())
    assert response.json()["seq"] == 4


def test_a_request_records_when_its_token_was_last_used(client):
    make_room()
    secret = make_token()
    assert ApiToken.objects.get().last_used_at is None
    post(client, "lobby", {"handle": "b", "message": "m"}, secret)
    assert ApiToken.objects.get().last_used_at is not None


def test_the_api_needs_no_csrf_token():
    make_room()
    client = Client(enforce_csrf_checks=True)
    response = post(client, "lobby", {"handle": "b", "message": "m"}, make_token())
    assert response.status_code == 201


@pytest.mark.parametrize(
    "body, code",
    [
        ("not json", "INVALID_JSON"),
        (b"\xff\xfe", "INVALID_JSON"),
        ("", "INVALID_JSON"),
        ([1, 2], "INVALID_FRAME"),
        ({"handle": "b", "message": "m", "extra": 1}, "INVALID_FRAME"),
        ({"type": "typing"}, "INVALID_FRAME"),
        ({"handle": "b"}, "MISSING_FIELD"),
        ({"message": "m"}, "MISSING_FIELD"),
        ({"handle": 7, "message": "m"}, "INVALID_FIELD"),
        ({"handle": "b\x00", "message": "m"}, "INVALID_FIELD"),
        ({"handle": "  ", "message": "m"}, "HANDLE_EMPTY"),
        ({"handle": "x" * 51, "message": "m"}, "HANDLE_TOO_LONG"),
        ({"handle": "b", "message": ""}, "MESSAGE_EMPTY"),
        ({"handle": "b", "message": "x" * 2001}, "MESSAGE_TOO_LONG"),
        ("x" * 30000, "FRAME_TOO_LARGE"),
    ],
)
def test_a_bad_body_gets_400_with_the_sockets_code_and_stores_nothing(client, body, code):
    make_room()
    response = post(client, "lobby", body, make_token())
    assert response.status_code == 400
    assert response.json()["type"] == "error"
    assert response.json()["error"] == code
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer  ", "Basic dXNlcjpwYXNz", "Token abc"],
)
def test_a_request_without_a_bearer_token_gets_401_and_the_scheme(client, authorization):
    make_room()
    extra = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = post(client, "lobby", {"handle": "b", "message": "m"}, **extra)
    assert response.status_code == 401
    assert response.json()["error"] == "UNAUTHORIZED"
    assert response["WWW-Authenticate"] == "Bearer"
    assert not Message.objects.exists()


def test_a_wrong_token_gets_401(client):
    make_room()
    make_token()
    response = post(client, "lobby", {"handle": "b", "message": "m"}, "not-the-token")
    assert response.status_code == 401
    assert response.json()["error"] == "UNAUTHORIZED"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_token_gets_401_for_posts_and_reads(client):
    make_room()
    secret = make_token()
    services.revoke_api_token("bot")
    assert post(client, "lobby", {"handle": "b", "message": "m"}, secret).status_code == 401
    assert get(client, "lobby", secret).status_code == 401
    assert not Message.objects.exists()


def test_the_bearer_scheme_is_matched_whatever_its_case(client):
    make_room()
    secret = make_token()
    response = client.post(
        URL % "lobby",
        json.dumps({"handle": "b", "message": "m"}),
        content_type="application/json",
        HTTP_AUTHORIZATION="bearer %s" % secret,
    )
    assert response.status_code == 201


def test_an_unknown_room_gets_404_and_is_not_created(client):
    secret = make_token()
    response = post(client, "nowhere", {"handle": "b", "message": "m"}, secret)
    assert response.status_code == 404
    assert response.json()["error"] == "NOT_FOUND"
    assert get(client, "nowhere", secret).status_code == 404
    assert not Room.objects.exists()


def test_a_label_that_may_not_name_a_room_gets_404(client):
    response = post(client, "x" * 51, {"handle": "b", "message": "m"}, make_token())
    assert response.status_code == 404


def test_a_private_room_is_not_found_for_a_bot_even_with_a_members_cookie(client):
    room = make_room()
    room.private = True
    room.save()
    make_messages(room, 2)
    member = User.objects.create_user("ann")
    RoomMembership.objects.create(room=room, user=member, role=RoomMembership.OWNER)
    secret = make_token()
    with_cookie = Client()
    with_cookie.force_login(member)

    for http in (client, with_cookie):
        posted = post(http, "lobby", {"handle": "b", "message": "m"}, secret)
        read = get(http, "lobby", secret)
        for response in (posted, read):
            assert response.status_code == 404
            assert response.json()["error"] == "NOT_FOUND"
    assert Message.objects.count() == 2


@override_settings(CHAT_RATE_LIMIT_BURST=2, CHAT_RATE_LIMIT_PER_MINUTE=6)
def test_a_token_over_its_rate_gets_429_with_retry_after_in_seconds(client):
    make_room()
    secret = make_token()
    statuses = [
        post(client, "lobby", {"handle": "b", "message": "m%d" % n}, secret).status_code
        for n in range(2)
    ]
    refused = post(client, "lobby", {"handle": "b", "message": "late"}, secret)

    assert statuses == [201, 201]
    assert refused.status_code == 429
    assert refused.json()["error"] == "RATE_LIMITED"
    # 6 a minute: the next token comes in at most 10 s.
    assert 1 <= int(refused["Retry-After"]) <= 10
    assert Message.objects.count() == 2


@override_settings(CHAT_RATE_LIMIT_BURST=1, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_each_token_has_a_bucket_of_its_own(client):
    make_room()
    first, second = make_token("one"), make_token("two")
    assert post(client, "lobby", {"handle": "b", "message": "m"}, first).status_code == 201
    assert post(client, "lobby", {"handle": "b", "message": "m"}, first).status_code == 429
    assert post(client, "lobby", {"handle": "b", "message": "m"}, second).status_code == 201


@override_settings(CHAT_RATE_LIMIT_BURST=1, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_a_tokens_bucket_refills_with_time():
    make_token()
    api_token = ApiToken.objects.get()
    assert api.take_token(api_token, now=1000.0) is None
    assert api.take_token(api_token, now=1000.25) == 1
    assert api.take_token(api_token, now=1001.5) is None


@override_settings(CHAT_RATE_LIMIT_PER_MINUTE=0)
def test_no_rate_limit_applies_when_it_is_turned_off():
    make_token()
    api_token = ApiToken.objects.get()
    assert all(api.take_token(api_token, now=5.0) is None for _ in range(50))


def test_a_bot_reads_the_rooms_messages_as_the_catch_up_endpoint_gives_them(client):
    messages = make_messages(make_room(), 5)
    secret = make_token()

    latest = get(client, "lobby", secret, "?limit=2")
    after = get(client, "lobby", secret, "?after=%d" % messages[2].pk)

    assert latest.status_code == 200
    assert latest.json() == {"messages": [m.as_dict() for m in messages[3:]], "has_more": True}
    assert after.json() == {"messages": [m.as_dict() for m in messages[3:]], "has_more": False}
    assert client.get("/lobby/messages?limit=2").json() == latest.json()


@pytest.mark.parametrize("query", ["?after=x", "?limit=0", "?after=1&before=2"])
def test_a_bad_read_parameter_gets_400(client, query):
    make_room()
    response = get(client, "lobby", make_token(), query)
    assert response.status_code == 400
    assert response.json()["error"] == "INVALID_PARAMETER"


def test_another_method_gets_405_with_the_allowed_ones(client):
    make_room()
    response = client.put(URL % "lobby", "{}", HTTP_AUTHORIZATION="Bearer %s" % make_token())
    assert response.status_code == 405
    assert response.json()["error"] == "METHOD_NOT_ALLOWED"
    assert response["Allow"] == "GET, POST"


def test_a_bots_message_is_labelled_on_the_room_page_and_a_persons_is_not(client):
    room = make_room()
    services.post_message(room, "ann", "hi")
    services.post_message(room, "robot", "beep", bot=True)

    page = client.get("/lobby/").content.decode()

    assert page.count('class="bot-label"') == 1
    assert page.count(' bot"') == 1
    bot_item = page[page.index(' bot"') : page.index('class="bot-label"')]
    assert '<span class="handle">robot</span>' in bot_item


# Guessing tokens: unknown or revoked ones are limited per client address.

GUESSER = "203.0.113.9"


def test_eleven_unknown_tokens_from_one_address_end_in_429_with_retry_after():
    make_room()
    guesser = Client(REMOTE_ADDR=GUESSER)
    answers = [
        post(guesser, "lobby", {"handle": "b", "message": "m"}, "guess-%d" % n) for n in range(11)
    ]
    assert [a.status_code for a in answers] == [401] * 10 + [429]
    assert answers[10].json()["error"] == "RATE_LIMITED"
    # 10 a minute: the next one comes in at most 6 s.
    assert 1 <= int(answers[10]["Retry-After"]) <= 6


def test_an_address_over_its_invalid_tokens_is_refused_even_with_a_valid_one():
    # Otherwise a guess that hits would stand out as the one not refused.
    make_room()
    secret = make_token()
    guesser = Client(REMOTE_ADDR=GUESSER)
    for n in range(10):
        post(guesser, "lobby", {"handle": "b", "message": "m"}, "guess-%d" % n)
    assert post(guesser, "lobby", {"handle": "b", "message": "m"}, secret).status_code == 429
    assert Message.objects.count() == 0
    elsewhere = Client(REMOTE_ADDR="198.51.100.30")
    assert post(elsewhere, "lobby", {"handle": "b", "message": "m"}, secret).status_code == 201


@override_settings(CHAT_RATE_LIMIT_BURST=20)
def test_requests_without_a_token_and_valid_tokens_do_not_count_as_guesses():
    make_room()
    secret = make_token()
    client = Client(REMOTE_ADDR=GUESSER)
    for _ in range(12):
        assert post(client, "lobby", {"handle": "b", "message": "m"}).status_code == 401
    for _ in range(12):
        assert get(client, "lobby", secret).status_code == 200
    assert post(client, "lobby", {"handle": "b", "message": "m"}, "guess").status_code == 401


@override_settings(CHAT_API_INVALID_TOKEN_BURST=1, CHAT_API_INVALID_TOKENS_PER_MINUTE=60)
def test_an_addresss_invalid_token_bucket_refills_with_time():
    request = RequestFactory().get("/", HTTP_AUTHORIZATION="Bearer guess", REMOTE_ADDR=GUESSER)
    with pytest.raises(HttpClientError) as first:
        api.authenticate_within_limit(request, now=1000.0)
    assert first.value.code == "UNAUTHORIZED"
    with pytest.raises(HttpClientError) as second:
        api.authenticate_within_limit(request, now=1000.5)
    assert second.value.code == "RATE_LIMITED"
    with pytest.raises(HttpClientError) as third:
        api.authenticate_within_limit(request, now=1001.5)
    assert third.value.code == "UNAUTHORIZED"


# Editing and deleting a bot's own messages (added 2026-12-05)


def change(client, method, label, message_id, secret, body=None):
    """A PATCH or DELETE of ``/api/rooms/<label>/messages/<id>``."""
    url = URL % label + "/%d" % message_id
    data = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    return client.generic(
        method,
        url,
        data or "",
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer %s" % secret,
    )


def bots_message(client, secret, text="sunny"):
    answer = post(client, "lobby", {"handle": "weather", "message": text}, secret)
    return Message.objects.get(pk=answer.json()["id"])


def test_a_bot_edits_and_deletes_its_own_message_with_its_token(client):
    room = make_room()
    room.presence_group.add("member")
    secret = make_token()
    message = bots_message(client, secret)
    assert message.api_token == ApiToken.objects.get()

    edited = change(client, "PATCH", "lobby", message.pk, secret, {"message": "rainy"})
    assert edited.status_code == 200
    assert (edited.json()["message"], edited.json()["version"]) == ("rainy", 2)
    assert edited.json() == Message.objects.get().as_dict()

    deleted = change(client, "DELETE", "lobby", message.pk, secret)
    assert deleted.status_code == 200
    assert (deleted.json()["deleted"], deleted.json()["message"]) == (True, "")
    assert Message.objects.get().deleted_at is not None
    assert list(Message.objects.get().edits.all()) == []
    assert Room.objects.get().last_seq == 3


def test_another_tokens_message_or_a_persons_is_not_the_bots_to_change(client):
    room = make_room()
    mine, theirs = make_token("mine"), make_token("theirs")
    message = bots_message(client, theirs)
    persons = services.post_message(room, "ann", "hello")
    for target in (message, persons):
        for method, body in (("PATCH", {"message": "mine now"}), ("DELETE", None)):
            answer = change(client, method, "lobby", target.pk, mine, body)
            assert (answer.status_code, answer.json()["error"]) == (403, "NOT_YOURS")
    assert list(Message.objects.values_list("message", "version")) == [
        ("sunny", 1),
        ("hello", 2),
    ]


@override_settings(CHAT_EDIT_WINDOW_SECONDS=60)
def test_a_bots_edit_after_the_window_is_too_late(client):
    make_room()
    secret = make_token()
    message = bots_message(client, secret)
    Message.objects.filter(pk=message.pk).update(
        timestamp=message.timestamp - datetime.timedelta(seconds=61)
    )
    answer = change(client, "PATCH", "lobby", message.pk, secret, {"message": "late"})
    assert (answer.status_code, answer.json()["error"]) == (403, "TOO_LATE")


@pytest.mark.parametrize(
    "body, code",
    [
        ("{not json", "INVALID_JSON"),
        ("[]", "INVALID_FRAME"),
        ({"message": "x", "handle": "y"}, "INVALID_FRAME"),
        ({}, "MISSING_FIELD"),
        ({"message": 5}, "INVALID_FIELD"),
        ({"message": " "}, "MESSAGE_EMPTY"),
        ({"message": "m" * 2001}, "MESSAGE_TOO_LONG"),
    ],
)
def test_a_bad_edit_body_gets_400_and_changes_nothing(client, body, code):
    make_room()
    secret = make_token()
    message = bots_message(client, secret)
    answer = change(client, "PATCH", "lobby", message.pk, secret, body)
    assert (answer.status_code, answer.json()["error"]) == (400, code)
    assert Message.objects.get().version == 1


def test_a_message_of_another_room_or_deleted_is_not_found_and_a_private_room_is_no_room(client):
    make_room()
    other = make_room("other")
    secret = make_token()
    message = bots_message(client, secret)
    change(client, "DELETE", "lobby", message.pk, secret)
    elsewhere = services.say("other", "weather", "there", bot=True)
    for label, target in (("lobby", message), ("lobby", elsewhere)):
        answer = change(client, "DELETE", label, target.pk, secret)
        assert (answer.status_code, answer.json()["error"]) == (404, "MESSAGE_NOT_FOUND")
    other.private = True
    other.save()
    for label in ("other", "nowhere"):
        answer = change(client, "DELETE", label, elsewhere.pk, secret)
        assert (answer.status_code, answer.json()["error"]) == (404, "NOT_FOUND")


def test_changing_a_message_needs_a_token_and_another_method_gets_405(client):
    make_room()
    secret = make_token()
    message = bots_message(client, secret)
    url = URL % "lobby" + "/%d" % message.pk
    assert client.delete(url).status_code == 401
    answer = client.get(url, HTTP_AUTHORIZATION="Bearer %s" % secret)
    assert (answer.status_code, answer["Allow"]) == (405, "PATCH, DELETE")
    assert Message.objects.get().version == 1


def test_an_edit_keeps_the_bots_handle_its_mark_and_its_author(client):
    make_room()
    secret = make_token()
    message = bots_message(client, secret)
    answer = change(client, "PATCH", "lobby", message.pk, secret, {"message": "rainy"})
    assert answer.status_code == 200
    stored = Message.objects.get()
    assert (stored.handle, stored.bot, stored.guest, stored.user, stored.api_token) == (
        "weather",
        True,
        False,
        None,
        message.api_token,
    )
    assert (answer.json()["handle"], answer.json()["bot"]) == ("weather", True)


def test_a_revoked_token_changes_nothing_it_posted(client):
    make_room()
    secret = make_token()
    message = bots_message(client, secret)
    services.revoke_api_token("bot")
    for method, body in (("PATCH", {"message": "late"}), ("DELETE", None)):
        answer = change(client, method, "lobby", message.pk, secret, body)
        assert (answer.status_code, answer.json()["error"]) == (401, "UNAUTHORIZED")
    assert list(Message.objects.values_list("message", "version", "deleted_at")) == [
        ("sunny", 1, None)
    ]


def test_a_bot_changes_nothing_in_a_private_room_even_its_own_with_a_members_cookie(client):
    room = make_room()
    secret = make_token()
    message = bots_message(client, secret)
    member = User.objects.create_user("ann")
    RoomMembership.objects.create(room=room, user=member, role=RoomMembership.OWNER)
    room.private = True
    room.save()
    client.force_login(member)
    for method, body in (("PATCH", {"message": "secret"}), ("DELETE", None)):
        answer = change(client, method, "lobby", message.pk, secret, body)
        assert (answer.status_code, answer.json()["error"]) == (404, "NOT_FOUND")
    assert list(Message.objects.values_list("message", "version", "deleted_at")) == [
        ("sunny", 1, None)
    ]
    assert Room.objects.get().last_seq == 1


@pytest.mark.parametrize("message_id", [2**31, 2**63, 10**30])
def test_an_id_no_message_can_have_is_not_found(client, message_id):
    make_room()
    secret = make_token()
    bots_message(client, secret)
    for method, body in (("PATCH", {"message": "x"}), ("DELETE", None)):
        answer = change(client, method, "lobby", message_id, secret, body)
        assert (answer.status_code, answer.json()["error"]) == (404, "MESSAGE_NOT_FOUND")
    assert Message.objects.get().version == 1
