"""``manage.py chattoken create|revoke|list``: the tokens of the HTTP API
for bots (chat/api.py), from the command line (the admin can do the same)."""

from django.core.management.base import BaseCommand, CommandError

from chat import services
from chat.exceptions import ClientError
from chat.models import ApiToken


class Command(BaseCommand):
    help = (
        "Create an API token (its secret is printed once), revoke one, or list them: "
        "chattoken create <name> | chattoken revoke <name> | chattoken list"
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create", "revoke", "list"])
        parser.add_argument("name", nargs="?", help="the token's name (create, revoke)")

    def handle(self, *args, **options):
        """``create`` prints the new token's secret alone on a line, the
        only time it is ever shown; ``revoke`` prints what it revoked;
        ``list`` prints one line per token. A name already taken, an
        unknown name or a missing one is a ``CommandError`` (exit status 1)."""
        action, name = options["action"], options["name"]
        if action == "list":
            self._list()
            return
        if not name:
            raise CommandError("Give the token's name: chattoken %s <name>." % action)
        try:
            if action == "create":
                api_token, secret = services.create_api_token(name)
            else:
                api_token = services.revoke_api_token(name)
        except ClientError as error:
            raise CommandError(error.detail) from None
        if action == "create":
            self.stderr.write("Created the token %r. It is shown only this once:" % api_token.name)
            self.stdout.write(secret)
        else:
            self.stdout.write(
                "Revoked the token %r (at %s)."
                % (api_token.name, api_token.revoked_at.isoformat(timespec="seconds"))
            )

    def _list(self):
        for api_token in ApiToken.objects.order_by("name"):
            self.stdout.write(
                "%s\tcreated %s\tlast used %s\t%s"
                % (
                    api_token.name,
                    api_token.created_at.isoformat(timespec="seconds"),
                    _when(api_token.last_used_at),
                    "revoked %s" % _when(api_token.revoked_at)
                    if api_token.is_revoked
                    else "active",
                )
            )


def _when(moment):
    return "never" if moment is None else moment.isoformat(timespec="seconds")
