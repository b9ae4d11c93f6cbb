"""Private rooms in headless Chromium, against the real split: an owner
creates one from the room list, adds a member on the room page with the
keyboard alone, and the member then finds it on their room list."""

import os

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from bench.chat_client import unique_label
from tests.browser.pages import (
    fits_the_width,
    say,
    set_viewport,
    sign_up,
    unique_name,
    wait_for_text,
    wait_until,
    wait_until_connected,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def listed_labels(page, base_url):
    """The labels the room list shows (list of str), freshly loaded."""
    page.get(base_url + "/")
    return [
        li.get_attribute("data-label") for li in page.find_elements(By.CSS_SELECTOR, ".rooms li")
    ]


def member_names(page):
    """The usernames the room's member list shows, folded or not (list of str)."""
    return page.execute_script(
        "return Array.from(document.querySelectorAll('#room-members .member-name'),"
        " e => e.textContent);"
    )


def shoot(page, tmp_path, name):
    """Save a screenshot of ``page`` as ``<name>.png`` in ``tmp_path``, and
    in ``$SCREENSHOT_DIR`` too when it is set, to be looked at."""
    page.save_screenshot(str(tmp_path / (name + ".png")))
    if os.environ.get("SCREENSHOT_DIR"):
        page.save_screenshot(os.path.join(os.environ["SCREENSHOT_DIR"], name + ".png"))


def test_an_owner_adds_a_member_who_then_sees_the_room_on_the_list(browser, split, tmp_path):
    label = unique_label("plans")
    owner_name, member_name = unique_name("olive"), unique_name("ann")
    member = browser()
    sign_up(member, split, member_name)
    assert label not in listed_labels(member, split.base_url)

    owner = browser(width=360, height=740)
    sign_up(owner, split, owner_name)
    owner.get(split.base_url + "/")
    assert fits_the_width(owner)
    shoot(owner, tmp_path, "index-360")
    set_viewport(owner, 1280, 900)
    owner.find_element(By.ID, "id_label").send_keys(label)
    owner.find_element(By.ID, "id_private").click()
    owner.find_element(By.CSS_SELECTOR, ".new-room button[type=submit]").click()
    wait_until_connected(owner)
    assert owner.current_url.endswith("/%s/" % label)
    say(owner, "welcome to the plans")
    wait_for_text(owner, "welcome to the plans")

    # Not a member yet: the room's address finds nothing.
    member.get("%s/%s/" % (split.base_url, label))
    assert member.find_elements(By.ID, "messages") == []

    # The owner opens the members and adds ann by username, from the keyboard.
    owner.find_element(By.CSS_SELECTOR, "#room-members summary").send_keys(Keys.ENTER)
    field = owner.find_element(By.ID, "member-username")
    assert owner.find_element(By.CSS_SELECTOR, "label[for=member-username]").text == "Add a member"
    field.send_keys(member_name + Keys.ENTER)
    wait_until(owner, lambda driver: member_name in member_names(driver))
    notice = owner.find_element(By.CSS_SELECTOR, "#room-members .notices")
    assert notice.get_attribute("role") == "status"
    assert notice.text == "%s is now a member." % member_name
    assert member_names(owner) == [owner_name, member_name]

    # An unknown name is refused with a reason the field points to.
    field = owner.find_element(By.ID, "member-username")
    field.send_keys("nobody-" + unique_name("x") + Keys.ENTER)
    error = wait_until(owner, lambda d: d.find_elements(By.ID, "member-errors"))[0]
    assert error.text.startswith("No user is called nobody-")
    field = owner.find_element(By.ID, "member-username")
    assert field.get_attribute("aria-describedby") == "member-errors"
    assert field.get_attribute("aria-invalid") == "true"
    set_viewport(owner, 360, 740)
    shoot(owner, tmp_path, "members-error-360")

    for width, height in ((360, 740), (1400, 900)):
        set_viewport(owner, width, height)
        owner.get("%s/%s/" % (split.base_url, label))
        wait_until_connected(owner)
        owner.find_element(By.CSS_SELECTOR, "#room-members summary").click()
        assert fits_the_width(owner)
        shoot(owner, tmp_path, "members-%d" % width)

    # The new member finds the room on their list, and reads it.
    wait_until(member, lambda driver: label in listed_labels(driver, split.base_url))
    member.find_element(By.CSS_SELECTOR, '.rooms [data-label="%s"] a' % label).click()
    wait_until_connected(member)
    wait_for_text(member, "welcome to the plans")
    assert member_names(member) == [owner_name, member_name]
    # A member manages nothing.
    assert member.find_elements(By.ID, "add-member") == []
