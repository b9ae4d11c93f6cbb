"""chat/periodic.py: a worker's background threads go on through failures,
logging each run of them once."""

import logging
import threading
import uuid

from chat import periodic


def test_a_step_runs_again_and_again_and_a_run_of_failures_is_logged_once(caplog):
    calls = []
    done = threading.Event()

    def step():
        calls.append(len(calls))
        if len(calls) in (2, 3, 4):
            raise ConnectionError("Redis is away")
        if len(calls) >= 6:
            done.set()

    name = "test-%s" % uuid.uuid4().hex[:8]
    with caplog.at_level(logging.INFO, logger="chat.periodic"):
        thread = periodic.start(name, step, 0.01)
        assert done.wait(timeout=30)

    assert thread.daemon and thread.name == name
    failed = [r for r in caplog.records if "failed; retrying" in r.getMessage()]
    recovered = [r for r in caplog.records if "works again" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info[0] is ConnectionError
    assert len(recovered) == 1


def test_a_thread_is_started_once_per_name_and_again_once_it_has_died():
    name = "test-%s" % uuid.uuid4().hex[:8]
    first = periodic.start(name, lambda: None, 0.01)
    assert periodic.start(name, lambda: None, 0.01) is first

    # A thread of that name that has ended, as one would after an error
    # that is not an Exception.
    ended = threading.Thread(target=lambda: None)
    ended.start()
    ended.join()
    periodic._threads[name] = ended

    second = periodic.start(name, lambda: None, 0.01)
    assert second is not ended and second.is_alive()
