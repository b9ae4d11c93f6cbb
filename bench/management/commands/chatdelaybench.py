"""``manage.py chatdelaybench``: how late messages sent later are posted,
on a split of its own with the delay process (bench/delay_precision.py;
docs/performance.md, "Messages sent later"). Prints one JSON line.

Needs the development requirements, real Redis and PostgreSQL (REDIS_URL
and DATABASE_URL, or their local defaults)."""

import json

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Schedule --count messages over --over seconds on a split of its own "
        "(Daphne, workers, rundelay) and report how late each was posted (p50, p99, max, in ms)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=100, help="messages (default 100)")
        parser.add_argument(
            "--over", type=float, default=60.0, help="seconds their times span (default 60)"
        )
        parser.add_argument(
            "--lead", type=float, default=5.0, help="seconds before the first (default 5)"
        )
        parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")

    def handle(self, *args, count, over, lead, workers, **options):
        from bench import delay_precision

        result = delay_precision.measure(
            count=count,
            over_s=over,
            lead_s=lead,
            workers=workers,
            progress=lambda line: self.stderr.write(line),
        )
        self.stdout.write(json.dumps(result))
