"""Messages that change and history that reaches back, in headless Chromium
against the real split: a message edited, deleted and reacted to from its
menu, seen in a second window; scrolling back to a room's first message;
a permalink; formatting in live messages; groups, days and the "New
messages" line; and the pictures of it all at 360 and 1,400 px."""

import os

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from bench.chat_client import unique_label
from tests.browser.pages import (
    fits_the_width,
    open_room,
    pick_guest_name,
    run_in_the_project,
    say,
    send_from_a_worker,
    send_lines_from_a_worker,
    shown_texts,
    sign_up,
    unique_name,
    wait_for_text,
    wait_until,
    wait_until_connected,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def shoot(page, tmp_path, name):
    """Save a screenshot of ``page`` as ``<name>.png`` in ``tmp_path``, and
    in ``$SCREENSHOT_DIR`` too when it is set, to be looked at."""
    page.save_screenshot(str(tmp_path / (name + ".png")))
    if os.environ.get("SCREENSHOT_DIR"):
        page.save_screenshot(os.path.join(os.environ["SCREENSHOT_DIR"], name + ".png"))


def signed_in_room(browser, split, label, **size):
    """A new browser signed up as a fresh user and on room ``label``;
    returns ``(page, username)``."""
    username = unique_name("ann")
    page = browser(**size)
    sign_up(page, split, username, next_path="/%s/" % label)
    wait_until_connected(page)
    return page, username


def guest_room(browser, split, label, **size):
    """A new browser on room ``label`` as a guest with a fresh name picked;
    returns ``(page, name)``."""
    name = unique_name("bob")
    page = open_room(browser, split, label, **size)
    pick_guest_name(page, name)
    return page, name


def item(page, text):
    """The <li> of the message whose text is ``text``."""
    return page.find_element(
        By.XPATH,
        "//ol[@id='messages']/li[contains(@class, 'message')]"
        "[.//*[contains(@class, 'text') and normalize-space(.)=%r]]" % text,
    )


def messages(page):
    """What the page shows of each message, oldest first: dicts of ``seq``
    (int), ``text``, ``deleted``, ``edited`` (bool), ``continued`` (bool),
    and ``reactions`` ([emoji, count] pairs)."""
    return page.execute_script(
        "return Array.from(document.querySelectorAll('#messages li.message'), li => ({"
        "  seq: Number(li.dataset.seq),"
        "  text: li.querySelector('.text').textContent,"
        "  deleted: li.classList.contains('deleted'),"
        "  edited: Boolean(li.querySelector('.edited')),"
        "  continued: li.classList.contains('continued'),"
        "  reactions: Array.from(li.querySelectorAll('.reaction'), b =>"
        "    [b.dataset.emoji, Number(b.querySelector('.count').textContent)])}));"
    )


def open_menu(page, li):
    """Open the menu of the message ``li`` (a <li>, or the text of one) with
    the mouse, as a reader does: hover, then its button. Returns the menu.
    A message redrawn meanwhile (a change came) is looked up again."""

    def opened(driver):
        target = item(driver, li) if isinstance(li, str) else li
        ActionChains(driver).move_to_element(target).perform()
        target.find_element(By.CSS_SELECTOR, ".actions-button").click()
        return driver.find_element(By.CSS_SELECTOR, ".message-menu")

    return wait_until(page, opened)


def menu_item(menu, text):
    (found,) = [
        node for node in menu.find_elements(By.CSS_SELECTOR, ".menu-item") if node.text == text
    ]
    return found


def test_an_edit_from_the_menu_shows_edited_in_the_other_window(browser, split):
    label = unique_label("edit")
    ann, _ = signed_in_room(browser, split, label)
    bob, _ = guest_room(browser, split, label)
    say(ann, "the plan is in teh usual place")
    wait_for_text(bob, "the plan is in teh usual place")

    menu = open_menu(ann, item(ann, "the plan is in teh usual place"))
    assert [node.text for node in menu.find_elements(By.CSS_SELECTOR, ".menu-item")] == [
        "Copy link",
        "Edit",
        "Delete",
    ]
    menu_item(menu, "Edit").click()
    box = ann.find_element(By.CSS_SELECTOR, "#messages .edit-box")
    assert ann.switch_to.active_element == box
    assert box.get_attribute("value") == "the plan is in teh usual place"
    box.send_keys(Keys.BACKSPACE * len("teh usual place") + "the usual place" + Keys.ENTER)

    for page in (ann, bob):
        wait_for_text(page, "the plan is in the usual place")
        edited = item(page, "the plan is in the usual place").find_element(
            By.CSS_SELECTOR, ".edited"
        )
        assert edited.text == "(edited)"
        assert edited.get_attribute("title").startswith("Edited ")
    # Someone else's message offers no Edit or Delete, to a reader who may not.
    say(bob, "from a guest")
    wait_for_text(ann, "from a guest")
    menu = open_menu(ann, item(ann, "from a guest"))
    assert [node.text for node in menu.find_elements(By.CSS_SELECTOR, ".menu-item")] == [
        "Copy link"
    ]
    ActionChains(ann).send_keys(Keys.ESCAPE).perform()
    wait_until(ann, lambda driver: driver.find_elements(By.CSS_SELECTOR, ".message-menu") == [])

    # After a reload the history shows it the same way.
    bob.refresh()
    wait_until_connected(bob)
    assert item(bob, "the plan is in the usual place").find_element(By.CSS_SELECTOR, ".edited")


def test_arrow_up_in_the_empty_composer_edits_the_last_message_and_escape_cancels(browser, split):
    label = unique_label("arrow")
    ann, _ = signed_in_room(browser, split, label)
    say(ann, "first")
    say(ann, "second")
    wait_for_text(ann, "second")
    composer = ann.find_element(By.ID, "message")

    composer.send_keys(Keys.ARROW_UP)
    box = ann.find_element(By.CSS_SELECTOR, "#messages .edit-box")
    assert box.get_attribute("value") == "second"
    box.send_keys(" thoughts" + Keys.ESCAPE)
    wait_until(ann, lambda driver: driver.find_elements(By.CSS_SELECTOR, ".edit-box") == [])
    assert ann.switch_to.active_element == composer
    assert shown_texts(ann) == ["first", "second"]

    composer.send_keys(Keys.ARROW_UP)
    ann.find_element(By.CSS_SELECTOR, ".edit-box").send_keys(" thoughts" + Keys.ENTER)
    wait_for_text(ann, "second thoughts")
    assert ann.switch_to.active_element == composer
    # A refused change is said in the error line: an empty text cannot be saved.
    composer.send_keys(Keys.ARROW_UP)
    box = ann.find_element(By.CSS_SELECTOR, ".edit-box")
    box.send_keys(Keys.CONTROL + "a")
    box.send_keys(Keys.DELETE + Keys.ENTER)
    error = ann.find_element(By.ID, "error")
    wait_until(ann, lambda driver: error.is_displayed())
    assert "empty" in error.text


def test_a_message_deleted_from_the_menu_is_a_tombstone_in_the_other_window(browser, split):
    label = unique_label("delete")
    ann, _ = signed_in_room(browser, split, label)
    bob, _ = guest_room(browser, split, label)
    say(ann, "posted in the wrong room")
    say(ann, "this one stays")
    wait_for_text(bob, "this one stays")

    menu = open_menu(ann, item(ann, "posted in the wrong room"))
    menu_item(menu, "Delete").click()
    # Asked once more, in the menu.
    assert ann.find_element(By.CSS_SELECTOR, ".menu-question").text == "Delete this message?"
    menu_item(ann.find_element(By.CSS_SELECTOR, ".message-menu"), "Delete").click()

    for page in (ann, bob):
        wait_until(page, lambda driver: messages(driver)[0]["deleted"])
        first, second = messages(page)
        assert (first["text"], first["reactions"]) == ("message deleted", [])
        assert second["text"] == "this one stays"
        tombstone = item(page, "message deleted")
        assert tombstone.find_elements(By.CSS_SELECTOR, "img, .formatted") == []
    bob.refresh()
    wait_until_connected(bob)
    assert [m["text"] for m in messages(bob)] == ["message deleted", "this one stays"]
    assert "posted in the wrong room" not in bob.page_source


def test_a_reaction_shows_its_count_in_the_other_window_and_who_reacted_on_focus(browser, split):
    label = unique_label("react")
    ann, ann_name = signed_in_room(browser, split, label)
    bob, bob_name = guest_room(browser, split, label)
    say(ann, "lunch at noon?")
    wait_for_text(bob, "lunch at noon?")

    menu = open_menu(ann, item(ann, "lunch at noon?"))
    menu.find_element(By.CSS_SELECTOR, "[aria-label='React with 👍']").click()
    wait_until(bob, lambda driver: messages(driver)[0]["reactions"] == [["👍", 1]])
    # bob adds his from the reaction's own button; both see two.
    item(bob, "lunch at noon?").find_element(By.CSS_SELECTOR, ".reaction").click()
    for page in (ann, bob):
        wait_until(page, lambda driver: messages(driver)[0]["reactions"] == [["👍", 2]])
        reaction = item(page, "lunch at noon?").find_element(By.CSS_SELECTOR, ".reaction")
        assert reaction.get_attribute("aria-pressed") == "true"

    # Focused from the keyboard, it says who reacted.
    reaction = item(ann, "lunch at noon?").find_element(By.CSS_SELECTOR, ".reaction")
    ann.execute_script("arguments[0].focus();", reaction)
    ActionChains(ann).send_keys(Keys.SHIFT).perform()  # the keyboard: :focus-visible
    who = "%s, %s" % (ann_name, bob_name)
    assert reaction.get_attribute("title") == who
    assert reaction.get_attribute("aria-label") == "👍 2: %s" % who
    tooltip = ann.execute_script(
        "return getComputedStyle(arguments[0], '::after').content;", reaction
    )
    assert who in tooltip

    # Clicking it again takes ann's back.
    reaction.click()
    wait_until(bob, lambda driver: messages(driver)[0]["reactions"] == [["👍", 1]])
    reaction = item(bob, "lunch at noon?").find_element(By.CSS_SELECTOR, ".reaction")
    assert reaction.get_attribute("title") == bob_name

    # Someone without a name is refused by the server, in the error line.
    nobody = open_room(browser, split, label)
    wait_until(nobody, lambda driver: messages(driver)[0]["reactions"] == [["👍", 1]])
    item(nobody, "lunch at noon?").find_element(By.CSS_SELECTOR, ".reaction").click()
    error = nobody.find_element(By.ID, "error")
    wait_until(nobody, lambda driver: error.is_displayed())
    assert "pick a name" in error.text
    assert messages(bob)[0]["reactions"] == [["👍", 1]]


def test_scrolling_up_loads_back_to_the_rooms_first_of_500_messages(browser, split, split_env):
    label = unique_label("long")
    texts = ["line %d" % n for n in range(500)]
    send_from_a_worker(dict(os.environ, **split_env), label, texts)
    page = open_room(browser, split, label, width=800, height=700)
    assert shown_texts(page)[0] == "line 450"

    # The reader scrolls up; what they look at stays where it was.
    anchor = item(page, "line 450")
    page.execute_script("document.getElementById('scroller').scrollTop = 0;")
    wait_until(page, lambda driver: shown_texts(driver)[0] == "line 400")
    offset = page.execute_script(
        "var s = document.getElementById('scroller'), li = arguments[0];"
        "return li.getBoundingClientRect().top - s.getBoundingClientRect().top;",
        anchor,
    )
    # At the top of the pane, where it was, not pushed down by 50 older messages.
    assert -5 < offset < 150

    def scrolled_to_the_start(driver):
        driver.execute_script("document.getElementById('scroller').scrollTop = 0;")
        return shown_texts(driver)[0] == "line 0"

    wait_until(page, scrolled_to_the_start)
    wait_until(page, lambda driver: driver.find_element(By.ID, "room-start").is_displayed())
    assert shown_texts(page) == texts
    assert not page.find_element(By.ID, "older").is_displayed()


def test_a_permalink_opens_message_3_of_500_highlighted_then_catches_up_and_scrolls_back(
    browser, split, split_env, tmp_path
):
    label = unique_label("permalink")
    env = dict(os.environ, **split_env)
    texts = ["line %d" % n for n in range(500)]
    send_from_a_worker(env, label, texts)

    page = browser(width=800, height=700)
    page.get("%s/%s/?at=3" % (split.base_url, label))
    wait_until_connected(page)
    highlighted = page.find_element(By.CSS_SELECTOR, "#messages li.highlighted")
    assert highlighted.get_attribute("data-seq") == "3"
    shoot(page, tmp_path, "permalink-800")
    assert highlighted.find_element(By.CSS_SELECTOR, ".text").text == "line 2"
    assert page.execute_script(
        "var r = arguments[0].getBoundingClientRect(),"
        " s = document.getElementById('scroller').getBoundingClientRect();"
        "return r.top >= s.top && r.bottom <= s.bottom;",
        highlighted,
    )
    # The rest catches up after it, without moving the reader.
    wait_until(page, lambda driver: len(shown_texts(driver)) == 500)
    assert shown_texts(page) == texts
    assert page.find_element(By.ID, "jump").text == "Newest messages ↓"
    assert page.find_element(By.ID, "room-start").is_displayed()
    send_from_a_worker(env, label, ["live after the permalink"])
    wait_for_text(page, "live after the permalink")

    # Opened in the middle, it pages back to the first message too.
    page.get("%s/%s/?at=250" % (split.base_url, label))
    wait_until_connected(page)
    assert page.find_element(By.CSS_SELECTOR, "li.highlighted .text").text == "line 249"

    def scrolled_to_the_start(driver):
        driver.execute_script("document.getElementById('scroller').scrollTop = 0;")
        return shown_texts(driver)[0] == "line 0"

    wait_until(page, scrolled_to_the_start)
    wait_until(page, lambda driver: len(shown_texts(driver)) == 501)
    assert shown_texts(page) == texts + ["live after the permalink"]

    # Every message's time links to it; its menu copies the same address.
    link = item(page, "line 7").find_element(By.CSS_SELECTOR, ".permalink")
    assert link.get_attribute("href") == "%s/%s/?at=8" % (split.base_url, label)


def test_a_link_in_a_live_message_is_clickable_and_a_code_block_keeps_its_layout(
    browser, split, split_env
):
    label = unique_label("live-format")
    bob = open_room(browser, split, label, width=360)
    code = "for n in range(3):\n    print(n)  # %s" % ("wide " * 40)
    # Sent while the page is open: they reach it live.
    send_lines_from_a_worker(
        dict(os.environ, **split_env),
        label,
        [("ann", "see https://example.com/docs **now**"), ("ann", "```\n%s\n```" % code)],
    )

    wait_until(bob, lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "#messages pre")) == 1)
    link = bob.find_element(By.CSS_SELECTOR, "#messages .formatted a")
    assert link.get_attribute("href") == "https://example.com/docs"
    assert link.get_attribute("target") == "_blank"
    assert link.get_attribute("rel") == "noopener noreferrer nofollow ugc"
    assert bob.find_element(By.CSS_SELECTOR, "#messages .formatted strong").text == "now"
    block = bob.find_element(By.CSS_SELECTOR, "#messages pre > code")
    assert block.get_attribute("textContent") == code + "\n"
    pre = bob.find_element(By.CSS_SELECTOR, "#messages pre")
    assert pre.value_of_css_property("white-space") == "pre"
    assert bob.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth;", pre)
    assert fits_the_width(bob)


