import functools

from django.conf import settings
from django.contrib import auth
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.crypto import get_random_string
from django.utils.http import is_safe_url
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from chat import conf, selectors, services
from chat.exceptions import ClientError
from chat.forms import GuestNameForm, NewRoomForm, SignupForm
from chat.identity import ANONYMOUS, USER, access_denied, identify, set_guest_name

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
            return JsonResponse(error.as_dict(), status=error.status)

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
