"""The image views: ``POST /<label>/upload/`` takes an image and queues its
thumbnail job (chat/images/thumbnails.py), ``/<label>/upload/<id>/`` and
its ``retry/`` follow and restart that job, and ``/media/<path>`` serves
the stored files. docs/protocol.md, "Images", is their contract.
"""

import re

from django import db
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, JsonResponse
from django.views.decorators.http import require_POST

from chat import conf, selectors
from chat.exceptions import ClientError, HttpClientError, json_client_errors
from chat.identity import GUEST, check_unregistered, ensure_guest_author, identify
from chat.images import imaging, thumbnails
from chat.models import Upload
from chat.protocol import check_handle, check_message
from chat.ratelimit import bucket_key, client_address, take_cached_token


@require_POST
@json_client_errors
def upload(request, label):
    """``POST /<label>/upload/``: an image for the room (multipart, the file
    in the field ``image``, an optional caption in ``message``), sent as the
    request's identity, or as the field ``handle`` without one (the rule of
    chat frames, docs/protocol.md, "Identity"). CSRF-protected.

    Stores the original, queues its thumbnail job on ``chat.thumbnail`` and
    answers at once: 202 with ``thumbnails.status_of`` (``{"id", "status":
    "pending", "retryable", "status_url"}``). The image's message is posted
    when the job is done.

    Refusals, with ``{"type": "error", "error", "detail"}`` and nothing
    stored: 404 ``NOT_FOUND`` (no such room, or one the request may not
    read; uploads never create one), 429 ``RATE_LIMITED`` with ``Retry-After``
    (``CHAT_UPLOAD_BURST`` at once, then ``CHAT_UPLOAD_PER_MINUTE``), 400
    ``MISSING_FIELD`` and the handle and message codes, 409
    ``HANDLE_TAKEN`` (a ``handle`` that reads as a registered user's, from
    a request without a signed-in user; added 2026-12-04), 413
    ``FILE_TOO_LARGE`` (over ``CHAT_UPLOAD_MAX_BYTES``), 400
    ``NOT_AN_IMAGE`` and 413 ``IMAGE_TOO_LARGE`` (``imaging.inspect``), 503
    ``UNAVAILABLE`` when it cannot be stored.
    """
    room = selectors.readable_room(request.user, label)
    who = identify(request.user, request.session)
    if who.handle:
        handle = who.handle
    elif "handle" in request.POST:
        handle = check_handle(request.POST["handle"])
        try:
            check_unregistered(handle)
        except db.Error:
            raise ClientError(
                "UNAVAILABLE", "The image could not be stored; try again.", status=503
            ) from None
    else:
        raise ClientError("MISSING_FIELD", "Give a 'handle' to send the image as.")
    caption = request.POST.get("message", "")
    if caption.strip():
        caption = check_message(caption)
    image = request.FILES.get("image")
    if image is None:
        raise ClientError("MISSING_FIELD", "Attach the image in the field 'image'.")
    retry_after = take_cached_token(
        bucket_key("upload", *_uploader(request)),
        conf.get("CHAT_UPLOAD_BURST"),
        conf.get("CHAT_UPLOAD_PER_MINUTE"),
    )
    if retry_after is not None:
        raise HttpClientError(
            "RATE_LIMITED",
            "Too many images; wait a moment and try again.",
            status=429,
            headers={"Retry-After": str(retry_after)},
        )
    max_bytes = conf.get("CHAT_UPLOAD_MAX_BYTES")
    if image.size > max_bytes:
        raise ClientError(
            "FILE_TOO_LARGE",
            "That file is too large; the most is %s." % _megabytes(max_bytes),
            status=413,
        )
    info = imaging.inspect(image, conf.get("CHAT_UPLOAD_MAX_PIXELS"))
    if not caption.strip():
        caption = _caption_from_name(image.name)
    try:
        accepted = thumbnails.accept_upload(
            room, handle, image, info, caption, request.user, _guest_author(request, who)
        )
    except db.Error:
        raise ClientError(
            "UNAVAILABLE", "The image could not be stored; try again.", status=503
        ) from None
    return JsonResponse(thumbnails.status_of(accepted), status=202)


