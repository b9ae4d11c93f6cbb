"""The round-trip counter's parts (bench/round_trips.py): MONITOR's lines
read and put down to hops, PostgreSQL's round trips counted on the wire,
and what ``chatbench --count-round-trips`` refuses. The count on the real
split is tests/integration/test_round_trips.py."""

import contextlib
import hashlib
import io
import json

import psycopg2
import pytest
from django.core.management import CommandError, call_command

from bench import round_trips, services
from bench.round_trips import BACKGROUND, DAPHNE, WORKER, Command
from chat import services as chat_services
from chat.models import RegisteredHandle
from chat.transport.layer import scripts

PREFIX = "asgi:"


def sha(text):
    return hashlib.sha1(text.encode()).hexdigest().encode()


def evalsha(text, *keys):
    return (b"EVALSHA", sha(text), str(len(keys)).encode(), *(key.encode() for key in keys))


def command(*args, client="127.0.0.1:5000", at=0.0):
    return Command(
        at, client, tuple(arg if isinstance(arg, bytes) else arg.encode() for arg in args)
    )


def hop(role, *args):
    return round_trips.redis_hop(role, command(*args), round_trips.script_names(), PREFIX)


def test_a_monitor_line_is_read_with_its_client_and_unescaped_arguments():
    line = b'+1796459941.435009 [0 127.0.0.1:34432] "SET" "k\\"ey" "a\\\\b\\x00\\n"\r\n'
    assert round_trips.parse_monitor_line(line) == Command(
        1796459941.435009, "127.0.0.1:34432", (b"SET", b'k"ey', b"a\\b\x00\n")
    )
    script_line = b'1796459941.435057 [0 lua] "GET" "a"'
    assert round_trips.parse_monitor_line(script_line).client == "lua"
    assert round_trips.parse_monitor_line(b"+OK\r\n") is None


def test_redis_commands_go_to_the_hop_of_their_process_and_purpose():
    assert hop(DAPHNE, *evalsha(scripts.lua_send, "asgi:websocket.receive", "asgi-meta:x")) == (
        "daphne_in",
        "EVALSHA send.lua",
    )
    daphne_pop = ("BLMPOP", "5", "1", "asgi:daphne.response.x!", "LEFT", "COUNT", "100")
    assert hop(DAPHNE, *daphne_pop) == ("daphne_out", "BLMPOP")
    worker_pop = ("BLMPOP", "5", "1", "asgi:websocket.receive", "LEFT", "COUNT", "1")
    assert hop(WORKER, *worker_pop) == ("worker_receive", "BLMPOP")
    assert hop(WORKER, "LMPOP", "1", "asgi:websocket.receive", "LEFT", "COUNT", "1") == (
        "worker_receive",
        "LMPOP",
    )
    assert hop(WORKER, *evalsha(scripts.lua_resolve)) == ("worker_receive", "EVALSHA resolve.lua")
    assert hop(WORKER, *evalsha(scripts.lua_send_group, "asgi::group:chat.room", "asgi:b")) == (
        "worker_group_send",
        "EVALSHA send_group.lua",
    )
    session = "asgi:session:1:django.contrib.sessions.cachechn0123"
    assert hop(WORKER, "GET", session) == ("worker_session", "GET")
    assert hop(WORKER, "SET", session, "{}", "EX", "86400", "XX") == ("worker_session", "SET")
    # Anything unknown is counted where its process is, never left out.
    assert hop(WORKER, "HGETALL", "asgi:presence:counts:room") == ("worker_other", "HGETALL")
    assert hop(WORKER, *evalsha("return 1")) == ("worker_other", "EVALSHA script e0e1f9fa")
    assert hop(None, "GET", "x") == ("unattributed", "GET")


def test_heartbeats_and_the_presence_flusher_are_background():
    assert hop(DAPHNE, "SET", "asgi:daphne-alive:daphne.response.x!", "1")[0] == BACKGROUND
    assert hop(WORKER, "SET", "asgi:worker-alive:host:12", "1")[0] == BACKGROUND
    assert hop(WORKER, "ZRANGEBYSCORE", "asgi:presence:due", "-inf", "1")[0] == BACKGROUND
    presence_frame = evalsha(scripts.lua_send_group, "asgi::group:chat.room.presence", "asgi:b")
    assert hop(WORKER, *presence_frame)[0] == BACKGROUND


