"""The room page in headless Chromium, against the real split."""

import datetime
import os
import zoneinfo

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions

from bench.chat_client import unique_label
from bench.split import running
from tests.browser.pages import (
    chatting_as,
    fits_the_width,
    make_private,
    open_room,
    pick_guest_name,
    roster,
    say,
    send_from_a_worker,
    shown_texts,
    sign_up,
    two_guests,
    typing_line,
    unique_name,
    wait_for_text,
    wait_until,
    wait_until_connected,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def test_a_message_typed_in_one_page_appears_in_both(browser, split):
    label = unique_label("browser")
    ann, bob = open_room(browser, split, label), open_room(browser, split, label)
    ann_name = unique_name("ann")
    pick_guest_name(ann, ann_name)

    say(ann, "hello from ann")

    wait_for_text(ann, "hello from ann")
    wait_for_text(bob, "hello from ann")
    handles = [h.text for h in bob.find_elements(By.CSS_SELECTOR, "#messages .handle")]
    assert handles == [ann_name]


def test_html_in_a_message_shows_as_text_and_never_runs(browser, split):
    label = unique_label("xss")
    ann, bob = open_room(browser, split, label), open_room(browser, split, label)
    attack = "<img src=x onerror=\"document.body.dataset.pwned='yes'\">"
    pick_guest_name(ann, "<b>ann</b>")

    say(ann, attack)

    for page in (ann, bob):
        wait_for_text(page, attack)
        assert page.find_elements(By.CSS_SELECTOR, "#messages img") == []
        assert page.find_element(By.TAG_NAME, "body").get_attribute("data-pwned") is None
    # After a reload the same message comes from the server-rendered history.
    bob.refresh()
    wait_for_text(bob, attack)
    assert bob.find_elements(By.CSS_SELECTOR, "#messages img") == []
    assert bob.find_element(By.CSS_SELECTOR, "#messages .handle").text == "<b>ann</b>"


def test_an_error_frame_is_shown_to_the_user(browser, split):
    page = open_room(browser, split, unique_label("errors"))
    pick_guest_name(page, unique_name("ann"))
    # A control character, which the page lets through and the server
    # refuses (INVALID_FIELD); the page itself refuses an over-long message.
    page.execute_script(
        "var box = document.getElementById('message');"
        "box.value = 'ring \\u0007 the bell';"
        "box.dispatchEvent(new Event('input'));"
    )
    page.find_element(By.ID, "message").send_keys(Keys.ENTER)

    error = page.find_element(By.ID, "error")
    wait_until(page, expected_conditions.visibility_of_element_located((By.ID, "error")))
    assert "not allowed" in error.text
    assert shown_texts(page) == []


def test_enter_sends_and_shift_enter_starts_a_new_line(browser, split):
    page = open_room(browser, split, unique_label("enter"))
    pick_guest_name(page, unique_name("ann"))
    composer = page.find_element(By.ID, "message")

    composer.send_keys("first line", Keys.SHIFT, Keys.ENTER, Keys.SHIFT, "second line", Keys.ENTER)

    wait_for_text(page, "first line\nsecond line")
    assert composer.get_attribute("value") == ""
    assert page.switch_to.active_element == composer


def test_the_page_reconnects_after_daphne_restarts(browser, split_env):
    # A split of its own, so restarting its Daphne disturbs no other test.
    with running(split_env, workers=1) as own:
        label = unique_label("reconnect")
        page = open_room(browser, own, label)
        pick_guest_name(page, unique_name("ann"))

        own.kill(own.web)
        wait_until_connected(page, False)
        own.start_web()
        own.wait_ready()
        wait_until_connected(page)

        say(page, "back again")
        wait_for_text(page, "back again")


def test_older_history_pages_back_on_request(browser, split, split_env):
    label = unique_label("history")
    send_from_a_worker(dict(os.environ, **split_env), label, ["old %d" % n for n in range(110)])

    # Opened at the newest, more than a screen below the top.
    page = open_room(browser, split, label, width=800, height=500)
    assert shown_texts(page) == ["old %d" % n for n in range(60, 110)]
    older = page.find_element(By.ID, "older")
    assert older.is_displayed()
    # The button, as the keyboard presses it, where the pane is: no scrolling.
    page.execute_script("arguments[0].click();", older)
    wait_until(page, lambda driver: len(shown_texts(driver)) == 100)
    assert shown_texts(page) == ["old %d" % n for n in range(10, 110)]
    # Scrolling to the top loads the rest.
    page.execute_script("document.getElementById('scroller').scrollTop = 0;")
    wait_until(page, lambda driver: len(shown_texts(driver)) == 110)
    assert shown_texts(page) == ["old %d" % n for n in range(110)]
    assert not page.find_element(By.ID, "older").is_displayed()
    assert page.find_element(By.ID, "room-start").is_displayed()


def test_messages_sent_while_the_page_was_away_appear_once_it_is_back(browser, split_env):
    with running(split_env, workers=1) as own:
        label = unique_label("away")
        page = open_room(browser, own, label)
        pick_guest_name(page, unique_name("ann"))
        say(page, "before")
        wait_for_text(page, "before")

        own.kill(own.web)
        wait_until_connected(page, False)
        # Stored while the page had no socket: only a catch-up can bring it.
        send_from_a_worker(own.env, label, ["while you were away"])
        own.start_web()
        own.wait_ready()
        wait_until_connected(page)

        wait_for_text(page, "while you were away")
        say(page, "after")
        wait_for_text(page, "after")
        assert shown_texts(page) == ["before", "while you were away", "after"]


def test_a_reader_scrolled_up_is_offered_the_new_messages_instead_of_being_moved(
    browser, split, split_env
):
    label = unique_label("scroll")
    env = dict(os.environ, **split_env)
    send_from_a_worker(env, label, ["line %d" % n for n in range(40)])
    page = open_room(browser, split, label, width=800, height=600)
    at_bottom = (
        "var s = document.getElementById('scroller');"
        "return s.scrollHeight - s.scrollTop - s.clientHeight < 50;"
    )
    assert page.execute_script(at_bottom)

    page.execute_script("document.getElementById('scroller').scrollTop = 0;")
    send_from_a_worker(env, label, ["news 1", "news 2", "news 3"])

    wait_for_text(page, "news 3")
    jump = page.find_element(By.ID, "jump")
    wait_until(page, lambda driver: jump.text == "3 new messages ↓")
    assert page.execute_script("return document.getElementById('scroller').scrollTop;") == 0
    jump.click()
    wait_until(page, lambda driver: not jump.is_displayed())
    assert page.execute_script(at_bottom)


def test_a_new_account_chats_under_its_username(browser, split):
    label = unique_label("account")
    username = unique_name("ann")
    page = browser()

    sign_up(page, split, username, next_path="/%s/" % label)
    wait_until_connected(page)

    assert chatting_as(page) == username
    assert page.find_element(By.CSS_SELECTOR, "#chatform .identity").text == (
        "Chatting as %s" % username
    )
    assert page.find_elements(By.ID, "handle") == []
    assert page.find_elements(By.ID, "guestform") == []
    say(page, "hello as a member")
    wait_for_text(page, "hello as a member")
    handles = [h.text for h in page.find_elements(By.CSS_SELECTOR, "#messages .handle")]
    assert handles == [username]


def test_a_stranger_cannot_pass_for_a_member_and_guest_messages_are_tagged(browser, split):
    label = unique_label("impostor")
    username = unique_name("ann")
    member = browser()
    sign_up(member, split, username, next_path="/%s/" % label)
    wait_until_connected(member)
    stranger = open_room(browser, split, label)

    # The member's name, in capitals, is refused to the stranger's guest name.
    stranger.find_element(By.CSS_SELECTOR, "#guestform input[name=name]").send_keys(
        username.upper()
    )
    stranger.find_element(By.CSS_SELECTOR, "#guestform button[type=submit]").click()
    wait_until(
        stranger, lambda driver: driver.find_elements(By.CSS_SELECTOR, "#guestform .errorlist")
    )
    assert "belongs to an account" in stranger.find_element(By.ID, "guestform").text
    assert chatting_as(stranger) is None
    pick_guest_name(stranger, "visitor")
    say(stranger, "only a visitor")
    wait_for_text(member, "only a visitor")
    say(member, "the real one")

    for page in (member, stranger):
        wait_for_text(page, "the real one")
        assert shown_texts(page) == ["only a visitor", "the real one"]
    items = member.find_elements(By.CSS_SELECTOR, "#messages .message")
    assert [item.get_attribute("class") for item in items] == ["message guest", "message mine"]
    assert items[0].find_element(By.CSS_SELECTOR, ".guest-label").text == "GUEST"
    # The server-rendered history marks them the same way.
    member.refresh()
    wait_until_connected(member)
    items = member.find_elements(By.CSS_SELECTOR, "#messages .message")
    assert [item.get_attribute("class") for item in items] == ["message guest", "message mine"]


def test_a_guest_name_is_picked_once_and_survives_a_reload(browser, split):
    label = unique_label("guest")
    name = unique_name("gwen")
    page = open_room(browser, split, label)

    pick_guest_name(page, name)
    page.refresh()
    wait_until_connected(page)

    assert chatting_as(page) == name
    assert page.find_elements(By.ID, "guestform") == []
    say(page, "hello as a guest")
    wait_for_text(page, "hello as a guest")
    assert page.find_element(By.CSS_SELECTOR, "#messages .handle").text == name


def test_two_pages_see_each_other_in_the_roster_until_one_closes(browser, split):
    label = unique_label("roster")
    ann, bob, ann_name, bob_name = two_guests(browser, split, label)

    for page in (ann, bob):
        wait_until(page, lambda driver: roster(driver) == sorted([ann_name, bob_name]))
        wait_until(page, lambda driver: driver.find_element(By.ID, "online").text == "2 online")

    bob.close()

    wait_until(ann, lambda driver: roster(driver) == [ann_name])
    wait_until(ann, lambda driver: driver.find_element(By.ID, "online").text == "1 online")


def test_a_page_left_for_another_leaves_the_roster_and_comes_back_with_back(browser, split):
    label = unique_label("away")
    ann, bob, ann_name, bob_name = two_guests(browser, split, label)
    wait_until(ann, lambda driver: roster(driver) == sorted([ann_name, bob_name]))

    bob.get(split.base_url + "/")
    wait_until(ann, lambda driver: roster(driver) == [ann_name])
    bob.back()

    wait_until_connected(bob)
    wait_until(ann, lambda driver: roster(driver) == sorted([ann_name, bob_name]))
    say(bob, "back from the list")
    wait_for_text(ann, "back from the list")


def test_the_other_page_shows_who_is_typing_until_their_message_comes(browser, split):
    label = unique_label("typing")
    ann, bob, ann_name, bob_name = two_guests(browser, split, label)
    wait_until(bob, lambda driver: roster(driver) == sorted([ann_name, bob_name]))

    bob.find_element(By.ID, "message").send_keys("almost")

    wait_until(ann, lambda driver: typing_line(driver) == "%s is typing…" % bob_name)
    assert typing_line(bob) == ""
    bob.find_element(By.ID, "message").send_keys(Keys.ENTER)
    wait_for_text(ann, "almost")
    assert typing_line(ann) == ""


@pytest.mark.parametrize("width", [360, 768, 1600])
def test_the_room_page_never_scrolls_sideways_even_with_long_words(
    browser, split, split_env, width
):
    label = unique_label("wide")
    long_url = "https://example.com/" + "a-very-long-path-segment/" * 20
    send_from_a_worker(
        dict(os.environ, **split_env),
        label,
        [long_url, "x" * 300, "ordinary words " * 40],
        handle="h" * 50,
    )

    page = open_room(browser, split, label, width=width, height=740)

    assert page.execute_script("return window.innerWidth;") == width
    assert fits_the_width(page)
    assert page.execute_script(
        "var s = document.getElementById('scroller'); return s.scrollWidth <= s.clientWidth;"
    )


@pytest.mark.parametrize("width", [360, 1400])
def test_the_history_shows_a_clickable_link_a_code_block_with_its_layout_and_a_quote(
    browser, split, split_env, width
):
    label, elsewhere = unique_label("format"), unique_label("elsewhere")
    address = "%s/%s/" % (split.base_url, elsewhere)
    code = "def f(x):\n    return [\n        x,  # %s\n    ]" % ("long " * 60)
    send_from_a_worker(
        dict(os.environ, **split_env),
        label,
        [
            "the other room is at %s, **see you** there" % address,
            "```\n%s\n```" % code,
            "> *quoted*",
        ],
    )

    page = open_room(browser, split, label, width=width, height=740)

    link = page.find_element(By.CSS_SELECTOR, "#messages .formatted a")
    assert (link.text, link.get_attribute("target")) == (address, "_blank")
    assert link.get_attribute("rel") == "noopener noreferrer nofollow ugc"
    assert page.find_element(By.CSS_SELECTOR, "#messages .formatted strong").text == "see you"
    block = page.find_element(By.CSS_SELECTOR, "#messages .formatted pre > code")
    assert block.get_attribute("textContent") == code + "\n"
    pre = page.find_element(By.CSS_SELECTOR, "#messages .formatted pre")
    assert pre.value_of_css_property("white-space") == "pre"
    # The long line scrolls inside the block; the page never scrolls sideways.
    assert page.execute_script("return arguments[0].scrollWidth > arguments[0].clientWidth;", pre)
    assert fits_the_width(page)
    assert page.execute_script(
        "var s = document.getElementById('scroller'); return s.scrollWidth <= s.clientWidth;"
    )
    quote = page.find_element(By.CSS_SELECTOR, "#messages .formatted blockquote em")
    assert quote.text == "quoted"

    link.click()

    wait_until(page, lambda driver: len(driver.window_handles) == 2)
    page.switch_to.window(page.window_handles[1])
    wait_until(page, lambda driver: driver.current_url == address)


def test_no_payload_in_the_history_runs_script_or_loads_anything(browser, split, split_env):
    label = unique_label("xss-history")
    mark = "document.body.dataset.pwned='yes'"
    payloads = [
        '<img src=x onerror="%s">' % mark,
        '**<svg onload="%s">**' % mark,
        '> <iframe src="javascript:%s"></iframe>' % mark,
        "[click](javascript:%s)" % mark,
        "<javascript:%s>" % mark,
        "![x](https://127.0.0.1:9/x.png)",
        "`<script>%s</script>`" % mark,
        "```\n<style>body{display:none}</style>\n```",
        '<a href="javascript:%s">x</a> <form action="javascript:%s"><button>go</button></form>'
        % (mark, mark),
    ]
    send_from_a_worker(dict(os.environ, **split_env), label, payloads)

    page = open_room(browser, split, label)

    # In the messages' text: the page's own buttons and time links are beside it.
    for tag in ("img", "svg", "iframe", "script", "style", "form", "button"):
        assert page.find_elements(By.CSS_SELECTOR, "#messages .text " + tag) == []
    hrefs = [
        a.get_attribute("href") for a in page.find_elements(By.CSS_SELECTOR, "#messages .text a")
    ]
    assert hrefs == ["https://127.0.0.1:9/x.png"]
    assert page.find_elements(By.CSS_SELECTOR, "#messages [style], #messages [src]") == []
    assert page.find_element(By.TAG_NAME, "body").get_attribute("data-pwned") is None
    assert page.find_element(By.TAG_NAME, "body").is_displayed()


def test_a_private_room_is_not_found_by_a_guest_or_a_non_member_and_opens_no_socket(
    browser, split, split_env
):
    label = unique_label("private")
    make_private(dict(os.environ, **split_env), label)
    page = browser()

    page.get("%s/%s/" % (split.base_url, label))
    assert page.find_elements(By.ID, "messages") == []
    assert page.find_element(By.TAG_NAME, "body").get_attribute("data-connected") is None
    # Nor is it for a new account that nobody has made a member.
    sign_up(page, split, unique_name("outsider"))
    page.get("%s/%s/" % (split.base_url, label))
    assert page.find_elements(By.ID, "messages") == []
    assert "Not Found" in page.find_element(By.TAG_NAME, "body").text


def test_times_are_shown_in_the_readers_time_zone(browser, split, split_env):
    label = unique_label("zone")
    send_from_a_worker(dict(os.environ, **split_env), label, ["what time is it?"])
    page = browser()
    page.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "Asia/Kolkata"})

    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)

    time = page.find_element(By.CSS_SELECTOR, "#messages time")
    stamp = datetime.datetime.fromisoformat(time.get_attribute("datetime").replace("Z", "+00:00"))
    in_kolkata = stamp.astimezone(zoneinfo.ZoneInfo("Asia/Kolkata"))
    # Kolkata is UTC+5:30, so its minutes differ from the server's UTC ones.
    assert in_kolkata.strftime("%I:%M") in time.text
    assert "5:30" in time.get_attribute("title")  # the zone, GMT+5:30


