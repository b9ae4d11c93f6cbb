"""Threads of a worker process that do one thing every few seconds: the
presence flusher (chat/presence/) and the job sweeper (chat/images/thumbnails.py).

``start`` runs a step in a daemon thread of its own, once per process, for
as long as the process lives. A step that raises is logged when a run of
failures begins and again when a step works after it: an outage of Redis
or PostgreSQL must neither end the thread nor fill the log.
"""

import logging
import threading
import time

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_threads = {}


def start(name, step, every_s):
    """Start the daemon thread ``name`` (str) of this process, unless it
    runs already: it calls ``step()`` (no arguments; its result is
    ignored), then sleeps ``every_s`` seconds (float), for ever. A thread
    of that name that has died is started again. Returns the thread."""
    with _lock:
        thread = _threads.get(name)
        if thread is None or not thread.is_alive():
            thread = threading.Thread(
                target=_run, args=(name, step, every_s), name=name, daemon=True
            )
            thread.start()
            _threads[name] = thread
        return thread


def _run(name, step, every_s):
    failing = False
    while True:
        try:
            step()
        except Exception:  # noqa: BLE001 - an outage must not end the thread
            if not failing:
                logger.exception("%s failed; retrying every %g s", name, every_s)
                failing = True
        else:
            if failing:
                logger.info("%s works again", name)
                failing = False
        time.sleep(every_s)
