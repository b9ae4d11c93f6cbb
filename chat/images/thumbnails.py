"""The thumbnail job, on the chat's own channel ``chat.thumbnail``: an
image's thumbnail made, then its message posted.

The upload view stores the original (``accept_upload``) and sends a job to
the custom channel ``chat.thumbnail``; any worker that listens there
(``runworker``, or ``runworker --only-channels=chat.thumbnail``, the
Procfile's ``thumbs`` process type) runs ``thumbnail``, which makes the
thumbnail and only then posts the image's message through
``services.post_message``, as a text message is posted.

The channel layer delivers a message at most once: a job is lost when its
message expires unread (after the layer's expiry, 60 s) or when the worker
that took it dies. The ``Upload`` row in PostgreSQL is therefore the job's
record, not the channel message, and ``sweep`` (every ``SWEEP_EVERY_S`` in
every worker process, and ``manage.py chatjobs``) finds jobs that are lost
and sends them again, up to ``CHAT_JOB_ATTEMPTS`` starts, or marks them
failed so that the sender sees it and can retry. Every change of a job's
status is one conditional UPDATE, so two workers (or two sweeps) can never
both take one job, and an image's message is posted once
(``Message.upload`` is unique). docs/operations.md, "Image jobs", has the
whole story.
"""

import logging
import uuid
from datetime import timedelta

from channels import Channel
from django.core.files.base import ContentFile
from django.db import Error, IntegrityError, close_old_connections
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from chat import conf, periodic, services, webhooks
from chat.exceptions import ClientError
from chat.images import imaging, metadata
from chat.models import Message, Upload
from chat.transport import this_worker, worker_alive

logger = logging.getLogger(__name__)

# The custom channel of thumbnail jobs; its route is in chat/routing.py and
# its capacity in CHANNEL_CAPACITY (chat/settings.py).
THUMBNAIL_CHANNEL = "chat.thumbnail"

# The channel layer drops a message nobody received within this many
# seconds (the layer's ``expiry``, asgi_redis' default): a job still
# pending after it is sent again.
LAYER_EXPIRY_S = 60

# How often each worker process sweeps for lost jobs, in seconds.
SWEEP_EVERY_S = 5

# What the sender is told of any failed job; why it failed is kept in
# ``Upload.error``, for the operator (the admin, ``manage.py chatjobs``).
FAILED_DETAIL = "Could not process image."


def accept_upload(room, handle, file, info, caption, user=None, guest_author=None):
    """Store an image sent to ``room`` (a ``Room``) by ``handle`` (str), and
    queue its thumbnail job. ``file`` is the uploaded file (a Django
    ``UploadedFile``), already checked by ``imaging.inspect``, whose
    ``ImageInfo`` is ``info``; ``caption`` (str) becomes the message's text;
    ``user`` is the signed-in sender or None, ``guest_author`` a named
    guest's author id (str, ``chat.identity.guest_author``) or None: the
    image's message is stored with them as its author.

    Returns the saved ``Upload`` (``PENDING``). The original goes to
    Django's default storage under a name of the server's making, without
    its metadata (``clean_original``). Raises ``ClientError``
    (``NOT_AN_IMAGE``) when that cannot be done, and ``django.db.Error``
    when the row cannot be stored, in which case the stored original is
    deleted again and nothing is queued.
    """
    original = clean_original(file, info)
    upload = Upload(
        room=room,
        handle=handle,
        user=user if user is not None and user.is_authenticated else None,
        guest_author=guest_author,
        caption=caption,
        image_format=info.format,
        size=original.size,
        original_width=info.width,
        original_height=info.height,
    )
    upload.original.save("original." + upload.extension, original, save=False)
    try:
        upload.save(force_insert=True)
    except Error:
        upload.original.delete(save=False)
        raise
    send_job(upload)
    return upload


def clean_original(file, info):
    """The uploaded ``file`` (a file object, checked by ``imaging.inspect``
    as ``info``) without its metadata (``metadata.stripped``: no EXIF, GPS,
    XMP or comments; orientation and ICC profile kept), as a
    ``ContentFile``. Checked again with ``imaging.inspect``, which must find
    the same image; raises ``ClientError`` (``NOT_AN_IMAGE``) otherwise, or
    when the file's structure cannot be walked, so that an original is
    never stored with its metadata."""
    file.seek(0)
    try:
        data = metadata.stripped(file.read(), info.format)
    except ValueError:
        raise imaging.not_an_image() from None
    clean = ContentFile(data)
    if imaging.inspect(clean, conf.get("CHAT_UPLOAD_MAX_PIXELS")) != info:
        raise imaging.not_an_image()
    return clean