def test_messages_group_by_author_and_days_are_separated_in_the_readers_zone(
    browser, split, split_env
):
    label = unique_label("days")
    env = dict(os.environ, **split_env)
    send_lines_from_a_worker(
        env,
        label,
        [("bob", "yesterday 1"), ("bob", "yesterday 2"), ("bob", "today 1"), ("bob", "today 2")],
    )
    # The first two a day earlier, 2 minutes apart; today's a minute apart.
    run_in_the_project(
        env,
        "import datetime\n"
        "from django.utils import timezone\n"
        "from chat.models import Message\n"
        "now = timezone.now()\n"
        "for text, back in [('yesterday 1', 1442), ('yesterday 2', 1440),"
        " ('today 1', 2), ('today 2', 1)]:\n"
        "    Message.objects.filter(room__label=%r, message=text).update(\n"
        "        timestamp=now - datetime.timedelta(minutes=back))\n" % label,
    )
    page = browser()
    # Late in the evening in Kolkata is another day than in UTC for some of it;
    # the days are the reader's, whatever the server's.
    page.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Kolkata"})
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)

    layout = page.execute_script(
        "return Array.from(document.querySelectorAll('#messages > li'), li =>"
        " li.classList.contains('day') ? 'day:' + li.textContent :"
        " li.querySelector('.text').textContent + (li.classList.contains('continued') ? '+' : ''));"
    )
    assert layout == [
        "day:Yesterday",
        "yesterday 1",
        "yesterday 2+",
        "day:Today",
        "today 1",
        "today 2+",
    ]
    # A live message from someone else starts a group; bob's next joins his.
    send_lines_from_a_worker(env, label, [("carl", "hello"), ("carl", "again"), ("bob", "back")])
    wait_for_text(page, "back")
    assert [(m["text"], m["continued"]) for m in messages(page)][-3:] == [
        ("hello", False),
        ("again", True),
        ("back", False),
    ]
    # A continued message hides its name but keeps it for screen readers.
    handle = item(page, "again").find_element(By.CSS_SELECTOR, ".handle")
    assert handle.get_attribute("textContent") == "carl"
    assert handle.size["width"] <= 1


