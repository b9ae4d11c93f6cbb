from django.core.cache import caches
from django.test import RequestFactory, override_settings

from chat.ratelimit import (
    bucket_key,
    client_address,
    peek_cached_token,
    take_cached_token,
    take_token,
)


def spend(session, count, now):
    return [take_token(session, now=now) for _ in range(count)]


@override_settings(CHAT_RATE_LIMIT_BURST=3, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_a_burst_is_allowed_then_refused():
    session = {}
    assert spend(session, 5, now=1000.0) == [True, True, True, False, False]


@override_settings(CHAT_RATE_LIMIT_BURST=3, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_tokens_come_back_at_the_sustained_rate_up_to_the_burst():
    session = {}
    spend(session, 3, now=1000.0)
    assert spend(session, 2, now=1001.0) == [True, False]  # one per second
    assert spend(session, 4, now=1100.0) == [True, True, True, False]  # never above 3


@override_settings(CHAT_RATE_LIMIT_BURST=2, CHAT_RATE_LIMIT_PER_MINUTE=60)
def test_a_clock_stepping_back_does_not_drain_the_bucket():
    session = {}
    spend(session, 1, now=1000.0)
    assert take_token(session, now=900.0) is True


@override_settings(CHAT_RATE_LIMIT_PER_MINUTE=0)
def test_a_zero_rate_turns_the_limit_off():
    session = {}
    assert all(spend(session, 1000, now=1000.0))


def test_peeking_at_a_cached_bucket_spends_nothing():
    caches["channel_sessions"].delete("peek-test")
    assert peek_cached_token("peek-test", 2, 60, now=100.0) is None
    assert take_cached_token("peek-test", 2, 60, now=100.0) is None
    assert take_cached_token("peek-test", 2, 60, now=100.0) is None
    assert peek_cached_token("peek-test", 2, 60, now=100.0) == 1
    assert peek_cached_token("peek-test", 2, 60, now=100.0) == 1
    assert peek_cached_token("peek-test", 2, 60, now=101.0) is None
    assert take_cached_token("peek-test", 2, 60, now=101.0) is None


def test_the_client_address_is_remote_addr_never_a_header():
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.1", HTTP_X_FORWARDED_FOR="6.6.6.6")
    assert client_address(request) == "203.0.113.1"


def test_bucket_keys_of_different_clients_never_meet_whatever_their_parts_hold():
    # Neighbours: what one client's part could hold of another's key.
    clients = [
        ("upload", "address", "10.0.0.1"),
        ("upload", "address", "10.0.0.1:session"),
        ("upload", "address:10.0.0.1"),
        ("upload", "session", "abc"),
        ("upload", "session", "abc:"),
        ("upload", "session:abc"),
        ("upload", "user", 5),
        ("upload", "user", "5:x"),
        ("upload", "user:5"),
        ("upload:user", 5),
        ("api", 5),
        ("api", "5%3A"),
        ("api", "5:"),
        ("rooms", "address", "::1"),
        ("rooms", "address", ":"),
        ("rooms", "address:", ":1"),
    ]
    keys = [bucket_key(*parts) for parts in clients]
    assert len(set(keys)) == len(clients)


def test_a_bucket_key_cannot_be_split_anew_by_what_a_part_holds():
    key = bucket_key("upload", "address", "a:b%c\nd e")
    assert key == "rate:upload:address:a%3Ab%25c%0Ad%20e"
    assert key.count(":") == 3
