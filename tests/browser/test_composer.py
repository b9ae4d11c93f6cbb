"""The room page's composer and what surrounds it, in headless Chromium
against the real split: the length counter and the refusal past the
limit, messages written while disconnected (queued, sent once each with
a nonce), refusals that can be sent again or taken back, errors that go
with the connection, one name for a guest, where focus starts, and the
unread count in a hidden tab's title.

Pictures at a phone's width (360 px) and a desk's (1,400 px) are saved in
the test's own directory (pytest's ``tmp_path``)."""

import os

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from bench.chat_client import stored_messages, unique_label
from bench.split import running
from tests.browser.pages import (
    chatting_as,
    fits_the_width,
    pick_guest_name,
    say,
    send_from_a_worker,
    shown_texts,
    unique_name,
    wait_for_text,
    wait_until,
    wait_until_connected,
)
from tests.browser.test_room_page import hand_frame, keep_sockets, sent_frames

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PHONE, DESK = (360, 740), (1400, 860)
GRIN = "\U0001f600"  # one code point; two UTF-16 units


def open_page(browser, base_url, label, size=DESK, name=None):
    """A new browser of ``size`` (width, height) on room ``label``'s page,
    keeping its sockets and the frames it sends (``keep_sockets``), its
    socket open; with the guest name ``name`` picked unless it is None."""
    page = browser(width=size[0], height=size[1])
    keep_sockets(page)
    page.get("%s/%s/" % (base_url, label))
    wait_until_connected(page)
    if name is not None:
        pick_guest_name(page, name)
    return page


def write(page, text):
    """Replace what the composer holds with ``text``, as one paste: a
    single input event (Chromium's own text insertion)."""
    page.execute_script("document.getElementById('message').select();")
    page.execute_cdp_cmd("Input.insertText", {"text": text})


def composer_text(page):
    return page.find_element(By.ID, "message").get_attribute("value")


def counter(page):
    """What the composer's counter shows: ``shown`` (bool), ``count`` and
    ``why`` (str), ``over`` (bool), and whether Send is ``disabled``."""
    return page.execute_script(
        "var c = document.getElementById('counter');"
        "return {shown: c.offsetParent !== null, count: c.querySelector('.count').textContent,"
        "  why: c.querySelector('.too-long').textContent, over: c.classList.contains('over'),"
        "  disabled: document.querySelector('#chatform button[type=submit]').disabled};"
    )


def pending(page):
    """The reader's messages on their way, as #outbox shows them: dicts of
    ``text``, ``state`` (``queued``, ``sent`` or ``refused``), what the
    item ``says`` of it, and whether its Retry and Edit buttons show."""
    return page.execute_script(
        "return Array.from(document.querySelectorAll('#outbox li'), li => ({"
        "  text: li.querySelector('.text').textContent, state: li.dataset.state,"
        "  says: li.querySelector('.pending-state').textContent,"
        "  actions: li.querySelector('.pending-actions').offsetParent !== null}));"
    )


def error_line(page):
    """The error line's text, or None while it is hidden."""
    error = page.find_element(By.ID, "error")
    return error.text if error.is_displayed() else None


def focused_id(page):
    return page.switch_to.active_element.get_attribute("id")


def stored(env, label):
    """Room ``label``'s stored messages: ``(handle, message)`` pairs, oldest first."""
    return stored_messages(env["DATABASE_URL"], label, columns=("handle", "message"))


def save(page, directory, name):
    assert fits_the_width(page)
    page.save_screenshot(str(directory / ("%s.png" % name)))


# ---- Over-long text ----------------------------------------------------------


@pytest.mark.parametrize("size", [PHONE, DESK], ids=["phone", "desk"])
def test_a_counter_shows_near_the_limit_and_nothing_past_it_is_sent(
    browser, split, split_env, tmp_path, size
):
    label = unique_label("long")
    name = unique_name("ann")
    page = open_page(browser, split.base_url, label, size, name=name)
    assert page.find_element(By.ID, "message").get_attribute("maxlength") is None

    write(page, "x" * 1799)
    assert counter(page)["shown"] is False
    write(page, "x" * 1800)
    assert counter(page) == {
        "shown": True,
        "count": "1,800 / 2,000",
        "why": "",
        "over": False,
        "disabled": False,
    }

    # 2,500 pasted characters stay 2,500: nothing cuts them short.
    write(page, "x" * 2500)
    assert len(composer_text(page)) == 2500
    assert counter(page) == {
        "shown": True,
        "count": "2,500 / 2,000",
        "why": "Too long to send: 500 characters over the limit of 2,000.",
        "over": True,
        "disabled": True,
    }
    assert page.find_element(By.ID, "message").get_attribute("aria-invalid") == "true"
    save(page, tmp_path, "too-long-%d" % size[0])
    page.find_element(By.ID, "message").send_keys(Keys.ENTER)
    page.find_element(By.CSS_SELECTOR, "#chatform button[type=submit]").click()
    assert len(composer_text(page)) == 2500
    assert sent_frames(page, "message") == [] and pending(page) == []

    # The server counts code points: 2,000 emoji are 2,000 characters.
    write(page, GRIN * 2000)
    assert counter(page)["count"] == "2,000 / 2,000"
    assert counter(page)["disabled"] is False
    page.find_element(By.ID, "message").send_keys(Keys.ENTER)
    wait_for_text(page, GRIN * 2000)
    assert composer_text(page) == "" and counter(page)["shown"] is False
    assert stored(split_env, label) == [(name, GRIN * 2000)]
    write(page, GRIN * 2001)
    assert counter(page)["why"] == "Too long to send: 1 character over the limit of 2,000."


