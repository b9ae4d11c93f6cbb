"""Run the Procfile's process types as child processes.

The integration tests and the benchmark run the chat exactly as a Procfile
runner or Heroku would: the ``release`` command, one ``web`` process
(Daphne) and any number of ``worker`` processes (``runworker``), each
started from its own Procfile line. Unlike ``honcho start``, which stops
everything when one process exits, this keeps the others running, so a test
can kill one worker and watch the rest carry on.
"""

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from honcho.environ import parse_procfile

from bench.services import free_port

PROJECT_DIR = Path(__file__).resolve().parent.parent


def production_env(database_url, redis_url, prefix, **extra):
    """The environment (dict of str) of a split configured as production is:
    the database at ``database_url``, the channel layer and channel
    sessions in the Redis at ``redis_url`` under the key ``prefix``,
    ``DEBUG`` off, a fresh random ``SECRET_KEY``, the local host names
    allowed and plain HTTP. The limit on new rooms per client address
    (``CHAT_ROOMS_PER_HOUR``) is lifted, because every client of a test or
    a benchmark comes from one address, 127.0.0.1. ``extra`` (str values)
    is added last, so it can also override any of these."""
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHANNEL_LAYER_PREFIX": prefix,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "CHAT_ROOMS_PER_HOUR": "1000000",
    }
    env.update(extra)
    return env


def procfile_commands(path=PROJECT_DIR / "Procfile"):
    """The Procfile's process types: a dict of name (str) to shell command (str)."""
    return dict(parse_procfile(Path(path).read_text()).processes)


class ProcessFailed(RuntimeError):
    """A process of the split exited or never became ready."""


