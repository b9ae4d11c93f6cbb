"""``manage.py chatsay <label> <handle> <text>``: post a message into a
room from the command line, as a socket's message is posted
(``chat.services.say``): validated, numbered, stored and broadcast to the
room's members. The room must exist; it is never created here."""

from django.core.management.base import BaseCommand, CommandError

from chat import services
from chat.exceptions import ClientError


class Command(BaseCommand):
    help = "Post a message into an existing room and broadcast it to its members."

    def add_arguments(self, parser):
        parser.add_argument("label", help="the room's label")
        parser.add_argument("handle", help="the name to post as")
        parser.add_argument("text", help="the message")
        parser.add_argument(
            "--bot", action="store_true", help='mark the message as a bot\'s ("bot": true)'
        )

    def handle(self, *args, **options):
        """Print ``id=<id> seq=<seq>`` of the stored message. A room that
        does not exist, or a handle or text the protocol refuses, is a
        ``CommandError`` with the refusal's detail (exit status 1)."""
        try:
            message = services.say(
                options["label"], options["handle"], options["text"], bot=options["bot"]
            )
        except ClientError as error:
            raise CommandError("%s (%s)" % (error.detail, error.code)) from None
        self.stdout.write("id=%d seq=%d" % (message.pk, message.seq))
