"""Faults injected into the real split under a steady chat load. Each test
counts: every message PostgreSQL stored reached every member of its room
(live or through resync), shown once, and the processes recovered."""

import re
import signal
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

import psutil
import pytest

from bench.split import running
from tests.faults.harness import ChatLoad
from tests.faults.proxy import CuttableProxy

pytestmark = pytest.mark.integration

STEADY = 20  # messages accepted before the fault, and again after it


def test_killing_one_of_two_workers_loses_nothing_stored(fault_split, fault_env):
    load = ChatLoad(fault_split.base_url).start()
    try:
        load.wait_for_accepted(STEADY, timeout=60)

        killed, survivor = fault_split.workers
        fault_split.kill(killed, signal.SIGKILL)
        recovery = load.wait_for_accepted(STEADY, timeout=60)

        report = load.converge(fault_env["DATABASE_URL"])
    finally:
        load.stop()
    fault_split.check_alive()
    # The messages after the kill went through the one worker left.
    assert killed.returncode == -signal.SIGKILL
    assert survivor.poll() is None
    print("\nworker killed: %s, %.1f s to %d more accepted" % (report, recovery, STEADY))


def test_clients_reconnect_and_resync_after_daphne_is_killed_and_restarted(fault_split, fault_env):
    load = ChatLoad(fault_split.base_url).start()
    try:
        load.wait_for_accepted(STEADY, timeout=60)

        fault_split.kill(fault_split.web, signal.SIGKILL)
        time.sleep(1)
        fault_split.start_web()
        recovery = load.wait_for_accepted(STEADY, timeout=60)

        report = load.converge(fault_env["DATABASE_URL"])
    finally:
        load.stop()
    fault_split.check_alive()
    assert report["reconnects"] >= len(load.members)
    print("\ndaphne restarted: %s, %.1f s to %d more accepted" % (report, recovery, STEADY))


def test_senders_get_unavailable_while_postgresql_is_unreachable(fault_env):
    database = urlsplit(fault_env["DATABASE_URL"])
    proxy = CuttableProxy(database.hostname, database.port or 5432).start()
    env = dict(fault_env)
    env["DATABASE_URL"] = urlunsplit(
        database._replace(netloc="%s@127.0.0.1:%d" % (database.username, proxy.port))
    )
    with running(env, workers=2) as split:
        load = ChatLoad(split.base_url).start()
        try:
            load.wait_for_accepted(STEADY, timeout=60)

            proxy.cut()
            time.sleep(1.5)
            page_status, page = fetch_page("%s/%s/" % (split.base_url, load.labels[0]))
            time.sleep(1.5)
            unavailable_during_outage = load.errors().get("UNAVAILABLE", 0)
            proxy.restore()
            recovery = load.wait_for_accepted(STEADY, timeout=60)

            report = load.converge(fault_env["DATABASE_URL"])
            # Every frame was answered: stored and broadcast, or refused.
            load.wait_for_answers()
        finally:
            load.stop()
            proxy.stop()
        split.check_alive()
    assert unavailable_during_outage > 0, report
    # A page that needs the database fails plainly, giving nothing away.
    assert page_status == 500
    assert (
        "Traceback" not in page
        and "psycopg2" not in page
        and "Error" not in page.replace("Server Error", "")
    )
    assert report["accepted"] == report["stored"], report
    print("\npostgresql cut for 3 s: %s, %.1f s to %d more accepted" % (report, recovery, STEADY))


@pytest.fixture
def slow_reader_split(fault_env):
    # The hard limit alone: the stall rule (over 64 KiB for 10 s) could cut
    # the slow reader, or a member slowed by a loaded machine, first.
    env = dict(fault_env, CHAT_SOCKET_BUFFER_MAX_BYTES="262144", CHAT_SOCKET_STALL_SECONDS="3600")
    with running(env, workers=2) as split:
        yield split


def test_a_reader_that_stops_reading_is_cut_off_and_resyncs(slow_reader_split, fault_env):
    split = slow_reader_split
    load = ChatLoad(
        split.base_url,
        rooms=2,
        members=4,
        senders=2,
        rate_per_sender=25,
        message_size=1900,
        small_buffers=1,
    ).start()
    slow = load.members[-1]
    daphne = psutil.Process(split.web.pid)
    try:
        load.wait_for_accepted(STEADY, timeout=60)
        rss_before = daphne.memory_info().rss

        load.set_reading(slow, False)
        cut_off = wait_for_log(split, split.web, "Cutting off", timeout=120)
        # The room went on meanwhile, and Daphne did not keep what the slow
        # reader would not take.
        load.wait_for_accepted(STEADY, timeout=60)
        rss_growth = daphne.memory_info().rss - rss_before

        load.set_reading(slow, True)
        report = load.converge(fault_env["DATABASE_URL"])
    finally:
        load.stop()
    split.check_alive()
    assert slow.connects >= 2  # it came back on a new socket
    # Daphne held at most the limit (262,144 bytes) plus the send that crossed it.
    held = int(re.search(r"has not read (\d+) bytes", split.log_of(split.web)).group(1))
    assert 262144 < held <= 262144 + 4096, held
    print(
        "\nslow reader: cut off after %.1f s; Daphne grew %d bytes; %s"
        % (cut_off, rss_growth, report)
    )


def fetch_page(url):
    """``(status, body)`` of a GET, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for_log(split, process, text, timeout):
    """Seconds until ``text`` appears in ``process``'s output (float)."""
    started = time.monotonic()
    while text not in split.log_of(process):
        assert time.monotonic() - started < timeout, "%r never logged:\n%s" % (text, split.logs())
        time.sleep(0.2)
    return time.monotonic() - started


def test_a_redis_restart_is_survived_without_restarting_anything(
    fault_split, fault_env, fault_redis
):
    redis_server = fault_redis
    load = ChatLoad(fault_split.base_url).start()
    try:
        load.wait_for_accepted(STEADY, timeout=60)

        redis_server.stop()
        time.sleep(2)
        redis_server.start()
        recovery = load.wait_for_accepted(STEADY, timeout=120)

        report = load.converge(fault_env["DATABASE_URL"])
    finally:
        load.stop()
    fault_split.check_alive()
    assert len(fault_split.workers) == 2
    print(
        "\nredis restarted: %s, %.1f s after restart to %d more accepted"
        % (report, recovery, STEADY)
    )
