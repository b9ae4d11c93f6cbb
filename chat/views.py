"""The chat's pages (the room list, a room, its guest name and members),
the catch-up endpoint ``/<label>/messages`` and sign-up. The image views
are in chat/images/views.py."""

import functools

from django import forms
from django.conf import settings
from django.contrib import auth
from django.contrib import messages as notices
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.crypto import get_random_string
from django.utils.http import is_safe_url
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from chat import conf, live_counts, search, selectors, services
from chat.conversations import rules
from chat.exceptions import ClientError, HttpClientError, json_client_errors
from chat.forms import GuestNameForm, MemberForm, NewRoomForm, SignupForm
from chat.identity import (
    ANONYMOUS,
    GUEST_NAME_SESSION_KEY,
    USER,
    identify,
    set_guest_name,
)
from chat.ratelimit import bucket_key, client_address, take_cached_token

# Page sizes of the messages endpoint, in messages.
PAGE_SIZE_DEFAULT = 100
PAGE_SIZE_MAX = 500

# A room page opened at a message (``?at=<seq>``) shows half its
# CHAT_HISTORY_LENGTH before it; one opened at the first of more unread
# messages than that shows this many read ones before it, when at most
# UNREAD_REACH are unread: the page then catches up on all of them, a
# fetch per 100. Beyond that it opens at the newest, as it did before
# 2026-12-05, and the line shows once the reader scrolls back to it.
UNREAD_CONTEXT = 10
UNREAD_REACH = 500

RANDOM_LABEL_LENGTH = 10
RANDOM_LABEL_CHARS = "abcdefghijkmnpqrstuvwxyz23456789"


class TooManyRooms(Exception):
    """A new room refused by ``services.open_room``'s rate limit; ``error``
    is its ``HttpClientError`` (status 429, with ``Retry-After``)."""

    def __init__(self, error):
        super().__init__(error.code)
        self.error = error


