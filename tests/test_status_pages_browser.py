"""The status pages in a real browser: Debian's chromium, headless at 1280x800, driven by selenium
through chromium-driver, against ``deployctl ui`` as a real process.

Every page loads, every link of every page resolves (200), the hostile deployment's markup is
inert (the title stays, the text shows, no image is made of it), a refused commit reads as
refused, a search is a plain GET form, and a screenshot of each page is written under the
test's tmp folder (and to ``DEPLOYCTL_SCREENSHOTS``, a folder, when set: ``docs/screenshots``
is made so). Skipped without chromium only where DEPLOYCTL_REQUIRE_PREFECT is unset: CI sets
it, and installs chromium in ``.ci/run``.
"""

from __future__ import annotations

import http.client
import os
import shutil
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from tests.cli_helpers import run_deployctl
from tests.gitrepo import GitRepo
from tests.pages_fixtures import HOSTILE_DESCRIPTION, HOSTILE_PARAMETER, ShownHome, make_shown_home, ui_server

# one worker builds the home and starts the browser once, and runs these in order
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("status-pages-browser")]
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
WIDTH, HEIGHT = 1280, 800

if CHROMIUM is None or DRIVER is None:
    if os.environ.get("DEPLOYCTL_REQUIRE_PREFECT"):
        raise RuntimeError("DEPLOYCTL_REQUIRE_PREFECT is set: install chromium and chromium-driver (apt-get)")
    pytest.skip(
        "no chromium or chromedriver on PATH (apt-get install chromium chromium-driver); CI installs them",
        allow_module_level=True,
    )

from selenium import webdriver  # noqa: E402  (only where a browser is installed)
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> ShownHome:
    return make_shown_home(tmp_path_factory.mktemp("pages-browser"))


