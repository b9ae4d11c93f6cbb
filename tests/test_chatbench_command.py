"""``manage.py chatbench`` where the development requirements are missing."""

import os
import subprocess
import sys

import pytest

from bench.split import PROJECT_DIR

# Runs manage.py with one development requirement made unimportable, as in
# an install from requirements.txt alone.
WITHOUT = (
    "import sys; sys.modules[%r] = None; sys.argv = ['manage.py'] + %r; "
    "from django.core.management import execute_from_command_line; "
    "execute_from_command_line(sys.argv)"
)


def run_without(requirement, *args):
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="chat.settings")
    return subprocess.run(
        [sys.executable, "-c", WITHOUT % (requirement, list(args))],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("requirement", ["aiohttp", "numpy", "honcho"])
def test_without_the_dev_requirements_chatbench_fails_with_one_line_naming_the_file(requirement):
    result = run_without(requirement, "chatbench", "--scenario", "latency")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "CommandError: chatbench needs the development requirements "
        "(%s is not installed): pip install -r requirements-dev.txt" % requirement
    ]


def test_without_the_dev_requirements_the_chat_itself_still_runs_its_commands():
    result = run_without("aiohttp", "check")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_with_the_dev_requirements_chatbench_offers_its_scenarios():
    result = subprocess.run(
        [sys.executable, "manage.py", "chatbench", "--help"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "fanout-1000" in result.stdout
    assert "burst" in result.stdout
    assert "--rates" in result.stdout
