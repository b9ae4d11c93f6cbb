from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.crypto import get_random_string

from chat import conf
from chat.forms import NewRoomForm
from chat.models import Room

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
    rooms = Room.objects.order_by("label")
    return render(request, "chat/index.html", {"rooms": rooms, "form": form}, status=status)


def new_room(request):
    """``/new/``: redirect (302) to a room with a fresh random label."""
    while True:
        label = get_random_string(RANDOM_LABEL_LENGTH, RANDOM_LABEL_CHARS)
        if not Room.objects.filter(label=label).exists():
            return redirect("chat:room", label=label)


def room(request, label):
    """``/<label>/``: the room page with its last ``CHAT_HISTORY_LENGTH``
    messages, oldest first. Creates the room on first visit.

    Raises ``Http404`` for a label longer than ``LABEL_MAX_LENGTH``; the URL
    pattern already admits only slugs."""
    if not conf.is_valid_label(label):
        raise Http404("No such room.")
    room, _ = Room.objects.get_or_create(label=label, defaults={"name": label})
    return render(
        request,
        "chat/room.html",
        {
            "room": room,
            "history": room.recent_messages(),
            "handle_max_length": conf.get("CHAT_HANDLE_MAX_LENGTH"),
            "message_max_length": conf.get("CHAT_MESSAGE_MAX_LENGTH"),
        },
    )
