"""``manage.py chatprune [--days N] [--dry-run]``: delete the records of
background work that has ended, older than ``N`` days (30 by default), so
that they do not grow without end:

- webhook deliveries that were delivered or given up (chat/webhooks.py);
- image uploads whose job failed and was never retried, with their files
  in the storage (chat/images/thumbnails.py).

Messages, and the uploads that became messages, are never touched; nor is
anything still pending or running. Meant to run once a day, from cron or
Heroku Scheduler (docs/operations.md, "Pruning"). Deletes in batches of
``BATCH_SIZE`` rows and prints its progress after each.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from chat import webhooks
from chat.images import thumbnails

# Rows deleted per statement: small enough to hold no lock for long on a
# busy table, large enough that a million rows take a few thousand trips.
BATCH_SIZE = 500


class Command(BaseCommand):
    help = (
        "Delete ended webhook deliveries, and failed image uploads with their "
        "files, older than --days days."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=30,
            help="keep what ended within this many days (default 30, at least 1)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="only count what would be deleted"
        )

    def handle(self, *args, **options):
        """Delete, or with ``--dry-run`` count, and print one line per kind
        of record. ``--days`` under 1 is a ``CommandError`` (exit status 1),
        as is a file the storage could not delete (after everything else is
        done; the logs name the files)."""
        days = options["days"]
        if days < 1:
            raise CommandError("--days must be at least 1.")
        before = timezone.now() - timedelta(days=days)
        deliveries = webhooks.ended_before(before)
        uploads = thumbnails.failed_before(before)
        if options["dry_run"]:
            self.stdout.write(
                "Would delete %d webhook deliveries and %d failed uploads that ended "
                "before %s."
                % (deliveries.count(), uploads.count(), before.strftime("%Y-%m-%d %H:%M UTC"))
            )
            return
        total = deliveries.count()
        deleted = 0
        for batch in batches(deliveries):
            deleted += deliveries.filter(pk__in=batch).delete()[0]
            self.progress("webhook deliveries", deleted, total)
        self.stdout.write("Deleted %d webhook deliveries." % deleted)

        total = uploads.count()
        deleted = files = kept_files = 0
        for batch in batches(uploads):
            for upload in uploads.filter(pk__in=batch):
                removed = thumbnails.delete_failed(upload)
                if removed is None:
                    continue
                deleted += 1
                files += removed
                kept_files += bool(upload.original.name) + bool(upload.thumbnail.name) - removed
            self.progress("failed uploads", deleted, total)
        self.stdout.write("Deleted %d failed uploads and %d files." % (deleted, files))
        if kept_files:
            raise CommandError(
                "%d files could not be deleted from the storage; the log names them." % kept_files
            )

    def progress(self, what, done, total):
        """One line of progress, when there is more than one batch."""
        if total > BATCH_SIZE:
            self.stdout.write("  %s: %d of %d" % (what, done, total))


def batches(queryset):
    """The primary keys of ``queryset`` in ascending order, in lists of up
    to ``BATCH_SIZE``, each read once the previous one has been dealt with
    (keyset pagination: ``WHERE pk > <the last one>``), so every row is
    read once whatever the batches delete."""
    ordered = queryset.order_by("pk")
    page = ordered
    while True:
        keys = list(page.values_list("pk", flat=True)[:BATCH_SIZE])
        if not keys:
            return
        yield keys
        page = ordered.filter(pk__gt=keys[-1])