@json_client_errors
def upload_status(request, label, upload_id):
    """``GET /<label>/upload/<id>/``: the state of an upload's job
    (``thumbnails.status_of``), for the sender's page to follow. The id, a random
    UUID given only to the sender, is what grants it, in a room the request
    may read. 404 ``NOT_FOUND`` for an unknown id, one of another room, or
    one of a room the request may not read."""
    return JsonResponse(thumbnails.status_of(_find_upload(request, label, upload_id)))


@require_POST
@json_client_errors
def upload_retry(request, label, upload_id):
    """``POST /<label>/upload/<id>/retry/``: queue a failed or stuck job
    again (``thumbnails.retry``); 202 with its state. 409 ``NOT_RETRYABLE`` for a
    job that is done or still running, 404 ``NOT_FOUND`` as
    ``upload_status``. CSRF-protected."""
    upload = _find_upload(request, label, upload_id)
    return JsonResponse(thumbnails.status_of(thumbnails.retry(upload)), status=202)


def _find_upload(request, label, upload_id):
    upload = Upload.objects.select_related("room").filter(pk=upload_id, room__label=label).first()
    if upload is None or not selectors.can_read(request.user, upload.room):
        raise ClientError("NOT_FOUND", "No such upload.", status=404)
    return upload


def _guest_author(request, who):
    """A named guest's author id (str) for an upload from ``request`` whose
    identity is ``who``, made and kept in the session if it holds none;
    None for anyone else."""
    if who.kind != GUEST:
        return None
    return ensure_guest_author(request.session)[0]


def _uploader(request):
    """Who an upload counts against, as the parts of its bucket's key
    (``ratelimit.bucket_key``): ``("user", id)`` for the signed-in user,
    else ``("address", str)``, the client's address
    (``ratelimit.client_address``). Not a guest's session, which costs
    nothing to make afresh for each upload."""
    if request.user.is_authenticated:
        return ("user", request.user.pk)
    return ("address", client_address(request))


def _megabytes(size):
    return "%g MiB" % round(size / 1048576, 1)


def _caption_from_name(name):
    """A message text for an image sent without one: its file name, without
    the folders a browser may send, within the message length; else
    ``"image"``."""
    name = (name or "").replace("\\", "/").rpartition("/")[2].strip()
    return name[: conf.get("CHAT_MESSAGE_MAX_LENGTH")] or "image"


# The stored media names the server makes (chat/models.py, upload_path and
# thumbnail_path): the upload's id, and the extension its content type
# is served as.
MEDIA_NAME_RE = re.compile(
    r"^uploads/(?:thumbnails/)?(?P<id>[0-9a-f]{32})\.(?P<extension>jpg|png|gif|webp)$"
)
MEDIA_TYPES = {extension: content_type for content_type, extension in Upload.FORMATS.values()}


def media(request, path):
    """``/media/<path>``: an uploaded image or thumbnail, read from the
    default storage: every one when the storage keeps files on disk
    (``MEDIA_ROOT``), and those of private rooms from any storage
    (``Upload.image_dict``); in ``runserver`` and in the split alike.

    Only the files of an upload the database knows are served
    (``MEDIA_NAME_RE``, then the upload's own file names), as the type
    their extension names, which ``imaging.inspect`` checked on upload, with
    ``X-Content-Type-Options: nosniff`` and a sandboxing
    ``Content-Security-Policy``, so that no uploaded file is ever run as
    HTML or script by a browser. Cached for a year, as a name is never
    reused: by anyone for a room that is open to all, by the browser alone
    for a private room, whose images only those who may read the room
    (``selectors.can_read``) are given. Raises ``Http404`` for any other
    path, a missing file, or a private room's image asked for by someone
    who may not read it (a 404 rather than a 403, so as not to tell that it
    exists)."""
    match = MEDIA_NAME_RE.match(path)
    if match is None:
        raise Http404("No such file.")
    upload = Upload.objects.select_related("room").filter(pk=match.group("id")).first()
    if upload is None or path not in (upload.original.name, upload.thumbnail.name):
        raise Http404("No such file.")
    private = upload.room.private
    if not selectors.can_read(request.user, upload.room):
        raise Http404("No such file.")
    try:
        stored = default_storage.open(path, "rb")
    except (FileNotFoundError, NotImplementedError):
        raise Http404("No such file.") from None
    response = FileResponse(stored, content_type=MEDIA_TYPES[match.group("extension")])
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    response["Cache-Control"] = "%s, max-age=31536000, immutable" % (
        "private" if private else "public"
    )
    return response
