from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.utils.text import slugify

from chat import conf, identity
from chat.exceptions import ClientError
from chat.models import RegisteredHandle, Room
from chat.protocol import canonical_handle


class NewRoomForm(forms.Form):
    """The index page's form: the name or label of the room to open
    (``label``), and ``private`` (bool), to create it as a private room
    that ``user`` (the request's user) owns; only a signed-in user may
    tick it.

    Once valid, ``cleaned_data["label"]`` is the room's label (str) and
    ``cleaned_data["name"]`` its name for a new room (str). Since
    2026-12-05 a name such as "Team Standup" is accepted and made into the
    label ``team-standup`` with Django's ``slugify`` (accents dropped,
    lower case, spaces to hyphens), the name kept for display; a label
    that names a room already is taken as it is, whatever its case."""

    label = forms.CharField(
        label="Name",
        max_length=Room._meta.get_field("name").max_length,
        help_text="A name such as “Team Standup”, or a room's label.",
        widget=forms.TextInput(attrs={"placeholder": "e.g. Team Standup"}),
    )
    private = forms.BooleanField(
        required=False,
        label="Private",
        help_text="Only the members you add can find, read or join it.",
        widget=forms.CheckboxInput(attrs={"aria-describedby": "private-help"}),
    )

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_label(self):
        given = " ".join(self.cleaned_data["label"].split())
        if conf.is_valid_label(given) and Room.objects.filter(label=given).exists():
            label = given
        else:
            label = slugify(given)[: conf.LABEL_MAX_LENGTH].strip("-_")
        if not label:
            raise forms.ValidationError(
                "Give a name with at least one letter or digit.", code="invalid"
            )
        if not conf.is_valid_label(label):
            raise forms.ValidationError(
                "The label %(label)s is reserved; choose another name.",
                code="reserved",
                params={"label": label},
            )
        self.cleaned_data["name"] = given if given != label else label
        return label

    def clean_private(self):
        private = self.cleaned_data["private"]
        if private and not (self.user is not None and self.user.is_authenticated):
            raise forms.ValidationError("Log in to create a private room.")
        return private


class MemberForm(forms.Form):
    """The room page's form for an owner to manage a private room's members:
    ``action`` (``ADD``, ``REMOVE``, ``MAKE_OWNER``, ``STEP_DOWN``) and
    ``username`` (str; not needed to step down)."""

    ADD = "add"
    REMOVE = "remove"
    MAKE_OWNER = "make_owner"
    STEP_DOWN = "step_down"

    action = forms.ChoiceField(
        choices=[(a, a) for a in (ADD, REMOVE, MAKE_OWNER, STEP_DOWN)],
        widget=forms.HiddenInput,
    )
    username = forms.CharField(label="Username", max_length=150, required=False, strip=True)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("action") not in (None, self.STEP_DOWN) and not cleaned.get("username"):
            self.add_error("username", forms.ValidationError("Give a username.", code="required"))
        return cleaned


class GuestNameForm(forms.Form):
    """The room page's form for a guest to pick a name: one field, ``name``.

    Valid when ``chat.identity.clean_guest_name`` accepts the name; then
    ``cleaned_data["name"]`` is the cleaned name (str). Its refusals become
    errors on the field, with the ``ClientError``'s ``detail`` as message and
    its ``code`` as code."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Built per form, not at import, so that the length limit follows
        # the setting as it is now (a test may override it).
        self.fields["name"] = forms.CharField(
            label="Your name", max_length=conf.get("CHAT_HANDLE_MAX_LENGTH")
        )

    def clean_name(self):
        try:
            return identity.clean_guest_name(self.cleaned_data["name"])
        except ClientError as error:
            raise forms.ValidationError(error.detail, code=error.code) from None


class SignupForm(UserCreationForm):
    """``/accounts/signup/``'s form: Django's ``UserCreationForm`` (a
    username, a password twice, checked by ``AUTH_PASSWORD_VALIDATORS``),
    with the username held to the chat's handle rules, since a user's
    username is their handle: at most ``CHAT_HANDLE_MAX_LENGTH``
    characters; unique in canonical form (``chat.protocol.canonical_handle``:
    case, width and ligatures aside), as guest names are checked against
    usernames in that form; and not a name a guest has used in the last
    ``CHAT_GUEST_NAME_HOLD_SECONDS`` (``chat.identity.guest_name_in_use``),
    so no guest still talking under it is suddenly taken for the new
    account (docs/protocol.md, "Names"). ``own_guest_name`` (str or None)
    is the guest name of the session signing up: a guest may take the name
    they have been using themselves."""

    def __init__(self, *args, own_guest_name=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.own_guest_name = own_guest_name
        max_length = conf.get("CHAT_HANDLE_MAX_LENGTH")
        username = self.fields["username"]
        username.widget.attrs["maxlength"] = max_length
        username.help_text = (
            "Your name in the chat: up to %d letters, digits and @ . + - _." % max_length
        )

    def clean_username(self):
        username = self.cleaned_data["username"]
        max_length = conf.get("CHAT_HANDLE_MAX_LENGTH")
        if len(username) > max_length:
            raise forms.ValidationError(
                "A username may be at most %(max)d characters.",
                code="max_length",
                params={"max": max_length},
            )
        if RegisteredHandle.is_registered(username):
            raise forms.ValidationError("A user with that username already exists.", code="unique")
        if not self._is_own_guest_name(username) and identity.guest_name_in_use(username):
            raise forms.ValidationError(
                "A guest is using that name right now; pick another, or try again later.",
                code="guest_name_in_use",
            )
        return username

    def _is_own_guest_name(self, username):
        return bool(self.own_guest_name) and canonical_handle(
            self.own_guest_name
        ) == canonical_handle(username)