@pytest.fixture(scope="module")
def ui(shown: ShownHome) -> Iterator[str]:
    with ui_server(shown) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(DRIVER)))
    driver.set_page_load_timeout(30)
    # the viewport itself at 1280x800: the window size also counts the browser's own frame
    metrics = {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        yield driver
    finally:
        driver.quit()


def status_of(url: str) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
    return connection.getresponse().status


def screenshot(browser: webdriver.Chrome, name: str, folder: Path) -> Path:
    """The page as shown at 1280x800, to ``folder`` and to ``DEPLOYCTL_SCREENSHOTS`` when set."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    assert browser.save_screenshot(str(path))
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    assert (width, height) == (WIDTH, HEIGHT), (width, height)
    if os.environ.get("DEPLOYCTL_SCREENSHOTS"):
        extra = Path(os.environ["DEPLOYCTL_SCREENSHOTS"])
        extra.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, extra / path.name)
    return path


def crawl(browser: webdriver.Chrome, ui: str, named: dict[str, str], folder: Path) -> set[str]:
    """Every page reached by links from ``/``, each checked to load and each of its links to
    resolve (200); the pages in ``named`` screenshot under their name. The paths seen."""
    queue, seen = ["/"], set[str]()
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        browser.get(ui + path)
        assert browser.title.endswith("· deployctl"), (path, browser.title)
        assert browser.find_element(By.TAG_NAME, "h1").text not in ("Not found", "Registry unavailable"), path
        if path in named:
            screenshot(browser, named[path], folder)
        for link in browser.find_elements(By.CSS_SELECTOR, "a[href]"):
            target = urljoin(ui + path, link.get_attribute("href") or "")
            assert target.startswith(ui + "/"), (path, target)  # no page links outside
            assert status_of(target) == 200, (path, target)
            queue.append(target.removeprefix(ui))
    assert set(named) <= seen, set(named) - seen  # every page is reached by following links
    assert len(list(folder.glob("*.png"))) == len(named)
    return seen


def test_every_page_loads_and_every_link_resolves(
    browser: webdriver.Chrome, ui: str, shown: ShownHome, tmp_path: Path
) -> None:
    named = {
        "/": "overview",
        "/deployments": "deployments",
        "/deployments/my_flow/hostile": "deployment",
        f"/runs/{shown.run_id}": "run",
        "/passes?owner=data-team": "passes",
    }
    crawl(browser, ui, named, tmp_path / "screenshots")


def test_hostile_markup_is_inert_text(browser: webdriver.Chrome, ui: str, shown: ShownHome) -> None:
    browser.get(ui + "/deployments/my_flow/hostile")
    assert browser.title == "my_flow/hostile · deployctl"  # the script did not run
    assert browser.find_element(By.CSS_SELECTOR, ".description").text == HOSTILE_DESCRIPTION
    assert HOSTILE_PARAMETER in browser.find_element(By.TAG_NAME, "pre").text
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert "very-secret-value-42" not in browser.page_source
    browser.get(ui + f"/runs/{shown.run_id}")
    assert browser.title.startswith("Flow run hostile-")
    assert f"hello {HOSTILE_PARAMETER}" in browser.find_element(By.CSS_SELECTOR, "pre:last-of-type").text
    assert browser.find_elements(By.TAG_NAME, "img") == []


def test_a_refused_commit_reads_as_refused(browser: webdriver.Chrome, ui: str, shown: ShownHome) -> None:
    browser.get(ui + "/")
    row = browser.find_element(By.CSS_SELECTOR, "tbody tr")
    assert row.find_element(By.CSS_SELECTOR, ".badge").text == "refused"
    assert "ValidationFailed" in row.text and "every blue moon" in row.text
    assert shown.refused_commit[:12] in row.text


def test_the_search_is_a_plain_form(browser: webdriver.Chrome, ui: str) -> None:
    browser.get(ui + "/deployments")
    box = browser.find_element(By.CSS_SELECTOR, "input[type=search]")
    box.send_keys("sales")
    box.submit()
    assert browser.current_url == ui + "/deployments?q=sales"
    names = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tbody td:first-child a")]
    assert names == ["sales-etl/hourly-emea"]


def test_a_rolled_back_owner_reads_as_held(
    browser: webdriver.Chrome, ui: str, shown: ShownHome, tmp_path: Path
) -> None:
    """Last: the rollback changes the home the tests above look at. The broken cron is fixed
    (a new time) and synced, then ``deployctl rollback`` takes the owner back to the first
    commit, which it holds."""
    parent = ["git", "rev-parse", f"{shown.refused_commit}~1"]
    first = subprocess.run(parent, cwd=shown.work / "repo", capture_output=True, text=True).stdout.strip()
    daily = shown.work / "repo/flows/hello/daily-deployment.yaml"
    daily.write_text(daily.read_text().replace("cron: 'every blue moon'", "cron: 0 9 * * 1-5"))
    GitRepo(shown.work / "repo").commit("the cron at nine")
    assert run_deployctl(shown.home, "sync", "repo", cwd=shown.work).returncode == 0
    rolled = run_deployctl(shown.home, "rollback", "data-team", "--to", first[:10], cwd=shown.work)
    assert rolled.returncode == 0, rolled.stderr
    browser.get(ui + "/")
    row = browser.find_element(By.CSS_SELECTOR, "tbody tr")
    held = row.find_element(By.CSS_SELECTOR, ".badge.held")
    assert held.text == "held" and f"held at {first[:12]} since " in row.text
    assert "rollback" in row.text  # among its last passes
    browser.get(ui + "/passes?owner=data-team")
    newest = browser.find_element(By.CSS_SELECTOR, "table.passes tbody tr")
    cells = [td.text for td in newest.find_elements(By.TAG_NAME, "td")]
    assert cells[1:5] == ["data-team", "rollback", "applied", first[:12]], cells
    browser.get(ui + "/deployments/my_flow/hostile")
    assert f"is held at {first[:12]}" in browser.find_element(By.TAG_NAME, "main").text
    named = {"/": "overview-held", "/passes?owner=data-team": "passes-held"}
    crawl(browser, ui, named, tmp_path / "screenshots")