def test_a_receive_loop_whose_blocking_pop_timed_out_is_an_idle_wakeup():
    commands = [
        command("BLMPOP", "5", "1", "asgi:websocket.receive", client="a:1", at=0.0),
        command("BLMPOP", "5", "1", "asgi:daphne.response.x!", client="a:2", at=0.5),
        command("EVALSHA", "x", "0", client="a:2", at=0.6),
        command("EVALSHA", "x", "0", client="a:1", at=5.0),
        command("GET", "k", client="lua", at=5.0),
        command("BLMPOP", "5", "1", "asgi:websocket.receive", client="a:1", at=5.0),
    ]
    # Served in 0.1 s: a message's. Timed out after 5 s: idle. Followed by
    # nothing yet: a message's re-arm.
    assert round_trips.idle_wakeups(commands, blpop_timeout=5) == {0, 3}


def test_postgresql_statements_are_told_apart_by_what_they_do():
    # With mentions to store (True) or without (False), one statement each.
    for lock_and_store in chat_services._LOCK_AND_INSERT_SQL.values():
        assert round_trips.postgresql_kind(lock_and_store) == ("lock and store", "worker_store")
    for lock_and_store in chat_services._LOCK_AND_INSERT_ONCE_SQL.values():
        assert round_trips.postgresql_kind(lock_and_store) == ("lock and store", "worker_store")
    for store in [*chat_services._INSERT_SQL.values(), *chat_services._INSERT_ONCE_SQL.values()]:
        assert round_trips.postgresql_kind(store) == ("store", "worker_store")
    # Who a text with an "@" mentions: looked up on the store's hop, not
    # taken for the cached handle check that reads the same table.
    mentioned = str(
        RegisteredHandle.objects.filter(canonical__in=["bob"])
        .values_list("canonical", "user_id", "user__username")
        .query
    )
    assert round_trips.postgresql_kind(mentioned) == ("mention lookup", "worker_store")
    assert round_trips.postgresql_kind("SELECT pg_advisory_unlock(1, 2)") == (
        "unlock",
        "worker_store",
    )
    assert round_trips.postgresql_kind('SELECT  "chat_message"."id"\nFROM x') == (
        'select "chat_message"."id" from x',
        "worker_other",
    )


def test_the_proxy_counts_each_query_the_client_waits_for(postgres_url):
    with round_trips.PostgresCounter(postgres_url) as counter:
        with contextlib.closing(psycopg2.connect(counter.url)) as connection:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                # Two statements in one query string: one round trip.
                cursor.execute("SELECT 2; SELECT 3")
                assert cursor.fetchone() == (3,)
            connection.autocommit = False
            with connection.cursor() as cursor:
                cursor.execute("SELECT 4")
            connection.commit()
    texts = [statement.text for statement in counter.statements]
    assert texts[-5:] == ["SELECT 1", "SELECT 2; SELECT 3", "BEGIN", "SELECT 4", "COMMIT"]


def test_the_monitor_sees_a_scripts_own_commands_after_it():
    try:
        server = services.RedisServer().start()
    except (OSError, TimeoutError) as error:
        pytest.skip("No redis-server to start: %s" % error)
    try:
        with round_trips.RedisMonitor(server.url) as monitor:
            before = monitor.commandstats()
            monitor.control.eval("redis.call('SET', KEYS[1], 'x') return 1", 1, "k")
            monitor.mark("done")
            after = monitor.commandstats()
            end = monitor.wait_for(lambda c: c.name == "INFO" and len(c.args) > 1, start=1)
    finally:
        server.stop()
    seen = [(c.client == "lua", c.args[:2]) for c in monitor.commands[1:end]]
    assert seen == [
        (False, (b"EVAL", b"redis.call('SET', KEYS[1], 'x') return 1")),
        (True, (b"SET", b"k")),
        (False, (b"ECHO", b"done")),
    ]
    # The first INFO is counted in ``after``; what ran between is the rest.
    assert sum(after.values()) - sum(before.values()) == len(seen) + 1