def test_the_roster_folds_away_on_a_phone_and_opens_from_the_keyboard(browser, split):
    label = unique_label("fold")
    page = open_room(browser, split, label, width=360, height=740)
    summary = page.find_element(By.CSS_SELECTOR, "#roster summary")
    assert page.find_element(By.ID, "roster").get_attribute("open") is None

    summary.send_keys(Keys.ENTER)

    wait_until(page, lambda driver: driver.find_element(By.ID, "roster").get_attribute("open"))
    # The anonymous page is counted once it has said hello with a ping.
    wait_until(page, lambda driver: driver.find_element(By.ID, "online").text == "1 online")
    assert "1 person without a name" in page.find_element(By.ID, "others").text


def test_the_page_follows_a_dark_colour_scheme(browser, split):
    page = browser()
    page.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
    )
    page.get("%s/%s/" % (split.base_url, unique_label("dark")))
    wait_until_connected(page)

    background = page.execute_script(
        "return getComputedStyle(document.body).backgroundColor.match(/\\d+/g).map(Number);"
    )
    assert sum(background[:3]) < 3 * 64


# Keeps every socket the page opens in window.sockets, so that a test can
# hand the page frames the server sends only in rare cases.
KEEP_SOCKETS = """
window.sockets = [];
window.sent = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) { super(...args); window.sockets.push(this); }
  send(data) { window.sent.push(JSON.parse(data)); super.send(data); }
};
"""