# ---- Written while disconnected ---------------------------------------------


def test_messages_written_while_disconnected_are_sent_once_each_when_it_is_back(
    browser, split_env, tmp_path
):
    # A split of its own, so stopping its Daphne disturbs no other test.
    with running(split_env, workers=1) as own:
        label = unique_label("offline")
        name = unique_name("ann")
        page = open_page(browser, own.base_url, label, PHONE, name=name)
        say(page, "before")
        wait_for_text(page, "before")

        own.kill(own.web)
        wait_until_connected(page, False)
        say(page, "first while away")
        say(page, "second while away")

        assert [(item["text"], item["says"]) for item in pending(page)] == [
            ("first while away", "sending…"),
            ("second while away", "sending…"),
        ]
        assert shown_texts(page) == ["before"]
        assert error_line(page) == (
            "Not connected; your message will be sent when the connection is back."
        )
        save(page, tmp_path, "offline-360")
        own.start_web()
        own.wait_ready()
        wait_until_connected(page)

        texts = ["before", "first while away", "second while away"]
        wait_until(page, lambda driver: shown_texts(driver) == texts and pending(driver) == [])
        # The error was about the connection, which is back: no stale
        # "not connected" under a green "Connected".
        assert error_line(page) is None
        assert page.find_element(By.ID, "status").text == "Connected"
        assert stored(own.env, label) == [(name, text) for text in texts]
        nonces = [frame["nonce"] for frame in sent_frames(page, "message")]
        assert len(set(nonces)) == 3
        page.refresh()
        wait_until_connected(page)
        assert shown_texts(page) == texts


# Drops the message frames that echo a nonce on the page's current socket,
# counting them in window.lostEchoes, as if their answers were lost.
LOSE_ECHOES = """
var socket = window.sockets[window.sockets.length - 1];
var deliver = socket.onmessage;
window.lostEchoes = 0;
socket.onmessage = function (event) {
  if (JSON.parse(event.data).nonce) {
    window.lostEchoes += 1;
    return;
  }
  deliver.call(this, event);
};
"""


def test_a_message_whose_echo_was_lost_is_sent_again_and_stored_once(browser, split, split_env):
    label = unique_label("lost")
    name = unique_name("ann")
    page = open_page(browser, split.base_url, label, name=name)
    page.execute_script(LOSE_ECHOES)

    say(page, "are you there?")
    wait_until(page, lambda driver: driver.execute_script("return window.lostEchoes;") == 1)
    assert [item["says"] for item in pending(page)] == ["sending…"]
    page.execute_script("window.sockets[window.sockets.length - 1].close();")

    # Sent again on the next socket, with the same nonce; the server
    # answers with the message it stored the first time.
    wait_until(page, lambda driver: pending(driver) == [])
    first, again = sent_frames(page, "message")
    assert (
        first == again == {"type": "message", "message": "are you there?", "nonce": first["nonce"]}
    )
    assert shown_texts(page) == ["are you there?"]
    assert stored(split_env, label) == [(name, "are you there?")]


# ---- Refused messages ---------------------------------------------------------


def test_a_refused_message_says_why_and_can_be_sent_again_or_taken_back(
    browser, split, split_env, tmp_path
):
    label = unique_label("refused")
    page = open_page(browser, split.base_url, label, PHONE, name=unique_name("ann"))
    # A control character: the page lets it through, the server refuses it.
    write(page, "ring \u0007 the bell")
    page.find_element(By.ID, "message").send_keys(Keys.ENTER)

    reason = "The message contains characters that are not allowed."
    refused = {"text": "ring \u0007 the bell", "state": "refused", "actions": True}
    wait_until(page, lambda driver: [i["state"] for i in pending(driver)] == ["refused"])
    assert pending(page) == [dict(refused, says="Not sent: " + reason)]
    assert error_line(page) == reason
    assert composer_text(page) == ""
    save(page, tmp_path, "refused-360")

    page.find_element(By.CSS_SELECTOR, "#outbox .retry").click()
    wait_until(page, lambda driver: len(sent_frames(driver, "message")) == 2)
    wait_until(page, lambda driver: [i["state"] for i in pending(driver)] == ["refused"])
    first, again = sent_frames(page, "message")
    assert first["nonce"] == again["nonce"]

    page.find_element(By.CSS_SELECTOR, "#outbox .edit").click()
    assert pending(page) == []
    assert composer_text(page) == "ring \u0007 the bell"
    assert focused_id(page) == "message"
    assert error_line(page) is None
    assert shown_texts(page) == [] and stored(split_env, label) == []


# ---- Errors that go with the connection -------------------------------------