def send_job(upload):
    """Send ``upload``'s thumbnail job to ``THUMBNAIL_CHANNEL``: ``{"upload":
    "<id>"}``. Returns True when the layer took it; a full channel or a
    channel layer that cannot be reached is logged and returns False, and
    the sweep sends the job again once the layer's expiry has passed.

    Sent with ``immediately=True``: called from a view that a worker runs
    as the ``http.request`` consumer, a send would otherwise wait until the
    view returns, and be lost if the response failed."""
    try:
        Channel(THUMBNAIL_CHANNEL).send({"upload": str(upload.pk)}, immediately=True)
    except Exception:  # noqa: BLE001 - ChannelFull, or Redis down; the sweep sends it again
        logger.warning("Could not queue the thumbnail job of upload %s", upload.pk, exc_info=True)
        return False
    return True


def status_of(upload, now=None):
    """The job's state as the sender's page reads it (docs/protocol.md,
    "Images"): ``{"id": str, "status": "pending" | "processing" | "done" |
    "failed", "retryable": bool, "status_url": str}``, plus ``"error": str``
    when failed. ``now`` (a datetime) is for tests."""
    state = {
        "id": str(upload.pk),
        "status": upload.status,
        "retryable": is_retryable(upload, now),
        "status_url": reverse(
            "chat:upload_status", kwargs={"label": upload.room.label, "upload_id": upload.pk}
        ),
    }
    if upload.status == Upload.FAILED:
        state["error"] = FAILED_DETAIL
    return state


def is_retryable(upload, now=None):
    """Whether the sender may retry ``upload``'s job (bool): it failed, or
    it has waited or run so long (``CHAT_JOB_TIMEOUT_SECONDS``) that it is
    stuck, whatever the sweep has yet to notice."""
    if upload.status == Upload.FAILED:
        return True
    if upload.status == Upload.DONE:
        return False
    since = upload.started_at if upload.status == Upload.PROCESSING else upload.queued_at
    return since is not None and since < _timed_out_before(now)


def retry(upload):
    """Queue ``upload``'s job again, as a fresh try with its attempts reset;
    returns the reloaded ``Upload``. Raises ``ClientError("NOT_RETRYABLE")``
    (status 409) for a job that is done, or still running within its time
    (``is_retryable``)."""
    if not is_retryable(upload):
        raise ClientError(
            "NOT_RETRYABLE", "That image is done, or still being processed.", status=409
        )
    now = timezone.now()
    taken = Upload.objects.filter(
        pk=upload.pk, status=upload.status, attempts=upload.attempts
    ).update(status=Upload.PENDING, attempts=0, error="", queued_at=now, sent_at=now)
    if taken:
        upload.refresh_from_db()
        send_job(upload)
    else:
        upload.refresh_from_db()
    return upload


def thumbnail(message):
    """The ``chat.thumbnail`` consumer: make the thumbnail of the upload
    ``message.content["upload"]`` (str, an ``Upload`` id), then post its
    message into the room. Returns None.

    Takes the job only if it is ``PENDING`` (one conditional UPDATE, so a
    job sent twice runs once), marking it ``PROCESSING`` by this worker. An
    image that cannot be decoded marks it ``FAILED``. Any other exception
    (storage, database) propagates to the worker, which logs it; the job
    stays ``PROCESSING`` and the sweep starts it again.
    """
    try:
        upload_id = uuid.UUID(str(message.content.get("upload")))
    except ValueError:
        logger.warning("Thumbnail job for an unusable upload id: %r", message.content)
        return
    worker = this_worker()
    taken = Upload.objects.filter(pk=upload_id, status=Upload.PENDING).update(
        status=Upload.PROCESSING,
        attempts=F("attempts") + 1,
        worker=worker,
        started_at=timezone.now(),
    )
    if not taken:
        logger.info("Thumbnail job of upload %s is not pending; skipped", upload_id)
        return
    upload = Upload.objects.select_related("room").get(pk=upload_id)
    mine = Upload.objects.filter(pk=upload.pk, status=Upload.PROCESSING, worker=worker)
    if Message.objects.filter(upload=upload).exists():
        # An earlier start of this job, given up as stuck by the sweep but
        # still running, posted it meanwhile.
        mine.update(status=Upload.DONE, finished_at=timezone.now())
        return
    try:
        with upload.original.open("rb") as original:
            data, width, height, extension = imaging.make_thumbnail(
                original, conf.get("CHAT_UPLOAD_MAX_PIXELS")
            )
    except imaging.CannotProcess as error:
        logger.info("Upload %s cannot be decoded: %s", upload.pk, error)
        mine.update(
            status=Upload.FAILED,
            error="The image cannot be decoded: %s" % error,
            finished_at=timezone.now(),
        )
        return
    upload.thumbnail.save("thumbnail." + extension, ContentFile(data), save=False)
    upload.width, upload.height = width, height
    if not mine.update(thumbnail=upload.thumbnail.name, width=width, height=height):
        # The sweep gave the job up as stuck meanwhile; its next try does it.
        upload.thumbnail.delete(save=False)
        return
    try:
        # Marks the job DONE with the message, before the room sees it.
        # An upload without a user was sent by a guest (chat.images.views.upload).
        services.post_message(
            upload.room,
            upload.handle,
            upload.caption,
            upload=upload,
            guest=upload.user_id is None,
        )
    except IntegrityError:
        logger.info("Upload %s already has its message", upload.pk)
        mine.update(status=Upload.DONE, finished_at=timezone.now(), error="")