def keep_sockets(page):
    """From the next page on, keep its sockets in ``window.sockets`` and
    the frames it sends in ``window.sent``."""
    page.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": KEEP_SOCKETS})


def open_room_keeping_sockets(browser, split, label):
    page = browser()
    keep_sockets(page)
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    return page


def sent_frames(page, kind):
    """The frames of type ``kind`` the page has sent (list of dict)."""
    return [f for f in page.execute_script("return window.sent;") if f.get("type") == kind]


def hand_frame(page, frame):
    """Give the page's open socket ``frame`` (a dict) as if the server sent
    it. From the first such frame on, what the server really sends is
    dropped, so that it cannot overwrite what the test handed."""
    page.execute_script(
        "var socket = window.sockets[window.sockets.length - 1];"
        "if (!socket.handed) { socket.handed = socket.onmessage; socket.onmessage = null; }"
        "socket.handed(new MessageEvent('message', {data: JSON.stringify(arguments[0])}));",
        frame,
    )


def test_a_large_rooms_presence_is_shown_as_counts(browser, split):
    page = open_room_keeping_sockets(browser, split, unique_label("large"))

    hand_frame(page, {"type": "presence", "count": 250, "anonymous": 3})

    wait_until(page, lambda driver: driver.find_element(By.ID, "online").text == "253 online")
    others = page.execute_script("return document.getElementById('others').textContent;")
    assert others == "250 people and 3 others here"
    assert roster(page) == []