class Split:
    """Daphne and ``runworker`` processes started from the Procfile.

    ``env`` (dict of str) is added to this process's environment for every
    child: ``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY`` and so on. The
    ``web`` process listens on ``port`` (int; a free one when None). Each
    process writes its output to a file in ``log_dir``, which ``logs()``
    reads back.
    """

    def __init__(self, env, port=None, log_dir=None, procfile=PROJECT_DIR / "Procfile"):
        self.commands = procfile_commands(procfile)
        self.port = port or free_port()
        self.log_dir = Path(log_dir or tempfile.mkdtemp(prefix="chat-split-"))
        self.env = dict(os.environ)
        self.env.update(env)
        self.env["PORT"] = str(self.port)
        self.env["PYTHONUNBUFFERED"] = "1"
        # The Procfile says `daphne` and `python`: they must be this
        # interpreter's, whatever the caller's PATH says.
        bin_dir = str(Path(sys.executable).parent)
        self.env["PATH"] = bin_dir + os.pathsep + self.env.get("PATH", "")
        self.web = None
        self.workers = []
        # The delay process type (rundelay), when started.
        self.delay = None
        self._started = 0

    @property
    def base_url(self):
        """The web process's HTTP root, e.g. ``http://127.0.0.1:8000``."""
        return "http://127.0.0.1:%d" % self.port

    def ws_url(self, path):
        """The WebSocket URL (str) of ``path`` on the web process."""
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def release(self, timeout=120):
        """Run the ``release`` command (migrations) and ``collectstatic`` to
        completion. Raises ``ProcessFailed`` if either fails."""
        self._run_to_end(self.commands["release"], "release", timeout)
        self._run_to_end("python manage.py collectstatic --noinput -v0", "collectstatic", timeout)

    def start(self, workers=2, timeout=60, delay=False):
        """Start the web process, ``workers`` worker processes and, when
        ``delay`` (bool), the delay process (``start_delay``), and wait
        until the chat answers HTTP (``timeout`` in seconds). Returns self.

        Raises ``ProcessFailed`` if a process exits or the chat never answers.
        """
        self.start_web()
        for _ in range(workers):
            self.start_worker()
        if delay:
            self.start_delay()
        self.wait_ready(timeout)
        return self

    def start_delay(self):
        """Start (or restart) the ``delay`` process (``rundelay``, the
        delay server of messages sent later); returns its ``Popen``.
        ``wait_ready`` then waits until it listens."""
        self.delay = self._spawn("delay", self.commands["delay"])
        return self.delay

    def start_web(self, extra_args=""):
        """Start (or restart) the ``web`` process; returns its ``Popen``.
        ``extra_args`` (str) is appended to the Procfile command."""
        self.web = self._spawn("web", (self.commands["web"] + " " + extra_args).strip())
        return self.web

    def start_worker(self, extra_args="", kind="worker"):
        """Start one more process of the Procfile's ``kind`` (``worker``, or
        another worker type such as ``thumbs``); returns its ``Popen``.
        ``extra_args`` (str) is appended to its command, e.g.
        ``--exclude-channels=chat.thumbnail``."""
        worker = self._spawn(kind, (self.commands[kind] + " " + extra_args).strip())
        self.workers.append(worker)
        return worker

    def wait_ready(self, timeout=60):
        """Wait until every worker listens and the chat serves ``/`` (200).

        ``timeout`` is in seconds. Raises ``ProcessFailed`` otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            listening = all("Listening on channels" in self.log_of(w) for w in self.workers)
            if self.delay is not None:
                listening = listening and "Listening on asgi.delay" in self.log_of(self.delay)
            if listening:
                try:
                    with urllib.request.urlopen(self.base_url + "/", timeout=5) as response:
                        if response.status == 200:
                            return
                except (urllib.error.URLError, OSError):
                    pass
            time.sleep(0.1)
        raise ProcessFailed("The split did not become ready in %d s.\n%s" % (timeout, self.logs()))

    def check_alive(self):
        """Raise ``ProcessFailed`` if the web process, a worker or the delay
        process has exited."""
        for process in [self.web, self.delay] + self.workers:
            if process is not None and process.poll() is not None:
                raise ProcessFailed(
                    "%s exited with %s.\n%s" % (process.name, process.returncode, self.logs())
                )

    def kill(self, process, sig=signal.SIGKILL):
        """Send ``sig`` to one process of the split and reap it."""
        if process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)
        if process in self.workers:
            self.workers.remove(process)
        if process is self.web:
            self.web = None
        if process is self.delay:
            self.delay = None

    def stop(self):
        """Stop every process: SIGTERM, then SIGKILL after 10 s."""
        processes = [p for p in [self.web, self.delay] + self.workers if p is not None]
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.web = None
        self.delay = None
        self.workers = []

    def log_of(self, process):
        """Everything ``process`` has written so far (str)."""
        return Path(process.log_path).read_text(errors="replace")

    def logs(self, tail=40):
        """The last ``tail`` lines of every process's output, for failure reports."""
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-tail:]
            parts.append("--- %s ---\n%s" % (path.name, "\n".join(lines)))
        return "\n".join(parts)

    def _spawn(self, kind, command):
        self._started += 1
        name = "%s.%d" % (kind, self._started)
        log_path = self.log_dir / ("%s.log" % name)
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                ["/bin/sh", "-c", "exec " + command],
                cwd=PROJECT_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        process.name = name
        process.log_path = log_path
        return process

    def _run_to_end(self, command, name, timeout):
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=PROJECT_DIR,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise ProcessFailed(
                "%s failed (%s):\n%s%s" % (name, result.returncode, result.stdout, result.stderr)
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


def manage(env, *args, timeout=120):
    """Run ``manage.py`` with ``args`` (str each) against the split of
    ``env`` (dict of str, added to this process's environment), as an
    operator would; returns its stdout (str). Raises ``ProcessFailed``, with
    its stderr, when it exits non-zero, and ``subprocess.TimeoutExpired``
    after ``timeout`` seconds."""
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT_DIR,
        env=dict(os.environ, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise ProcessFailed("manage.py %s exited %d: %s" % (args[0], done.returncode, done.stderr))
    return done.stdout


@contextlib.contextmanager
def running(env, workers=2, delay=False, **options):
    """A ``Split`` with ``env`` for the ``with`` block: released (migrated,
    static files collected), started with ``workers`` workers and, when
    ``delay`` (bool), the delay process, and ready; stopped afterwards.
    ``options`` go to ``Split``. Raises ``ProcessFailed`` if it cannot
    start."""
    with Split(env, **options) as split:
        split.release()
        split.start(workers=workers, delay=delay)
        yield split
