"""``manage.py chatjobs [--requeue] [ID ...]``: the image jobs that are not
done (chat/images/thumbnails.py), and a way to queue failed and stuck ones again.

Without ``--requeue`` it lists every pending, running and failed job, one
line each: its id, room, status, starts so far, age, the worker that took
it (and whether that worker still beats), and why it failed. With
``--requeue`` it first sweeps as every worker does (``thumbnails.sweep``), then
queues again every failed job and every job stuck past
``CHAT_JOB_TIMEOUT_SECONDS``, or only the jobs whose ids are given.
"""

import uuid

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from chat.exceptions import ClientError
from chat.images import thumbnails
from chat.models import Upload

NOT_DONE = (Upload.PENDING, Upload.PROCESSING, Upload.FAILED)


class Command(BaseCommand):
    help = "List the image jobs that are not done; --requeue queues failed and stuck ones again."

    def add_arguments(self, parser):
        parser.add_argument("ids", nargs="*", help="only these jobs (upload ids)")
        parser.add_argument(
            "--requeue", action="store_true", help="queue failed and stuck jobs again"
        )

    def handle(self, *args, **options):
        """List, or re-queue and print ``Queued <n> job(s).``. An id that
        names no upload, or a job that is done or still running within its
        time, is a ``CommandError`` (exit status 1)."""
        uploads = Upload.objects.select_related("room").order_by("created_at")
        if options["ids"]:
            try:
                ids = {str(uuid.UUID(given)) for given in options["ids"]}
            except ValueError:
                raise CommandError("Give upload ids (UUIDs).") from None
            uploads = list(uploads.filter(pk__in=ids))
            missing = ids - {str(u.pk) for u in uploads}
            if missing:
                raise CommandError("No such upload: %s" % ", ".join(sorted(missing)))
        else:
            uploads = list(uploads.filter(status__in=NOT_DONE))
        if options["requeue"]:
            self._requeue(uploads, explicit=bool(options["ids"]))
        else:
            self._list(uploads)

    def _list(self, uploads):
        if not uploads:
            self.stdout.write("No image jobs waiting, running or failed.")
            return
        now = timezone.now()
        for upload in uploads:
            alive = ""
            if upload.status == Upload.PROCESSING and upload.worker:
                alive = {True: " (alive)", False: " (gone)", None: ""}[
                    thumbnails.worker_liveness(upload.worker)
                ]
            self.stdout.write(
                "%s  %-12s %-10s starts=%d age=%ds worker=%s%s%s"
                % (
                    upload.pk,
                    upload.room.label,
                    upload.status,
                    upload.attempts,
                    (now - upload.created_at).total_seconds(),
                    upload.worker or "-",
                    alive,
                    ("  error: " + upload.error) if upload.error else "",
                )
            )

    def _requeue(self, uploads, explicit):
        swept = thumbnails.sweep()
        if any(swept.values()):
            self.stdout.write("Swept: %s" % swept)
        queued = 0
        for upload in uploads:
            upload.refresh_from_db()
            if not thumbnails.is_retryable(upload):
                if explicit:
                    raise CommandError("Job %s is %s; not queued." % (upload.pk, upload.status))
                continue
            try:
                thumbnails.retry(upload)
            except ClientError as error:
                raise CommandError("%s (%s)" % (error.detail, error.code)) from None
            queued += 1
        self.stdout.write("Queued %d job(s)." % queued)
