from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from chat import conf, identity
from chat.exceptions import ClientError


class NewRoomForm(forms.Form):
    """The index page's form: a label (slug) for the room to open, and
    ``private`` (bool), to create it as a private room that ``user`` (the
    request's user) owns; only a signed-in user may tick it."""

    label = forms.SlugField(
        max_length=conf.LABEL_MAX_LENGTH,
        help_text="Letters, digits, hyphens and underscores.",
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
        label = self.cleaned_data["label"]
        if not conf.is_valid_label(label):
            raise forms.ValidationError("That label is reserved; choose another.")
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
    characters, and unique regardless of case, as guest names are checked
    against usernames regardless of case (``chat.identity``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
        if get_user_model().objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with that username already exists.", code="unique")
        return username