def sweep(now=None):
    """Find lost thumbnail jobs and deal with them; returns ``{"resent":
    int, "restarted": int, "failed": int}``, how many jobs were sent again
    as they were, started again after an interruption, and given up.

    - ``PENDING`` and sent more than ``LAYER_EXPIRY_S`` ago: its message
      has expired unread. Sent again, unless it was asked for more than
      ``CHAT_JOB_TIMEOUT_SECONDS`` ago: then no worker takes such jobs,
      and it fails.
    - ``PROCESSING`` by a worker whose heartbeat is gone (it died), or for
      more than ``CHAT_JOB_TIMEOUT_SECONDS``: started again while it has
      had fewer than ``CHAT_JOB_ATTEMPTS`` starts; failed after that.

    ``now`` (a datetime) is for tests. Raises ``django.db.Error`` when the
    database cannot be reached."""
    now = now or timezone.now()
    counts = {"resent": 0, "restarted": 0, "failed": 0}
    timed_out = _timed_out_before(now)
    expired = now - timedelta(seconds=LAYER_EXPIRY_S)
    for upload in Upload.objects.filter(status=Upload.PENDING, sent_at__lt=expired):
        pending = Upload.objects.filter(pk=upload.pk, status=Upload.PENDING, sent_at=upload.sent_at)
        if upload.queued_at < timed_out:
            error = "No worker took the job within %d s." % conf.get("CHAT_JOB_TIMEOUT_SECONDS")
            counts["failed"] += pending.update(status=Upload.FAILED, error=error, finished_at=now)
        elif pending.update(sent_at=now):
            send_job(upload)
            counts["resent"] += 1
    for upload in Upload.objects.filter(status=Upload.PROCESSING):
        stuck = upload.started_at is None or upload.started_at < timed_out
        if not stuck and worker_liveness(upload.worker) is not False:
            continue
        running = Upload.objects.filter(
            pk=upload.pk, status=Upload.PROCESSING, attempts=upload.attempts, worker=upload.worker
        )
        if upload.attempts >= conf.get("CHAT_JOB_ATTEMPTS"):
            error = "The job was interrupted %d times; last by %s." % (
                upload.attempts,
                upload.worker,
            )
            counts["failed"] += running.update(status=Upload.FAILED, error=error, finished_at=now)
        elif running.update(status=Upload.PENDING, sent_at=now):
            logger.warning(
                "Thumbnail job of upload %s was interrupted (worker %s); starting it again",
                upload.pk,
                upload.worker,
            )
            send_job(upload)
            counts["restarted"] += 1
    return counts


def failed_before(before):
    """The uploads whose job failed before ``before`` (an aware datetime)
    and has not been retried since: a queryset of ``Upload``. None of them
    has a message."""
    return Upload.objects.filter(status=Upload.FAILED, finished_at__lt=before)


def delete_failed(upload):
    """Delete ``upload`` (an ``Upload``) if it is still ``FAILED``, then
    its stored files: the original and any thumbnail. Returns how many
    files were deleted (int), or None when the upload was retried (or
    deleted) meanwhile and was kept.

    The row goes first, in one conditional DELETE, so a sender's Retry at
    the same moment either wins (the upload is kept, files and all) or
    finds nothing to retry. A file the storage fails to delete (an
    ``OSError``, or the storage service's own error) is logged with its
    name and left behind; it belongs to no row any more."""
    deleted, _ = Upload.objects.filter(pk=upload.pk, status=Upload.FAILED).delete()
    if not deleted:
        return None
    files = 0
    for field in (upload.original, upload.thumbnail):
        if not field.name:
            continue
        try:
            field.storage.delete(field.name)
        except Exception:  # noqa: BLE001 - any storage backend's error; logged
            logger.exception("Could not delete %s of failed upload %s", field.name, upload.pk)
        else:
            files += 1
    return files


def worker_liveness(worker):
    """Whether the worker ``worker`` (str, its heartbeat key) still runs:
    True, False, or None when it cannot be told (no Redis, or Redis not
    answering: then only the timeout decides)."""
    try:
        return worker_alive(worker)
    except Exception:  # noqa: BLE001 - a Redis outage is not a dead worker
        return None


def _timed_out_before(now=None):
    """The moment (datetime) before which a job's try counts as stuck."""
    return (now or timezone.now()) - timedelta(seconds=conf.get("CHAT_JOB_TIMEOUT_SECONDS"))


def start_sweeper():
    """Start this process's sweeper thread, once (``chat.periodic``): every
    ``SWEEP_EVERY_S`` it runs ``sweep`` and the webhook deliveries' sweep
    (``chat.webhooks.sweep``). Called when a worker starts (the
    ``worker_ready`` signal). Returns the thread."""
    return periodic.start("job-sweeper", _sweep_step, SWEEP_EVERY_S)


def _sweep_step():
    close_old_connections()
    counts = sweep()
    if any(counts.values()):
        logger.info("Image jobs swept: %s", counts)
    webhooks.sweep()
