"""The pages' Content-Security-Policy, as headless Chromium enforces it on
the real split: an image from another site is not requested and a script
added to the page does not run, while the page's own socket and scripts
work."""

import http.server
import threading

import pytest

from bench.chat_client import unique_label
from tests.browser.pages import open_room, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def another_site():
    """An HTTP server on another origin (another port of 127.0.0.1) that
    records the paths asked of it: ``(base_url, paths)``."""
    paths = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            paths.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/gif")
            self.end_headers()
            self.wfile.write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1], paths
    server.shutdown()
    server.server_close()


def test_the_room_page_neither_loads_from_another_site_nor_runs_added_scripts(
    browser, split, another_site
):
    base_url, asked = another_site
    page = open_room(browser, split, unique_label("csp"))
    page.execute_script(
        """
        window.violations = [];
        document.addEventListener("securitypolicyviolation", function (event) {
            window.violations.push(event.effectiveDirective + " " + event.blockedURI);
        });
        var image = document.createElement("img");
        image.src = arguments[0] + "/tracker.gif";
        document.body.appendChild(image);
        var script = document.createElement("script");
        script.textContent = "window.ranInline = true;";
        document.body.appendChild(script);
        var remote = document.createElement("script");
        remote.src = arguments[0] + "/evil.js";
        document.body.appendChild(remote);
        """,
        base_url,
    )
    wait_until(page, lambda driver: len(driver.execute_script("return window.violations")) >= 3)
    violations = page.execute_script("return window.violations")
    assert any(v.startswith("img-src " + base_url) for v in violations), violations
    assert any(v.startswith("script-src-elem " + base_url) for v in violations), violations
    assert any(v == "script-src-elem inline" for v in violations), violations
    assert page.execute_script("return window.ranInline === undefined")
    assert asked == []
    # The page's own socket still connected under the policy.
    assert page.find_element("tag name", "body").get_attribute("data-connected") == "true"