def test_the_new_messages_line_sits_above_the_first_of_75_unread(
    browser, split, split_env, tmp_path
):
    label = unique_label("unread")
    env = dict(os.environ, **split_env)
    send_from_a_worker(env, label, ["read %d" % n for n in range(20)])
    page, _ = signed_in_room(browser, split, label)
    # Leaving the room writes the read mark, at the 20th.
    page.get(split.base_url + "/")
    send_from_a_worker(env, label, ["unread %d" % n for n in range(75)])

    def listed_unread(driver):
        driver.get(split.base_url + "/")
        return driver.execute_script(
            "var unread = document.querySelector('.rooms [data-label=%s] .unread');"
            "return unread && unread.dataset.unread;" % label
        )

    wait_until(page, lambda driver: listed_unread(driver) == "75")

    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)

    def around_the_line(driver):
        return driver.execute_script(
            "return Array.from(document.querySelectorAll('#messages > li:not(.day)'), li =>"
            " li.id === 'unread' ? '|' : li.querySelector('.text').textContent);"
        )

    shown = around_the_line(page)
    line = shown.index("|")
    assert shown[line - 1 : line + 2] == ["read 19", "|", "unread 0"]
    assert all(text.startswith("read ") for text in shown[:line])
    # The line is where the page opened, and the rest caught up below it.
    assert page.execute_script(
        "var r = document.getElementById('unread').getBoundingClientRect(),"
        " s = document.getElementById('scroller').getBoundingClientRect();"
        "return r.top >= s.top - 1 && r.bottom <= s.bottom;"
    )
    wait_until(page, lambda driver: len(shown_texts(driver)) == 95)

    # Older messages load above it (at once here: the pane opened near its
    # top), all read.
    page.execute_script("document.getElementById('scroller').scrollTop = 0;")
    wait_until(page, lambda driver: shown_texts(driver)[0] == "read 0")
    shown = around_the_line(page)
    line = shown.index("|")
    assert shown[:line] == ["read %d" % n for n in range(20)]
    assert shown[line + 1 :] == ["unread %d" % n for n in range(75)]
    shoot(page, tmp_path, "unread-line-1400")

    # Opened by a permalink among the unread, the server cannot place the
    # line (every message it shows is unread, and older ones may be); the
    # page places it once scrolling back has loaded the first unread one.
    page.get("%s/%s/?at=60" % (split.base_url, label))
    wait_until_connected(page)
    page.execute_script("document.getElementById('scroller').scrollTop = 0;")
    wait_until(page, lambda driver: shown_texts(driver)[0] == "read 0")
    shown = around_the_line(page)
    assert shown.index("|") == 20
    assert shown[19:22] == ["read 19", "|", "unread 0"]


