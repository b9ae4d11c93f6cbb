"""Faults injected into the real split under a steady chat load. Each test
counts: every message PostgreSQL stored reached every member of its room
(live or through resync), shown once, and the processes recovered."""

import signal
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from chat.split import Split
from tests.faults.harness import ChatLoad
from tests.faults.proxy import CuttableProxy

pytestmark = pytest.mark.integration

STEADY = 20  # messages accepted before the fault, and again after it


def test_killing_one_of_two_workers_loses_nothing_stored(fault_split, fault_env):
    load = ChatLoad(fault_split.base_url).start()
    try:
        load.wait_for_accepted(STEADY, timeout=60)

        fault_split.kill(fault_split.workers[0], signal.SIGKILL)
        recovery = load.wait_for_accepted(STEADY, timeout=60)

        report = load.converge(fault_env["DATABASE_URL"])
    finally:
        load.stop()
    fault_split.check_alive()
    assert len(fault_split.workers) == 1
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
    env = {k: v for k, v in fault_env.items() if isinstance(v, str)}
    env["DATABASE_URL"] = urlunsplit(
        database._replace(netloc="%s@127.0.0.1:%d" % (database.username, proxy.port))
    )
    with Split(env) as split:
        split.release()
        split.start(workers=2)
        load = ChatLoad(split.base_url).start()
        try:
            load.wait_for_accepted(STEADY, timeout=60)

            proxy.cut()
            time.sleep(3)
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
    assert report["accepted"] == report["stored"], report
    print("\npostgresql cut for 3 s: %s, %.1f s to %d more accepted" % (report, recovery, STEADY))
