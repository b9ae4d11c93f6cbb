import functools
import re

from django import db
from django.conf import settings
from django.contrib import auth
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.crypto import get_random_string
from django.utils.http import is_safe_url
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from chat import conf, images, jobs, selectors, services
from chat.exceptions import ClientError, HttpClientError, error_response
from chat.forms import GuestNameForm, NewRoomForm, SignupForm
from chat.identity import ANONYMOUS, USER, access_denied, identify, set_guest_name
from chat.models import Upload
from chat.protocol import check_handle, check_message
from chat.ratelimit import bucket_key, take_cached_token

# Page sizes of the messages endpoint, in messages.
PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 500

RANDOM_LABEL_LENGTH = 10
RANDOM_LABEL_CHARS = "abcdefghijkmnpqrstuvwxyz23456789"


def index(request):
    """``/``: list the rooms (``selectors.room_list``: who is online, the
    last activity, and a signed-in user's unread count) and offer a form to
    open one by label.

    POST with a valid ``label`` redirects to that room (302); an invalid one
    re-renders the page with the form's errors (400)."""
    if request.method == "POST":
        form = NewRoomForm(request.POST)
        if form.is_valid():
            return redirect("chat:room", label=form.cleaned_data["label"])
        status = 400
    else:
        form = NewRoomForm()
        status = 200
    context = {"rooms": selectors.room_list(request.user), "form": form}
    return render(request, "chat/index.html", context, status=status)


def new_room(request):
    """``/new/``: redirect (302) to a room with a fresh random label."""
    while True:
        label = get_random_string(RANDOM_LABEL_LENGTH, RANDOM_LABEL_CHARS)
        if selectors.find_room(label) is None:
            return redirect("chat:room", label=label)


@ensure_csrf_cookie
def room(request, label):
    """``/<label>/``: the room page with its last ``CHAT_HISTORY_LENGTH``
    messages, oldest first. Creates the room on first visit. A members-only
    room shows a guest no messages, with status 403.

    Raises ``Http404`` for a label longer than ``LABEL_MAX_LENGTH``; the URL
    pattern already admits only slugs."""
    return _room_page(request, _open_room(label))


@require_POST
def guest_name(request, label):
    """``POST /<label>/name/``: a guest picks the name (field ``name``) they
    speak as, kept in their session for every room; redirects (302) to the
    room.

    A name that ``chat.identity.clean_guest_name`` refuses re-renders the
    room page with the error on the form, status 400, and stores nothing;
    so does any name from a signed-in user, whose handle is their username.
    Raises ``Http404`` as ``room`` does."""
    room = _open_room(label)
    if identify(request.user, request.session).kind == USER:
        return _room_page(request, room, status=400)
    form = GuestNameForm(request.POST)
    if not form.is_valid():
        return _room_page(request, room, guest_form=form, status=400)
    set_guest_name(request.session, form.cleaned_data["name"])
    return redirect("chat:room", label=room.label)


def _open_room(label):
    """The ``Room`` labelled ``label``, created on first use; raises
    ``Http404`` for a label that may not name a room."""
    try:
        return services.open_room(label)
    except ClientError:
        raise Http404("No such room.") from None


def _room_page(request, room, guest_form=None, status=200):
    """Render ``room``'s page (``chat/room.html``) for this request's
    identity, with ``guest_form`` (a bound ``GuestNameForm``) in place of a
    blank one, and ``status`` unless the room turns the guest away (403).

    The template's context: ``room``; ``history`` (list of ``Message``,
    oldest first) and ``has_older`` (bool); ``handle_max_length`` and
    ``message_max_length`` (int, characters); ``identity``
    (``chat.identity.Identity``); ``guest_form`` (a ``GuestNameForm``, or
    None unless the identity is anonymous); ``access_denied`` (bool: a
    members-only room and not a member, so no history); ``read_seq`` (int,
    the ``seq`` of a signed-in user's read mark here, or None); and
    ``ping_interval_ms``, ``typing_interval_ms``, ``read_interval_ms``
    (int, ms)."""
    who = identify(request.user, request.session)
    access_denied = room.members_only and not who.is_member
    if access_denied:
        history, has_older, status = [], False, 403
    else:
        limit = conf.get("CHAT_HISTORY_LENGTH")
        history = selectors.messages_before(room, None, limit + 1)
        has_older = len(history) > limit
        history = history[-limit:]
    if who != ANONYMOUS:
        guest_form = None
    elif guest_form is None:
        guest_form = GuestNameForm()
    context = {
        "room": room,
        "history": history,
        "has_older": has_older,
        "handle_max_length": conf.get("CHAT_HANDLE_MAX_LENGTH"),
        "message_max_length": conf.get("CHAT_MESSAGE_MAX_LENGTH"),
        "identity": who,
        "guest_form": guest_form,
        "access_denied": access_denied,
        "read_seq": selectors.read_seq(request.user, room),
        "ping_interval_ms": conf.PING_INTERVAL_MS,
        "typing_interval_ms": conf.TYPING_INTERVAL_MS,
        "read_interval_ms": conf.READ_INTERVAL_MS,
    }
    return render(request, "chat/room.html", context, status=status)


