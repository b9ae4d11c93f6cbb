"""Messages sent later from the room page, in headless Chromium against
the real split with its delay process: the "Send later" menu beside
Send, the reader's own list of pending ones, Cancel, and one that arrives.

Pictures at a phone's width (360 px) and a desk's (1,400 px) are saved in
the test's own directory (pytest's ``tmp_path``)."""

import datetime
import os

import psycopg2
import pytest
from selenium.webdriver.common.by import By

from bench.chat_client import unique_label
from tests.browser.pages import (
    fits_the_width,
    pick_guest_name,
    shown_texts,
    unique_name,
    wait_for_text,
    wait_until,
    wait_until_connected,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PHONE, DESK = (360, 740), (1400, 860)


def open_as_guest(browser, split, label, size):
    page = browser(width=size[0], height=size[1])
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    pick_guest_name(page, unique_name("gus"))
    return page


def pending_list(page):
    """The pending ones the page lists: (when, text) pairs."""
    return [
        (
            li.find_element(By.CSS_SELECTOR, ".when").text,
            li.find_element(By.CSS_SELECTOR, ".text").text,
        )
        for li in page.find_elements(By.CSS_SELECTOR, "#scheduled li")
    ]


def statuses(split_env, label):
    with psycopg2.connect(split_env["DATABASE_URL"]) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.text, s.status FROM chat_scheduledmessage s JOIN chat_room r "
            "ON r.id = s.room_id WHERE r.label = %s ORDER BY s.id",
            [label],
        )
        return cursor.fetchall()


def picture(page, tmp_path, name):
    directory = tmp_path if not os.environ.get("SCREENSHOT_DIR") else os.environ["SCREENSHOT_DIR"]
    page.save_screenshot(str(os.path.join(directory, "%s.png" % name)))


@pytest.mark.parametrize("size", [PHONE, DESK], ids=["phone", "desk"])
def test_a_message_scheduled_from_the_menu_is_listed_and_cancelled_and_never_arrives(
    browser, split, split_env, tmp_path, size
):
    label = unique_label("later")
    page = open_as_guest(browser, split, label, size)
    page.find_element(By.ID, "message").send_keys("standup notes, later")
    page.find_element(By.ID, "later").click()
    menu = page.find_element(By.ID, "later-menu")
    wait_until(page, lambda driver: menu.is_displayed())
    assert "In 20 minutes" in menu.text and "Tomorrow at 9:00" in menu.text
    assert fits_the_width(page)
    picture(page, tmp_path, "later-menu-%d" % size[0])

    menu.find_element(By.CSS_SELECTOR, "[data-later='20m']").click()
    wait_until(page, lambda driver: pending_list(driver))
    ((when, text),) = pending_list(page)
    assert text == "standup notes, later"
    # Shown in local time; the instant is the one sent, 20 minutes on.
    instant = page.find_element(By.CSS_SELECTOR, "#scheduled time").get_attribute("datetime")
    ahead = datetime.datetime.fromisoformat(instant.replace("Z", "+00:00")) - datetime.datetime.now(
        datetime.UTC
    )
    assert datetime.timedelta(minutes=19) < ahead <= datetime.timedelta(minutes=20)
    assert when
    # The composer is emptied once the server has it.
    assert page.find_element(By.ID, "message").get_attribute("value") == ""
    assert not menu.is_displayed()
    assert fits_the_width(page)
    picture(page, tmp_path, "later-listed-%d" % size[0])

    page.find_element(By.CSS_SELECTOR, "#scheduled button.cancel").click()
    wait_until(page, lambda driver: not pending_list(driver))
    assert not page.find_element(By.ID, "scheduled").is_displayed()
    assert statuses(split_env, label) == [("standup notes, later", "cancelled")]
    # A page opened afterwards lists nothing, and the room holds nothing.
    page.refresh()
    wait_until_connected(page)
    assert pending_list(page) == []
    assert "standup notes, later" not in shown_texts(page)


def schedule_at(page, text, at):
    """Schedule ``text`` from the composer for ``at`` (a naive local
    datetime), through the menu's chosen time, and wait until it is
    listed. The picker itself goes by minutes; seconds are set here."""
    page.find_element(By.ID, "message").send_keys(text)
    page.find_element(By.ID, "later").click()
    page.execute_script(
        "document.getElementById('later-at').value = arguments[0];",
        at.strftime("%Y-%m-%dT%H:%M:%S"),
    )
    page.find_element(By.CSS_SELECTOR, "[data-later='custom']").click()
    wait_until(page, lambda driver: text in [entry[1] for entry in pending_list(driver)])


def test_of_two_messages_due_together_the_cancelled_one_never_arrives_and_the_other_once(
    browser, split, split_env, tmp_path
):
    label = unique_label("later")
    page = open_as_guest(browser, split, label, DESK)
    # Far enough ahead to cancel the first in time on a busy machine.
    at = datetime.datetime.now() + datetime.timedelta(seconds=12)
    schedule_at(page, "cancelled in time", at)
    schedule_at(page, "arriving shortly", at)
    assert [entry[1] for entry in pending_list(page)] == ["cancelled in time", "arriving shortly"]
    page.find_element(By.CSS_SELECTOR, "#scheduled li:first-child button.cancel").click()
    wait_until(page, lambda driver: len(pending_list(driver)) == 1)

    wait_for_text(page, "arriving shortly")
    wait_until(page, lambda driver: not pending_list(driver))
    texts = shown_texts(page)
    assert texts.count("arriving shortly") == 1
    assert "cancelled in time" not in texts
    assert statuses(split_env, label) == [
        ("cancelled in time", "cancelled"),
        ("arriving shortly", "sent"),
    ]
    picture(page, tmp_path, "later-arrived-1400")
