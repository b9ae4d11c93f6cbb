"""``manage.py chatroom create|members``: rooms and their members, from the
command line (the admin and the room page's owners can do the same)."""

from django.core.management.base import BaseCommand, CommandError

from chat import selectors, services
from chat.exceptions import ClientError


def usernames(value):
    """A comma-separated list of usernames (str) as a list of str, blanks
    dropped."""
    return [name.strip() for name in value.split(",") if name.strip()]


class Command(BaseCommand):
    help = (
        "Create (or convert) a room and set its members, or list them: "
        "chatroom create <label> [--private | --public] [--members ann,bob] [--owners carol] "
        "| chatroom members <label>"
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", metavar="create|members")
        actions.required = True
        create = actions.add_parser(
            "create",
            help="Create the room, or change it: privacy and members.",
            description=(
                "Create the room labelled LABEL, or change an existing one. With --members, "
                "the members named (and the owners) become the room's whole member list; "
                "without it, the members stay as they are and --owners are added or made "
                "owners."
            ),
        )
        create.add_argument("label")
        privacy = create.add_mutually_exclusive_group()
        privacy.add_argument(
            "--private",
            dest="private",
            action="store_const",
            const=True,
            help="make the room private (only its members may read it)",
        )
        privacy.add_argument(
            "--public", dest="private", action="store_const", const=False, help="make it public"
        )
        create.add_argument("--members", type=usernames, help="usernames, comma-separated")
        create.add_argument("--owners", type=usernames, default=[], help="usernames, ditto")
        members = actions.add_parser("members", help="List the room's members and their roles.")
        members.add_argument("label")

    def handle(self, *args, **options):
        """``create`` makes the changes in one transaction
        (``services.configure_room``) and prints the room's state;
        ``members`` prints one ``<username>\\t<role>`` line per member,
        owners first. An invalid label, an unknown room (``members``) or an
        unknown username is a ``CommandError`` (exit status 1), and nothing
        is changed."""
        label = options["label"]
        if options["action"] == "create":
            try:
                room = services.configure_room(
                    label,
                    private=options["private"],
                    members=options["members"],
                    owners=options["owners"],
                )
            except ClientError as error:
                raise CommandError(error.detail) from None
            count = room.memberships.count()
            self.stdout.write(
                "Room %s: %s, %d member(s)."
                % (room.label, "private" if room.private else "public", count)
            )
            return
        room = selectors.find_room(label)
        if room is None:
            raise CommandError("No room is labelled %r." % label)
        for membership in selectors.members(room):
            self.stdout.write("%s\t%s" % (membership.user.get_username(), membership.role))