SCENE = [
    ("carl", "Morning! Is the release still on for Thursday?"),
    ("bob", "Yes, unless the migration review finds something."),
    ("bob", "The plan: https://example.com/releases/2026-12/migration-plan"),
    ("dee", "Run this first:\n```\n./manage.py migrate chat 0009 --plan\n```"),
    ("carl", "I can take the **rollback notes**."),
]


@pytest.mark.parametrize("width,height", [(360, 740), (1400, 860)])
def test_the_room_with_changes_is_photographed(browser, split, split_env, tmp_path, width, height):
    label = unique_label("photo")
    env = dict(os.environ, **split_env)
    send_lines_from_a_worker(env, label, SCENE)
    run_in_the_project(
        env,
        "import datetime\n"
        "from django.utils import timezone\n"
        "from chat.models import Message\n"
        "Message.objects.filter(room__label=%r, seq__lte=2).update(\n"
        "    timestamp=timezone.now() - datetime.timedelta(days=1))\n" % label,
    )
    ann, _ = signed_in_room(browser, split, label, width=width, height=height)
    bob, _ = guest_room(browser, split, label, width=800, height=600)
    say(ann, "Thanks, reading it now")
    say(ann, "Posted in teh wrong room")
    say(ann, "Looks good to me")
    wait_for_text(bob, "Looks good to me")

    ann.find_element(By.ID, "message").send_keys(Keys.ARROW_UP)
    ann.find_element(By.CSS_SELECTOR, ".edit-box").send_keys(" 👍" + Keys.ENTER)
    wait_for_text(bob, "Looks good to me 👍")
    menu = open_menu(ann, item(ann, "Posted in teh wrong room"))
    menu_item(menu, "Delete").click()
    menu_item(ann.find_element(By.CSS_SELECTOR, ".message-menu"), "Delete").click()
    wait_until(bob, lambda driver: any(m["deleted"] for m in messages(driver)))
    for page, emoji in ((bob, "🎉"), (ann, "🎉"), (bob, "👀")):
        menu = open_menu(page, "I can take the rollback notes.")
        menu.find_element(By.CSS_SELECTOR, "[aria-label='React with %s']" % emoji).click()
        wait_until(
            page, lambda driver: driver.find_elements(By.CSS_SELECTOR, ".message-menu") == []
        )
    wait_until(
        ann,
        lambda driver: (
            [m["reactions"] for m in messages(driver) if m["text"].startswith("I can")]
            == [[["🎉", 2], ["👀", 1]]]
        ),
    )
    ActionChains(ann).move_to_element(ann.find_element(By.ID, "room-title")).perform()
    assert fits_the_width(ann)
    shoot(ann, tmp_path, "conversation-%d" % width)

    open_menu(ann, item(ann, "Looks good to me 👍"))
    shoot(ann, tmp_path, "conversation-menu-%d" % width)
    assert fits_the_width(ann)


