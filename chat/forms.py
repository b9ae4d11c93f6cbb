from django import forms

from chat import conf


class NewRoomForm(forms.Form):
    """The index page's form: a label (slug) for the room to open."""

    label = forms.SlugField(
        max_length=conf.LABEL_MAX_LENGTH,
        help_text="Letters, digits, hyphens and underscores.",
    )

    def clean_label(self):
        label = self.cleaned_data["label"]
        if not conf.is_valid_label(label):
            raise forms.ValidationError("That label is reserved; choose another.")
        return label
