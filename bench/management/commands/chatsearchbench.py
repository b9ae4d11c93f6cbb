"""``manage.py chatsearchbench``: fill a scratch PostgreSQL database with a
million messages and time search on it (bench/search_speed.py;
docs/benchmark.md, "Search"). Prints one JSON line per kind of query, and
one for the fill."""

import json
import os
import subprocess
import sys
import uuid

from django.core.management.base import BaseCommand, CommandError

from bench import search_speed
from bench.services import default_postgres_url, scratch_database
from bench.split import PROJECT_DIR


class Command(BaseCommand):
    help = (
        "Fill a scratch PostgreSQL database with messages (default 1,000,000 over 200 "
        "rooms) and report search p50/p99 in ms per kind of query."
    )

    def add_arguments(self, parser):
        parser.add_argument("--messages", type=int, default=1_000_000)
        parser.add_argument("--rooms", type=int, default=200)
        parser.add_argument("--queries", type=int, default=100, help="queries per kind")
        parser.add_argument(
            "--postgres-url",
            default=None,
            help="the server to make the scratch database on (default: DATABASE_URL if "
            "PostgreSQL, else postgres://postgres@127.0.0.1:5432/postgres)",
        )
        parser.add_argument(
            "--insert-cost",
            action="store_true",
            help="instead, time what the search column and indexes add to an INSERT (µs)",
        )
        parser.add_argument(
            "--measure-only",
            action="store_true",
            help=(
                "time the queries on this process's own DATABASE_URL, filled already "
                "(what the command runs itself in a child process)"
            ),
        )

    def handle(self, *args, **options):
        if options["messages"] < options["rooms"] or options["rooms"] < 10:
            raise CommandError("Need at least 10 rooms and a message per room.")
        progress = self.stderr.write
        if options["measure_only"]:
            search_speed.measure(options["queries"], progress=self.stdout.write)
            return
        server = options["postgres_url"] or default_postgres_url()
        name = "chatsearch_%d_%s" % (os.getpid(), uuid.uuid4().hex[:6])
        if options["insert_cost"]:
            with scratch_database(server, name) as url:
                self.stdout.write(json.dumps(search_speed.insert_cost(url)))
            return
        with scratch_database(server, name) as url:
            env = dict(os.environ, DATABASE_URL=url)
            progress("Migrating %s" % name)
            self._manage(env, "migrate", "--noinput", "-v0")
            timings = search_speed.fill(
                url, options["messages"], options["rooms"], progress=progress
            )
            fill = {"fill": timings, "messages": options["messages"], "rooms": options["rooms"]}
            self.stdout.write(json.dumps(fill))
            # Timed in a process whose settings name the scratch database,
            # through the chat's own search code.
            self._manage(
                env, "chatsearchbench", "--measure-only", "--queries", str(options["queries"])
            )

    def _manage(self, env, *args):
        """Run ``manage.py args`` with ``env``, its output passed through."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=PROJECT_DIR, env=env, check=False
        )
        if done.returncode != 0:
            raise CommandError("manage.py %s exited %d" % (args[0], done.returncode))
