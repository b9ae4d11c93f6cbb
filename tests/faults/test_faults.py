"""Faults injected into the real split under a steady chat load. Each test
counts: every message PostgreSQL stored reached every member of its room
(live or through resync), shown once, and the processes recovered."""

import signal

import pytest

from tests.faults.harness import ChatLoad

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