def test_a_moderator_may_delete_anyones_message(browser, split, split_env):
    label = unique_label("moderate")
    owner, owner_name = signed_in_room(browser, split, label)
    run_in_the_project(
        dict(os.environ, **split_env),
        "from chat import services\n"
        "services.configure_room(%r, private=True, owners=[%r])\n" % (label, owner_name),
    )
    send_from_a_worker(dict(os.environ, **split_env), label, ["spam from a bot"])
    owner.refresh()
    wait_until_connected(owner)
    menu = open_menu(owner, item(owner, "spam from a bot"))
    assert [node.text for node in menu.find_elements(By.CSS_SELECTOR, ".menu-item")] == [
        "Copy link",
        "Delete",
    ]
    menu_item(menu, "Delete").click()
    menu_item(owner.find_element(By.CSS_SELECTOR, ".message-menu"), "Delete").click()
    wait_until(owner, lambda driver: messages(driver)[0]["deleted"])


def test_time_links_and_the_menu_copy_the_messages_permalink(browser, split, split_env):
    label = unique_label("copy")
    send_from_a_worker(dict(os.environ, **split_env), label, ["link to me"])
    page = open_room(browser, split, label)
    menu = open_menu(page, item(page, "link to me"))
    menu_item(menu, "Copy link").click()
    notice = page.find_element(By.ID, "notice")
    wait_until(page, lambda driver: notice.is_displayed())
    address = "%s/%s/?at=1" % (split.base_url, label)
    assert address in notice.text
    time_link = item(page, "link to me").find_element(By.CSS_SELECTOR, ".permalink")
    assert time_link.get_attribute("href") == address
