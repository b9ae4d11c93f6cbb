"""The room page in headless Chromium, against the real split."""

import os
import subprocess
import sys

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from bench.split import PROJECT_DIR, running
from tests.integration.chat_client import unique_label

pytestmark = [pytest.mark.browser, pytest.mark.integration]

WAIT_SECONDS = 30


def wait_until_connected(page, connected=True):
    """Wait for chat.js to report its socket open (or closed)."""
    expected = "true" if connected else "false"
    WebDriverWait(page, WAIT_SECONDS).until(
        lambda driver: (
            driver.find_element(By.TAG_NAME, "body").get_attribute("data-connected") == expected
        )
    )


def open_room(browser, split, label):
    page = browser()
    page.get("%s/%s/" % (split.base_url, label))
    wait_until_connected(page)
    return page


def say(page, handle, text):
    page.find_element(By.ID, "handle").clear()
    page.find_element(By.ID, "handle").send_keys(handle)
    page.find_element(By.ID, "message").send_keys(text)
    page.find_element(By.CSS_SELECTOR, "#chatform button").click()


def shown_texts(page):
    return [li.text for li in page.find_elements(By.CSS_SELECTOR, "#messages .text")]


def wait_for_text(page, text):
    WebDriverWait(page, WAIT_SECONDS).until(lambda driver: text in shown_texts(driver))


def test_a_message_typed_in_one_page_appears_in_both(browser, split):
    label = unique_label("browser")
    ann, bob = open_room(browser, split, label), open_room(browser, split, label)

    say(ann, "ann", "hello from ann")

    wait_for_text(ann, "hello from ann")
    wait_for_text(bob, "hello from ann")
    handles = [h.text for h in bob.find_elements(By.CSS_SELECTOR, "#messages .handle")]
    assert handles == ["ann"]


def test_html_in_a_message_shows_as_text_and_never_runs(browser, split):
    label = unique_label("xss")
    ann, bob = open_room(browser, split, label), open_room(browser, split, label)
    attack = "<img src=x onerror=\"document.body.dataset.pwned='yes'\">"

    say(ann, "<b>ann</b>", attack)

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
    # The input's maxlength stops a browser user; an oversized message can
    # still reach the server from a script, and its error must be shown.
    page.execute_script("document.getElementById('message').removeAttribute('maxlength')")

    say(page, "ann", "m" * 2001)

    error = page.find_element(By.ID, "error")
    WebDriverWait(page, WAIT_SECONDS).until(
        expected_conditions.visibility_of_element_located((By.ID, "error"))
    )
    assert "2000" in error.text
    assert shown_texts(page) == []


def test_the_page_reconnects_after_daphne_restarts(browser, split_env):
    # A split of its own, so restarting its Daphne disturbs no other test.
    with running(split_env, workers=1) as own:
        label = unique_label("reconnect")
        page = open_room(browser, own, label)

        own.kill(own.web)
        wait_until_connected(page, False)
        own.start_web()
        own.wait_ready()
        wait_until_connected(page)

        say(page, "ann", "back again")
        wait_for_text(page, "back again")


def send_from_a_worker(env, label, texts):
    """Store and broadcast ``texts`` in room ``label`` as a worker would,
    through ``chat.services``, in a process with the split's ``env``."""
    code = (
        "from chat import services\n"
        "room = services.open_room(%r)\n"
        "for text in %r:\n"
        "    services.post_message(room, 'bob', text)\n"
    ) % (label, list(texts))
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=PROJECT_DIR, env=env, check=True
    )


def test_older_history_pages_back_on_request(browser, split, split_env):
    label = unique_label("history")
    send_from_a_worker(dict(os.environ, **split_env), label, ["old %d" % n for n in range(60)])

    page = open_room(browser, split, label)
    assert shown_texts(page) == ["old %d" % n for n in range(10, 60)]
    page.find_element(By.ID, "older").click()
    WebDriverWait(page, WAIT_SECONDS).until(lambda driver: len(shown_texts(driver)) == 60)
    assert shown_texts(page) == ["old %d" % n for n in range(60)]
    assert not page.find_element(By.ID, "older").is_displayed()


def test_messages_sent_while_the_page_was_away_appear_once_it_is_back(browser, split_env):
    with running(split_env, workers=1) as own:
        label = unique_label("away")
        page = open_room(browser, own, label)
        say(page, "ann", "before")
        wait_for_text(page, "before")

        own.kill(own.web)
        wait_until_connected(page, False)
        # Stored while the page had no socket: only a catch-up can bring it.
        send_from_a_worker(own.env, label, ["while you were away"])
        own.start_web()
        own.wait_ready()
        wait_until_connected(page)

        wait_for_text(page, "while you were away")
        say(page, "ann", "after")
        wait_for_text(page, "after")
        assert shown_texts(page) == ["before", "while you were away", "after"]