@pytest.mark.parametrize(
    "arguments, refusal",
    [
        (["--url", "http://127.0.0.1:8000"], "boots a split of its own"),
        (["--redis-url", "redis://127.0.0.1:6379/0"], "redis-server of its own"),
        (["--layer", "stock"], "the chat's layer only"),
        (["--messages", "0"], "at least 1"),
    ],
)
def test_counting_round_trips_refuses_what_it_cannot_count(arguments, refusal):
    with pytest.raises(CommandError, match=refusal):
        call_command("chatbench", "--count-round-trips", *arguments)


def test_a_window_is_counted_per_message_and_hop_and_printed_by_table(tmp_path):
    ports = {1000: "chatbench", 1001: "daphne", 1002: "worker.1"}
    daphne, worker, bench = ("127.0.0.1:%d" % port for port in (1001, 1002, 1000))
    session = "asgi:session:1:django.contrib.sessions.cachechn0123"
    commands = [
        command("INFO", "commandstats", client=bench),
        command("ECHO", "round-trips:0", client=bench),
        command(*evalsha(scripts.lua_send, "asgi:websocket.receive", "x"), client=daphne),
        command("RPUSH", "asgi:websocket.receive", "~1|a|b", client="lua"),
        command("GET", session, client=worker),
        command("ZRANGEBYSCORE", "asgi:presence:due", "-inf", "1", client=worker),
        command(*evalsha(scripts.lua_send_group, "asgi::group:chat.r"), client=worker),
        command("RPUSH", "asgi:daphne.response.x!", "~1|x!1|c", client="lua"),
        command("RPUSH", "asgi:daphne.response.x!", "~1|x!2|c", client="lua"),
        command("ECHO", "round-trips:1", client=bench),
        command("GET", session, client=worker),
        command("INFO", "commandstats", client=bench),
    ]
    redis = round_trips.redis_section(
        commands, ports, round_trips.script_names(), PREFIX, messages=2, blpop_timeout=5
    )
    assert redis["per_message"] == 2.0
    assert redis["hops"] == {
        "daphne_in": {"EVALSHA send.lua": 0.5},
        "worker_session": {"GET": 1.0},
        "worker_group_send": {"EVALSHA send_group.lua": 0.5},
    }
    assert redis["spread"] == {"min": 1, "median": 2.0, "max": 3}
    assert redis["in_scripts"] == {
        "per_message": 1.5,
        "hops": {"daphne_in": {"RPUSH": 0.5}, "worker_group_send": {"RPUSH": 1.0}},
    }
    assert redis["background"] == {"presence flusher: ZRANGEBYSCORE": 1}

    statements = [
        round_trips.Statement(1.5, 1002, chat_services._LOCK_AND_INSERT_SQL[False]),
        round_trips.Statement(1.6, 1002, 'SELECT "chat_room"."webhook_url" FROM "chat_room" x'),
        round_trips.Statement(2.5, 1002, "SELECT pg_advisory_unlock(1, 2)"),
        round_trips.Statement(2.6, 1000, "SELECT count(*) FROM chat_message"),
    ]
    postgresql = round_trips.postgresql_section(statements, ports, [1.0, 2.0], messages=2)
    assert postgresql["hops"] == {"worker_store": {"lock and store": 0.5, "unlock": 0.5}}
    assert postgresql["cached_lookups"] == {"webhook URL lookup": 1}

    record = {"scenario": "round-trips", "sent": 2, "workers": 1, "layer": "chat"}
    record.update(redis=redis, postgresql=postgresql)
    recorded = tmp_path / "counts.jsonl"
    recorded.write_text(json.dumps(record) + "\n")
    table = io.StringIO()
    call_command("chatbench", "--table=%s" % recorded, stdout=table)
    assert "| Daphne in | Redis | EVALSHA send.lua | 0.5 | RPUSH 0.5 |" in table.getvalue()
    assert "| worker: store | PostgreSQL | unlock | 0.5 | |" in table.getvalue()
    assert "| all | Redis | EVALSHA 1, GET 1 | **2** | 1.5 |" in table.getvalue()
