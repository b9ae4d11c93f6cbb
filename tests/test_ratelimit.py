from django.test import override_settings

from chat.ratelimit import bucket_key, take_token


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