def json_client_errors(view):
    """Decorate a JSON view so that a ``ClientError`` it raises becomes its
    ``{"error", "detail"}`` payload with the error's HTTP status."""

    @functools.wraps(view)
    def inner(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except ClientError as error:
            return error_response(error)

    return inner


@json_client_errors
def messages(request, label):
    """``/<label>/messages``: a page of the room's messages as JSON, for
    catching up after a reconnect and for paging back through history.

    Query parameters (all optional, non-negative integers):
    ``after=<id>`` gives the messages with an id above it, oldest first;
    ``before=<id>`` gives the last messages with an id below it, oldest first;
    ``limit=<n>`` is the page size (default 100, at most 500). With neither
    ``after`` nor ``before`` it gives the room's last messages.

    Returns ``{"messages": [Message.as_dict(), ...], "has_more": bool}``,
    where ``has_more`` says another page lies beyond this one in the
    direction asked. A bad parameter gets 400 with ``{"error", "detail"}``;
    an unknown room gets 404 with the same shape, and a members-only room
    403 (``ROOM_ACCESS_DENIED``) unless the request is signed in.
    docs/protocol.md has the details.
    """
    after = _optional_int(request.GET, "after")
    before = _optional_int(request.GET, "before")
    limit = _optional_int(request.GET, "limit")
    if after is not None and before is not None:
        raise ClientError("INVALID_PARAMETER", "Give 'after' or 'before', not both.")
    if limit is None:
        limit = PAGE_SIZE_DEFAULT
    if not 1 <= limit <= PAGE_SIZE_MAX:
        raise ClientError("INVALID_PARAMETER", "'limit' must be between 1 and %d." % PAGE_SIZE_MAX)
    room = selectors.find_room(label)
    if room is None:
        raise ClientError("NOT_FOUND", "No such room.", status=404)
    if room.members_only and not identify(request.user, request.session).is_member:
        raise access_denied()

    # One more than asked tells whether another page follows.
    if after is not None:
        page = selectors.messages_after(room, after, limit + 1)
        has_more = len(page) > limit
        page = page[:limit]
    else:
        page = selectors.messages_before(room, before, limit + 1)
        has_more = len(page) > limit
        page = page[-limit:] if has_more else page
    return JsonResponse({"messages": [m.as_dict() for m in page], "has_more": has_more})


@require_POST
@json_client_errors
def upload(request, label):
    """``POST /<label>/upload/``: an image for the room (multipart, the file
    in the field ``image``, an optional caption in ``message``), sent as the
    request's identity, or as the field ``handle`` without one (the rule of
    chat frames, docs/protocol.md, "Identity"). CSRF-protected.

    Stores the original, queues its thumbnail job on ``chat.thumbnail`` and
    answers at once: 202 with ``jobs.status_of`` (``{"id", "status":
    "pending", "retryable", "status_url"}``). The image's message is posted
    when the job is done.

    Refusals, with ``{"type": "error", "error", "detail"}`` and nothing
    stored: 404 ``NOT_FOUND`` (no such room; uploads never create one), 403
    ``ROOM_ACCESS_DENIED``, 429 ``RATE_LIMITED`` with ``Retry-After``
    (``CHAT_UPLOAD_BURST`` at once, then ``CHAT_UPLOAD_PER_MINUTE``), 400
    ``MISSING_FIELD`` and the handle and message codes, 413
    ``FILE_TOO_LARGE`` (over ``CHAT_UPLOAD_MAX_BYTES``), 400
    ``NOT_AN_IMAGE`` and 413 ``IMAGE_TOO_LARGE`` (``images.inspect``), 503
    ``UNAVAILABLE`` when it cannot be stored.
    """
    room = selectors.find_room(label)
    if room is None:
        raise ClientError("NOT_FOUND", "No such room.", status=404)
    who = identify(request.user, request.session)
    if room.members_only and not who.is_member:
        raise access_denied()
    if who.handle:
        handle = who.handle
    elif "handle" in request.POST:
        handle = check_handle(request.POST["handle"])
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
    info = images.inspect(image, conf.get("CHAT_UPLOAD_MAX_PIXELS"))
    if not caption.strip():
        caption = _caption_from_name(image.name)
    try:
        accepted = jobs.accept_upload(room, handle, image, info, caption, request.user)
    except db.Error:
        raise ClientError(
            "UNAVAILABLE", "The image could not be stored; try again.", status=503
        ) from None
    return JsonResponse(jobs.status_of(accepted), status=202)


@json_client_errors
def upload_status(request, label, upload_id):
    """``GET /<label>/upload/<id>/``: the state of an upload's job
    (``jobs.status_of``), for the sender's page to follow. The id, a random
    UUID given only to the sender, is what grants it. 404 ``NOT_FOUND`` for
    an unknown id or one of another room."""
    return JsonResponse(jobs.status_of(_find_upload(label, upload_id)))


@require_POST
@json_client_errors
def upload_retry(request, label, upload_id):
    """``POST /<label>/upload/<id>/retry/``: queue a failed or stuck job
    again (``jobs.retry``); 202 with its state. 409 ``NOT_RETRYABLE`` for a
    job that is done or still running, 404 ``NOT_FOUND`` as
    ``upload_status``. CSRF-protected."""
    return JsonResponse(jobs.status_of(jobs.retry(_find_upload(label, upload_id))), status=202)


def _find_upload(label, upload_id):
    upload = Upload.objects.select_related("room").filter(pk=upload_id, room__label=label).first()
    if upload is None:
        raise ClientError("NOT_FOUND", "No such upload.", status=404)
    return upload


def _uploader(request):
    """Who an upload counts against, as ``bucket_key`` parts (tuple): the
    user, else the session, else the address."""
    if request.user.is_authenticated:
        return ("user", request.user.pk)
    if request.session.session_key:
        return ("session", request.session.session_key)
    return ("address", request.META.get("REMOTE_ADDR", ""))


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
    (``MEDIA_ROOT``), and those of members-only rooms from any storage
    (``Upload.image_dict``); in ``runserver`` and in the split alike.

    Only the files of an upload the database knows are served
    (``MEDIA_NAME_RE``, then the upload's own file names), as the type
    their extension names, which ``images.inspect`` checked on upload, with
    ``X-Content-Type-Options: nosniff`` and a sandboxing
    ``Content-Security-Policy``, so that no uploaded file is ever run as
    HTML or script by a browser. Cached for a year, as a name is never
    reused: by anyone for a room that is open to all, by the browser alone
    for a members-only room, whose images only those who may read the room
    are given. Raises ``Http404`` for any other path, a missing file, or a
    members-only room's image asked for by someone who may not read it (a
    404 rather than a 403, so as not to tell that it exists)."""
    match = MEDIA_NAME_RE.match(path)
    if match is None:
        raise Http404("No such file.")
    upload = Upload.objects.select_related("room").filter(pk=match.group("id")).first()
    if upload is None or path not in (upload.original.name, upload.thumbnail.name):
        raise Http404("No such file.")
    private = upload.room.members_only
    if private and not identify(request.user, request.session).is_member:
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


def _optional_int(params, name):
    """The query parameter ``name`` as a non-negative int, or None when absent.

    Raises ``ClientError("INVALID_PARAMETER")`` otherwise."""
    value = params.get(name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise ClientError("INVALID_PARAMETER", "'%s' must be a non-negative integer." % name)
    return int(value)


@sensitive_post_parameters("password1", "password2")
@never_cache
def signup(request):
    """``/accounts/signup/``: create an account (``SignupForm``: a username
    and a password twice, the password checked by
    ``AUTH_PASSWORD_VALIDATORS``), sign in as it, and redirect (302) to the
    ``next`` parameter when it is a URL of this site, else to
    ``LOGIN_REDIRECT_URL``. A refused form re-renders with its errors
    (400) and creates nothing."""
    next_url = _safe_next(request)
    if request.method == "POST":
        form = SignupForm(request.POST)
        if form.is_valid():
            auth.login(request, form.save())
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
        status = 400
    else:
        form = SignupForm()
        status = 200
    context = {"form": form, "next": next_url}
    return render(request, "registration/signup.html", context, status=status)


def _safe_next(request):
    """The ``next`` parameter (POST, else GET) when it is a URL of this site
    (str), else ``""``: never a redirect to another site."""
    next_url = request.POST.get("next", request.GET.get("next", ""))
    if is_safe_url(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return next_url
    return ""