def too_many_rooms(view):
    """Decorate a view that opens a room so that ``TooManyRooms`` becomes
    the 429 page (``chat/too_many_rooms.html``) with ``Retry-After``."""

    @functools.wraps(view)
    def inner(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except TooManyRooms as refused:
            response = render(
                request,
                "chat/too_many_rooms.html",
                {"detail": refused.error.detail},
                status=refused.error.status,
            )
            for name, value in refused.error.headers.items():
                response[name] = value
            return response

    return inner


@too_many_rooms
def index(request):
    """``/``: list the rooms the request may read, ``CHAT_ROOM_LIST_PAGE_SIZE``
    a page (``?page=n``; ``selectors.room_list``: who is online, the last
    activity, and a signed-in user's unread count) and offer a form to open
    one by label.

    POST with a valid ``label`` redirects to that room (302); with
    ``private`` ticked, a signed-in user creates it as a private room they
    own first. An invalid label, or one that is taken (a room the request
    may not read, or one that is not private when a private room was asked
    for), re-renders the page with the form's errors (400): a taken label
    gets the same error whatever the room is."""
    if request.method == "POST":
        form = NewRoomForm(request.POST, user=request.user)
        if form.is_valid():
            _open_from_form(request, form)
        if form.is_valid():
            return redirect("chat:room", label=form.cleaned_data["label"])
        status = 400
    else:
        form = NewRoomForm(user=request.user)
        status = 200
    page = selectors.room_list(request.user, _page_number(request))
    context = {"rooms": page.rooms, "page": page, "form": form}
    return render(request, "chat/index.html", context, status=status)


def search_messages(request):
    """``/search/?q=…&page=n`` (added 2026-12-05): the messages the query
    finds (chat/search.py) in the rooms the request may read, newest
    first, ``CHAT_SEARCH_PAGE_SIZE`` a page (Django's ``Paginator``; a page
    out of range shows the last), counted up to ``CHAT_SEARCH_MAX_RESULTS``.

    The template's context: ``q`` (str, the query as typed); ``error``
    (str, why the query cannot run, or ""); ``page`` (a ``Page`` whose
    ``object_list`` is a list of ``Message``, or None); ``hits`` (a list of
    ``(Message, SafeString)``: each message and its highlighted text);
    ``count`` (int) and ``capped`` (bool: there may be more than
    ``count``); ``full_text`` (bool, whether PostgreSQL's full-text
    search ran).

    Without ``q`` the page only offers the form (200). An empty or invalid
    query shows why, status 400. A client address past its
    ``CHAT_SEARCH_BURST`` searches (then ``CHAT_SEARCH_PER_MINUTE``) is
    told to wait, status 429 with ``Retry-After`` in seconds."""
    text = request.GET.get("q")
    context = {"q": text or "", "error": "", "page": None, "hits": []}
    context["full_text"] = search.full_text()
    if text is None:
        return render(request, "chat/search.html", context)
    try:
        query = search.parse(text)
    except search.QueryError as error:
        context["error"] = str(error)
        return render(request, "chat/search.html", context, status=400)
    retry_after = take_cached_token(
        bucket_key("search", "address", client_address(request)),
        burst=conf.get("CHAT_SEARCH_BURST"),
        per_minute=conf.get("CHAT_SEARCH_PER_MINUTE"),
    )
    if retry_after is not None:
        context["error"] = "Too many searches; wait %d seconds and try again." % retry_after
        response = render(request, "chat/search.html", context, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    results = search.Results(request.user, query)
    page = Paginator(results, conf.get("CHAT_SEARCH_PAGE_SIZE")).get_page(request.GET.get("page"))
    context.update(
        page=page,
        hits=[(m, search.highlight(m, query)) for m in page.object_list],
        count=page.paginator.count,
        capped=page.paginator.count >= results.cap,
    )
    return render(request, "chat/search.html", context)


def _page_number(request):
    """The room list's page asked for by ``?page=`` (int, 1 when absent or
    not a positive number of at most 6 digits)."""
    value = request.GET.get("page", "")
    if value.isascii() and value.isdigit() and len(value) <= 6:
        return max(1, int(value))
    return 1


def _open_from_form(request, form):
    """Create the private room a valid ``NewRoomForm`` asks for, or add the
    taken-label error to it."""
    label, private = form.cleaned_data["label"], form.cleaned_data["private"]
    name = form.cleaned_data["name"]
    room = selectors.find_room(label)
    if room is None:
        # Made here rather than at the redirect's visit, to keep its name.
        try:
            if private:
                services.create_private_room(
                    label, request.user, client=client_address(request), name=name
                )
            else:
                services.open_room(label, client=client_address(request), name=name)
        except HttpClientError as error:
            raise TooManyRooms(error) from None
        except ClientError as error:
            form.add_error("label", forms.ValidationError(error.detail, code=error.code))
    elif room is not None and (
        not selectors.can_read(request.user, room) or (private and not room.private)
    ):
        # Opening a public room for someone who asked for a private one
        # would let them believe what they write there is private.
        error = services.label_taken()
        form.add_error("label", forms.ValidationError(error.detail, code=error.code))


def new_room(request):
    """``/new/``: redirect (302) to a room with a fresh random label."""
    while True:
        label = get_random_string(RANDOM_LABEL_LENGTH, RANDOM_LABEL_CHARS)
        if selectors.find_room(label) is None:
            return redirect("chat:room", label=label)


@ensure_csrf_cookie
@too_many_rooms
def room(request, label):
    """``/<label>/``: the room page with its last ``CHAT_HISTORY_LENGTH``
    messages, oldest first. Creates the room on first visit, up to
    ``CHAT_ROOMS_PER_HOUR`` new rooms per client address (then 429, with
    ``Retry-After`` in seconds).

    ``?at=<seq>`` (added 2026-12-05), a message's permalink, opens the page
    around the room's event ``seq`` instead: half of those messages before
    it, the rest from it on, the message itself highlighted; the page then
    catches up on the newer ones. A ``seq`` that is no message's opens
    around where it would be, saying so; one that is not a non-negative
    integer gets the room's last messages with that said, status 400.

    Raises ``Http404`` for a label longer than ``LABEL_MAX_LENGTH`` (the URL
    pattern already admits only slugs), and, the same, for a private room
    the request may not read (``selectors.can_read``), whatever ``at``
    is."""
    room = _open_room(request, label)
    try:
        at = _optional_int(request.GET, "at")
    except ClientError:
        notice = "That link names no message: 'at' must be a message's number."
        return _room_page(request, room, notice=notice, status=400)
    return _room_page(request, room, at=at)


@require_POST
@too_many_rooms
def guest_name(request, label):
    """``POST /<label>/name/``: a guest picks the name (field ``name``) they
    speak as, kept in their session for every room; redirects (302) to the
    room.

    A name that ``chat.identity.clean_guest_name`` refuses re-renders the
    room page with the error on the form, status 400, and stores nothing;
    so does any name from a signed-in user, whose handle is their username.
    Raises ``Http404`` as ``room`` does."""
    room = _open_room(request, label)
    if identify(request.user, request.session).kind == USER:
        return _room_page(request, room, status=400)
    form = GuestNameForm(request.POST)
    if not form.is_valid():
        return _room_page(request, room, guest_form=form, status=400)
    set_guest_name(request.session, form.cleaned_data["name"])
    return redirect("chat:room", label=room.label)


def _open_room(request, label):
    """The ``Room`` labelled ``label``, created on first use by the
    request's client address, if the request may read it; raises
    ``Http404`` for a label that may not name a room, and the same for a
    room the request may not read, and ``TooManyRooms`` when the address
    may create no more rooms this hour."""
    try:
        room = services.open_room(label, client=client_address(request))
    except HttpClientError as error:
        raise TooManyRooms(error) from None
    except ClientError:
        raise Http404("No such room.") from None
    if not selectors.can_read(request.user, room):
        raise Http404("No such room.")
    return room


def _room_page(
    request,
    room,
    guest_form=None,
    member_form=None,
    status=200,
    at=None,
    notice="",
    topic_error="",
):
    """Render ``room``'s page (``chat/room.html``) for this request's
    identity, with ``guest_form`` (a bound ``GuestNameForm``) and
    ``member_form`` (a bound ``MemberForm``) in place of blank ones, and
    ``status``; ``at`` (int), the seq to open the page at, as ``room``
    says; ``notice`` (str), a line to show above the composer. The caller
    has checked that the request may read the room.

    The template's context: ``room``; ``history`` (list of ``Message``,
    oldest first), ``has_older`` and ``has_newer`` (bool: whether the room
    has messages before and after those); ``highlight_seq`` (int, the
    ``seq`` of the message a permalink opened the page at, or None);
    ``unread_seq`` (int, the ``seq`` of the message the "New messages"
    line goes before, or None); ``last_seq`` (int, the event the page's
    catch-up starts after, "Keeping up": the newest message shown when
    newer ones follow, else the last event of any message shown);
    ``link_notice`` (str); ``moderator`` (bool, whether the reader may
    delete anyone's message, ``rules.moderates``) and
    ``edit_window_seconds`` (int, ``CHAT_EDIT_WINDOW_SECONDS``);
    ``handle_max_length`` and
    ``message_max_length`` (int, characters); ``identity``
    (``chat.identity.Identity``); ``guest_form`` (a ``GuestNameForm``, or
    None unless the identity is anonymous); ``membership`` (the request's
    ``RoomMembership`` here, or None); ``members`` (a private room's
    ``selectors.members``, else an empty list) and ``owner_count`` (int,
    how many of them own it); ``member_form`` (a
    ``MemberForm`` for an owner, else None); ``read_seq`` (int, the
    ``seq`` of a signed-in user's read mark here, or None); and
    ``ping_interval_ms``, ``typing_interval_ms``, ``read_interval_ms``
    (int, ms); ``sidebar_rooms``, for a signed-in user, the rooms they
    follow as ``live_counts.payloads`` gives them (a list of dict), else
    None; ``share_url`` (str, the room's full URL); ``may_set_topic``
    (bool, ``services.may_set_topic``), ``topic_error`` (str, why a topic
    was refused, or "") and ``topic_max_length`` (int, characters)."""
    who = identify(request.user, request.session)
    read_seq = selectors.read_seq(request.user, room)
    history, has_older, has_newer = _history(room, at, read_seq)
    highlight_seq = at if at is not None and any(m.seq == at for m in history) else None
    if at is not None and highlight_seq is None and not notice:
        notice = "This room has no message %d; here is where it would be." % at
    membership = selectors.membership(request.user, room)
    members = selectors.members(room) if room.private else []
    if membership is None or not membership.is_owner:
        member_form = None
    elif member_form is None:
        member_form = MemberForm(initial={"action": MemberForm.ADD})
    if who != ANONYMOUS:
        guest_form = None
    elif guest_form is None:
        guest_form = GuestNameForm()
    context = {
        "room": room,
        "history": history,
        "has_older": has_older,
        "has_newer": has_newer,
        "highlight_seq": highlight_seq,
        "unread_seq": _unread_seq(history, has_older, read_seq),
        "last_seq": _last_seq(history, has_newer),
        "link_notice": notice,
        "moderator": rules.moderates(rules.Actor.of_request(request.user), room),
        "edit_window_seconds": conf.get("CHAT_EDIT_WINDOW_SECONDS"),
        "handle_max_length": conf.get("CHAT_HANDLE_MAX_LENGTH"),
        "message_max_length": conf.get("CHAT_MESSAGE_MAX_LENGTH"),
        "identity": who,
        "guest_form": guest_form,
        "membership": membership,
        "members": members,
        "owner_count": sum(1 for member in members if member.is_owner),
        "member_form": member_form,
        "read_seq": read_seq,
        "ping_interval_ms": conf.PING_INTERVAL_MS,
        "typing_interval_ms": conf.TYPING_INTERVAL_MS,
        "read_interval_ms": conf.READ_INTERVAL_MS,
        "share_url": request.build_absolute_uri(reverse("chat:room", args=[room.label])),
        "may_set_topic": services.may_set_topic(request.user, room),
        "topic_error": topic_error,
        "topic_max_length": room.TOPIC_MAX_LENGTH,
        "sidebar_rooms": (
            list(live_counts.payloads(request.user).values()) if who.kind == USER else None
        ),
    }
    return render(request, "chat/room.html", context, status=status)


def _history(room, at, read_seq):
    """The messages a room page opens with, as ``(messages, has_older,
    has_newer)`` (``selectors.messages_around``'s shape): around the event
    ``at`` (int) when a permalink asks; else the room's last
    ``CHAT_HISTORY_LENGTH``, unless the reader's first unread message (the
    first after ``read_seq``, int or None) is older than those, when they
    are the ones around it, so that the "New messages" line shows where it
    belongs (when at most ``UNREAD_REACH`` are unread: one more query, a
    count that stops there)."""
    limit = conf.get("CHAT_HISTORY_LENGTH")
    if at is not None:
        return selectors.messages_around(room, at, limit // 2, limit - limit // 2)
    history = selectors.messages_before(room, None, limit + 1)
    has_older = len(history) > limit
    history = history[-limit:]
    if (
        read_seq is not None
        and has_older
        and history[0].seq > read_seq + 1
        and room.messages.filter(seq__gt=read_seq)[: UNREAD_REACH + 1].count() <= UNREAD_REACH
    ):
        before = min(UNREAD_CONTEXT, limit // 2)
        return selectors.messages_around(room, read_seq + 1, before, limit - before)
    return history, has_older, False


def _unread_seq(history, has_older, read_seq):
    """The ``seq`` (int) of the first message of ``history`` after the read
    mark ``read_seq`` (int or None), where the "New messages" line goes; or
    None when there is none, or when it is the first shown and older ones
    exist, which may be unread too (the page places the line once it has
    loaded them)."""
    if read_seq is None:
        return None
    for index, message in enumerate(history):
        if message.seq > read_seq:
            return None if index == 0 and has_older else message.seq
    return None


def _last_seq(history, has_newer):
    """The seq (int) of the event a room page showing ``history`` has
    taken all events up to, whose catch-up asks ``after_seq`` of it: every
    message after ``history`` when ``has_newer`` is true, so the seq of the
    newest shown; else the room's messages up to its end as they stood, so
    the last event of any of them (0 for none)."""
    if not history:
        return 0
    if has_newer:
        return history[-1].seq
    return max(max(message.seq, message.version or 0) for message in history)


# What the room page says once an owner's change to the members is made.
MEMBER_NOTICES = {
    MemberForm.ADD: "%s is now a member.",
    MemberForm.REMOVE: "%s is no longer a member.",
    MemberForm.MAKE_OWNER: "%s is now an owner.",
    MemberForm.STEP_DOWN: "%s is no longer an owner.",
}


@require_POST
def room_topic(request, label):
    """``POST /<label>/topic/`` (added 2026-12-05): set the room's topic
    (field ``topic``, at most ``Room.TOPIC_MAX_LENGTH`` characters; empty
    clears it), for those ``services.may_set_topic`` allows: a private
    room's owners, any signed-in user in a public room, staff.
    CSRF-protected. Redirects (302) to the room.

    Raises ``Http404`` for a room that does not exist or that the request
    may not read (nothing is created), and ``PermissionDenied`` (403) for
    anyone else. A topic too long re-renders the room page with the error,
    status 400, and stores nothing."""
    room = selectors.find_room(label)
    if room is None or not selectors.can_read(request.user, room):
        raise Http404("No such room.")
    try:
        services.set_topic(room, request.user, request.POST.get("topic", ""))
    except ClientError as error:
        if error.status == 403:
            raise PermissionDenied(error.detail) from None
        return _room_page(request, room, status=400, topic_error=error.detail)
    return redirect("chat:room", label=room.label)


@require_POST
def room_members(request, label):
    """``POST /<label>/members/``: an owner manages the room's members
    (``MemberForm``: add or remove a member by username, make a member an
    owner, or step down as owner while another owner remains), through
    ``chat.services``. CSRF-protected. Redirects (302) back to the room's
    members on success.

    Raises ``Http404`` for a room that does not exist or that the request
    may not read (nothing is created), and ``PermissionDenied`` (403) for
    anyone but an owner. A refused change (an unknown username, not a
    member, the last owner…) re-renders the room page with the error on
    the form, status 400, and changes nothing."""
    room = selectors.find_room(label)
    if room is None or not selectors.can_read(request.user, room):
        raise Http404("No such room.")
    membership = selectors.membership(request.user, room)
    if membership is None or not membership.is_owner:
        raise PermissionDenied("Only the room's owners manage its members.")
    form = MemberForm(request.POST)
    if form.is_valid():
        action, username = form.cleaned_data["action"], form.cleaned_data["username"]
        try:
            if action == MemberForm.ADD:
                changed = services.add_member(room, username)
            elif action == MemberForm.REMOVE:
                changed = services.remove_member(room, username)
            elif action == MemberForm.MAKE_OWNER:
                changed = services.make_owner(room, username)
            else:
                changed = services.step_down(room, request.user)
        except ClientError as error:
            form.add_error("username", forms.ValidationError(error.detail, code=error.code))
        else:
            notices.success(request, MEMBER_NOTICES[action] % changed.user.get_username())
            return redirect(reverse("chat:room", kwargs={"label": room.label}) + "#room-members")
    return _room_page(request, room, member_form=form, status=400)


@json_client_errors
def messages(request, label):
    """``/<label>/messages``: a page of the room's messages as JSON, for
    catching up after a reconnect and for paging back through history.

    Query parameters (all optional, non-negative integers):
    ``after=<id>`` gives the messages with an id above it, oldest first;
    ``before=<id>`` gives the last messages with an id below it, oldest first;
    ``after_seq=<n>`` (added 2026-12-05) gives the messages posted or
    changed after the room's event ``n``, in the order of their
    ``version`` (``selectors.messages_after_seq``);
    ``limit=<n>`` is the page size (default 100, at most 500). With none
    of ``after``, ``before`` and ``after_seq`` it gives the room's last
    messages. Every message is in its current state: edited text,
    reactions, tombstones.

    Returns ``{"messages": [Message.as_dict(), ...], "has_more": bool}``,
    where ``has_more`` says another page lies beyond this one in the
    direction asked. A bad parameter, or more than one of ``after``,
    ``before`` and ``after_seq``, gets 400 with ``{"error", "detail"}``;
    an unknown room gets 404 ``NOT_FOUND`` with the same shape, and so does
    a room the request may not read (``selectors.can_read``).
    docs/protocol.md has the details.
    """
    after = _optional_int(request.GET, "after")
    before = _optional_int(request.GET, "before")
    after_seq = _optional_int(request.GET, "after_seq")
    limit = _optional_int(request.GET, "limit")
    if sum(bound is not None for bound in (after, before, after_seq)) > 1:
        raise ClientError("INVALID_PARAMETER", "Give one of 'after', 'before' and 'after_seq'.")
    if limit is None:
        limit = PAGE_SIZE_DEFAULT
    if not 1 <= limit <= PAGE_SIZE_MAX:
        raise ClientError("INVALID_PARAMETER", "'limit' must be between 1 and %d." % PAGE_SIZE_MAX)
    room = selectors.readable_room(request.user, label)

    # One more than asked tells whether another page follows.
    if after_seq is not None:
        page = selectors.messages_after_seq(room, after_seq, limit + 1)
        has_more = len(page) > limit
        page = page[:limit]
    elif after is not None:
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


# The backend a new account is signed in with: the one a password sign-in
# uses. With several in settings.AUTHENTICATION_BACKENDS, login needs it named.
SIGNUP_BACKEND = "chat.transport.django_fixes.ModelBackend"


@sensitive_post_parameters("password1", "password2")
@never_cache
def signup(request):
    """``/accounts/signup/``: create an account (``SignupForm``: a username
    and a password twice, the password checked by
    ``AUTH_PASSWORD_VALIDATORS``), sign in as it, and redirect (302) to the
    ``next`` parameter when it is a URL of this site, else to
    ``LOGIN_REDIRECT_URL``. A refused form re-renders with its errors
    (400) and creates nothing: among them a username that reads as an
    existing one, or as a name another guest has used within
    ``CHAT_GUEST_NAME_HOLD_SECONDS``.

    Every POST spends one from its client address's bucket
    (``CHAT_SIGNUP_BURST`` at once, then ``CHAT_SIGNUP_PER_HOUR``), refused
    or not, which bounds both making accounts and probing for taken
    usernames; beyond it the form re-renders with the error, status 429
    with ``Retry-After`` (seconds), before the form is read."""
    next_url = _safe_next(request)
    refusal = ""
    response_headers = {}
    if request.method == "POST":
        form = SignupForm(request.POST, own_guest_name=request.session.get(GUEST_NAME_SESSION_KEY))
        retry_after = take_cached_token(
            bucket_key("signup", "address", client_address(request)),
            conf.get("CHAT_SIGNUP_BURST"),
            conf.get("CHAT_SIGNUP_PER_HOUR") / 60,
        )
        if retry_after is not None:
            form = SignupForm(initial={"username": request.POST.get("username", "")})
            refusal = "Too many sign-ups from here; try again later."
            status = 429
            response_headers["Retry-After"] = str(retry_after)
        elif form.is_valid():
            # The user was made just now, not authenticated, so the
            # backend is named: the one that signs users in (settings).
            auth.login(request, form.save(), backend=SIGNUP_BACKEND)
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
        else:
            status = 400
    else:
        form = SignupForm()
        status = 200
    context = {"form": form, "next": next_url, "refusal": refusal}
    response = render(request, "registration/signup.html", context, status=status)
    for name, value in response_headers.items():
        response[name] = value
    return response


def _safe_next(request):
    """The ``next`` parameter (POST, else GET) when it is a URL of this site
    (str), else ``""``: never a redirect to another site."""
    next_url = request.POST.get("next", request.GET.get("next", ""))
    if is_safe_url(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return next_url
    return ""
