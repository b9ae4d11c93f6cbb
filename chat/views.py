import functools

from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.crypto import get_random_string

from chat import conf, selectors, services
from chat.exceptions import ClientError
from chat.forms import NewRoomForm

# Page sizes of the messages endpoint, in messages.
PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 500

RANDOM_LABEL_LENGTH = 10
RANDOM_LABEL_CHARS = "abcdefghijkmnpqrstuvwxyz23456789"


def index(request):
    """``/``: list the rooms and offer a form to open one by label.

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
    context = {"rooms": selectors.rooms(), "form": form}
    return render(request, "chat/index.html", context, status=status)


def new_room(request):
    """``/new/``: redirect (302) to a room with a fresh random label."""
    while True:
        label = get_random_string(RANDOM_LABEL_LENGTH, RANDOM_LABEL_CHARS)
        if selectors.find_room(label) is None:
            return redirect("chat:room", label=label)


def room(request, label):
    """``/<label>/``: the room page with its last ``CHAT_HISTORY_LENGTH``
    messages, oldest first. Creates the room on first visit.

    Raises ``Http404`` for a label longer than ``LABEL_MAX_LENGTH``; the URL
    pattern already admits only slugs."""
    try:
        room = services.open_room(label)
    except ClientError:
        raise Http404("No such room.") from None
    limit = conf.get("CHAT_HISTORY_LENGTH")
    history = selectors.messages_before(room, None, limit + 1)
    return render(
        request,
        "chat/room.html",
        {
            "room": room,
            "history": history[-limit:],
            "has_older": len(history) > limit,
            "handle_max_length": conf.get("CHAT_HANDLE_MAX_LENGTH"),
            "message_max_length": conf.get("CHAT_MESSAGE_MAX_LENGTH"),
        },
    )


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
    an unknown room gets 404 with the same shape. docs/protocol.md has the
    details.
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