def test_join_and_leave_change_the_roster_and_leave_ends_typing(browser, split):
    page = open_room_keeping_sockets(browser, split, unique_label("joins"))
    hand_frame(page, {"type": "presence", "members": ["bob"], "anonymous": 0})

    hand_frame(page, {"type": "join", "handle": "ann"})
    hand_frame(page, {"type": "typing", "handle": "ann"})
    hand_frame(page, {"type": "typing", "handle": "bob"})

    assert roster(page) == ["ann", "bob"]
    assert typing_line(page) == "ann and bob are typing…"
    hand_frame(page, {"type": "leave", "handle": "bob"})
    assert roster(page) == ["ann"]
    assert typing_line(page) == "ann is typing…"
    # The line goes by itself a few seconds after the last typing frame.
    wait_until(page, lambda driver: typing_line(driver) == "", seconds=6)


def test_frames_without_a_type_are_still_understood(browser, split):
    page = open_room_keeping_sockets(browser, split, unique_label("untyped"))

    hand_frame(page, {"error": "RATE_LIMITED", "detail": "Too many messages."})
    hand_frame(
        page,
        {
            "id": 10**9,
            "seq": 1,
            "timestamp": "2026-11-30T12:00:00Z",
            "handle": "old",
            "message": "from an older server",
        },
    )
    hand_frame(page, {"type": "pong"})
    hand_frame(page, {"type": "something-new", "handle": "x"})

    assert page.find_element(By.ID, "error").text == "Too many messages."
    # Shown once the page's first catch-up, which holds frames back, is done.
    wait_until(page, lambda driver: shown_texts(driver) == ["from an older server"])


def test_a_member_sends_typing_at_most_once_an_interval_and_read_marks(browser, split, split_env):
    label = unique_label("frames")
    send_from_a_worker(dict(os.environ, **split_env), label, ["one", "two"])
    page = browser()
    sign_up(page, split, unique_name("member"))
    keep_sockets(page)

    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    page.find_element(By.ID, "message").send_keys("several keys in a row")

    assert len(sent_frames(page, "typing")) == 1
    assert sent_frames(page, "read") == [{"type": "read", "seq": 2}]
    page.find_element(By.ID, "message").send_keys(Keys.ENTER)
    wait_for_text(page, "several keys in a row")
    # Read again once the interval since the last read mark has passed.
    wait_until(page, lambda driver: sent_frames(driver, "read")[-1]["seq"] == 3, seconds=10)


def test_a_guest_sends_no_read_marks_and_pings_to_hear_presence(browser, split, split_env):
    label = unique_label("noread")
    send_from_a_worker(dict(os.environ, **split_env), label, ["one"])

    page = open_room_keeping_sockets(browser, split, label)

    wait_until(page, lambda driver: sent_frames(driver, "ping"))
    assert sent_frames(page, "read") == []