def test_an_error_about_the_connection_goes_when_a_new_socket_opens(browser, split):
    page = open_page(browser, split.base_url, unique_label("stale"))

    # The page closes a socket whose room the server no longer knows.
    hand_frame(page, {"type": "error", "error": "NOT_JOINED", "detail": "Reconnect, please."})
    assert error_line(page) == "Reconnect, please."

    wait_until(page, lambda driver: driver.execute_script("return window.sockets.length;") == 2)
    wait_until_connected(page)
    wait_until(page, lambda driver: error_line(driver) is None)
    assert page.find_element(By.ID, "status").text == "Connected"


# ---- One name for a guest -----------------------------------------------------


def one_row(page, selector):
    """Whether the elements ``selector`` finds share one row on screen."""
    return page.execute_script(
        "var boxes = Array.from(document.querySelectorAll(arguments[0]),"
        "  e => e.getBoundingClientRect()).filter(r => r.height > 0);"
        "return boxes.length > 1 && Math.max(...boxes.map(r => r.top))"
        "  < Math.min(...boxes.map(r => r.bottom));",
        selector,
    )


def messages_share(page):
    """The share of the window's height the messages' pane takes (float)."""
    return page.execute_script(
        "return document.getElementById('scroller').clientHeight / window.innerHeight;"
    )


@pytest.mark.parametrize("size", [PHONE, DESK], ids=["phone", "desk"])
def test_a_visitor_picks_one_name_once_before_sending(browser, split, tmp_path, size):
    label = unique_label("newcomer")
    page = open_page(browser, split.base_url, label, size)
    width = size[0]

    # One name field, the guest-name form's, on one row with its button.
    fields = page.find_elements(By.CSS_SELECTOR, "#room input:not([type=hidden]):not([type=file])")
    assert [field.get_attribute("name") for field in fields] == ["name"]
    assert one_row(page, "#guestform label, #guestform input[name=name], #guestform button")
    save(page, tmp_path, "layout-%d" % width)
    assert messages_share(page) > 0.6
    assert focused_id(page) == "message"
    save(page, tmp_path, "no-name-%d" % width)

    page.find_element(By.ID, "message").send_keys("hello, I am new", Keys.ENTER)

    # Asked for a name; nothing sent yet.
    assert "Pick a name" in error_line(page)
    assert page.switch_to.active_element.get_attribute("name") == "name"
    assert sent_frames(page, "message") == [] and pending(page) == []
    save(page, tmp_path, "asked-for-a-name-%d" % width)
    name = unique_name("gwen")
    page.switch_to.active_element.send_keys(name, Keys.ENTER)

    # Picked once: the page comes back under the name, and what was typed
    # goes, under it.
    wait_until(page, lambda driver: chatting_as(driver) == name)
    wait_until_connected(page)
    wait_for_text(page, "hello, I am new")
    handles = [h.text for h in page.find_elements(By.CSS_SELECTOR, "#messages .handle")]
    assert handles == [name]
    assert page.find_elements(By.ID, "guestform") == []
    assert composer_text(page) == ""
    assert focused_id(page) == "message"
    assert messages_share(page) > 0.6
    save(page, tmp_path, "named-%d" % width)
    page.refresh()
    wait_until_connected(page)
    assert shown_texts(page) == ["hello, I am new"]


def test_a_name_refused_keeps_what_was_typed_and_the_focus_at_the_name(browser, split):
    page = open_page(browser, split.base_url, unique_label("refusedname"))
    page.find_element(By.ID, "message").send_keys("draft")
    form_name = page.find_element(By.CSS_SELECTOR, "#guestform input[name=name]")

    form_name.send_keys("   ", Keys.ENTER)

    wait_until(page, lambda driver: driver.find_elements(By.CSS_SELECTOR, "#guestform .errorlist"))
    wait_until_connected(page)
    assert page.switch_to.active_element.get_attribute("name") == "name"
    assert composer_text(page) == "draft"
    assert sent_frames(page, "message") == []


# ---- A hidden tab ---------------------------------------------------------------


def tab_titles(page, label):
    """The titles of the browser's tabs on room ``label`` (list of str),
    read from the browser, whichever tab is in front."""
    targets = page.execute_cdp_cmd("Target.getTargets", {})["targetInfos"]
    return [
        target["title"]
        for target in targets
        if target["type"] == "page" and target["url"].endswith("/%s/" % label)
    ]


def test_a_hidden_tab_counts_new_messages_in_its_title(browser, split, split_env):
    label = unique_label("title")
    page = open_page(browser, split.base_url, label)
    room_tab = page.current_window_handle
    title = "%s · Chat" % label
    assert page.title == title

    # Another tab in front hides the room's.
    page.switch_to.new_window("tab")
    page.get(split.base_url + "/")
    send_from_a_worker(dict(os.environ, **split_env), label, ["one", "two", "three"])

    wait_until(page, lambda driver: tab_titles(driver, label) == ["(3) " + title])
    page.switch_to.window(room_tab)
    wait_until(page, lambda driver: driver.title == title)
    assert shown_texts(page) == ["one", "two", "three"]
