"""The status pages over HTTP, from ``deployctl ui`` and the controller's port as real processes:
each page answers with its safety headers, only GET and HEAD are served, markup in a
deployment is text, secret-looking values never leave the server, a refused commit reads as
refused, and any address but loopback needs the token. The browser's view is in
``test_status_pages_browser.py``."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from controller.app import App
from controller.errors import ConfigError
from controller.settings import Settings
from tests.cli_helpers import run_deployctl
from tests.controller_fixtures import ControllerProcess, free_port, wait_for
from tests.gitrepo import GitRepo
from tests.many_deployments import FLOW, entry, project
from tests.pages_fixtures import (
    HOSTILE_DESCRIPTION,
    HOSTILE_PARAMETER,
    SECRET_VALUE,
    ShownHome,
    deployctl_process,
    make_shown_home,
    ui_server,
)

pytestmark = pytest.mark.xdist_group("status-pages")  # the home is built once, on one worker
TOKEN = "a-long-enough-ui-token"


@pytest.fixture(scope="module")
def shown(tmp_path_factory: pytest.TempPathFactory) -> ShownHome:
    return make_shown_home(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def ui(shown: ShownHome) -> Iterator[str]:
    with ui_server(shown) as url:
        yield url


def fetch(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers or {})
    response = connection.getresponse()
    response.read()
    return response


def text(url: str) -> str:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    connection.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
    response = connection.getresponse()
    assert response.status == 200, (url, response.status)
    return response.read().decode()


def pages(shown: ShownHome) -> list[str]:
    return [
        "/",
        "/deployments",
        "/deployments?q=hostile",
        "/deployments/my_flow/hostile",
        "/deployments/my_flow/daily",
        f"/runs/{shown.run_id}",
        "/passes",
        "/passes?owner=data-team&page=1",
        "/static/style.css",
    ]


def test_every_page_answers_with_its_safety_headers(ui: str, shown: ShownHome) -> None:
    for path in pages(shown):
        for method in ("GET", "HEAD"):
            response = fetch(ui + path, method)
            assert response.status == 200, (method, path)
            policy = response.getheader("Content-Security-Policy") or ""
            assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
            assert "script-src" not in policy  # no script is ever allowed
            assert response.getheader("X-Frame-Options") == "DENY"
            assert response.getheader("X-Content-Type-Options") == "nosniff"


def test_only_get_and_head_are_served(ui: str) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        response = fetch(ui + "/deployments/my_flow/hostile", method)
        assert response.status == 405, method
        assert response.getheader("Allow") == "GET, HEAD"
    assert fetch(ui + "/no/such/page").status == 404
    assert fetch(ui + "/deployments/my_flow/missing").status == 404
    assert fetch(ui + "/runs/no-such-run").status == 404


def test_markup_in_a_deployment_is_text_and_secrets_are_masked(ui: str, shown: ShownHome) -> None:
    page = text(ui + "/deployments/my_flow/hostile")
    assert HOSTILE_DESCRIPTION not in page and "<img src=x" not in page
    assert "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=" in page
    assert "&#34;API_TOKEN&#34;: &#34;***&#34;" in page and "&#34;GREETING&#34;: &#34;hi&#34;" in page
    run = text(ui + f"/runs/{shown.run_id}")
    assert "hello &lt;img src=x onerror=" in run and HOSTILE_PARAMETER not in run  # its log line
    for path in pages(shown):
        assert SECRET_VALUE not in text(ui + path), path


def test_a_refused_commit_reads_as_refused(ui: str, shown: ShownHome) -> None:
    overview = text(ui + "/")
    assert '<span class="badge refused">refused</span> ValidationFailed' in overview
    assert shown.refused_commit[:12] in overview  # last attempted; the applied one stays in force
    assert '<a href="/deployments?q=data-team">8</a>' in overview  # its deployments, counted
    assert "every blue moon" in overview


def test_deployments_are_searched_and_paged(ui: str) -> None:
    found = text(ui + "/deployments?q=HOSTILE")
    assert "1 found · page 1 of 1" in found and "/deployments/my_flow/hostile" in found
    assert "/deployments/my_flow/daily" not in found
    assert "8 found · page 1 of 1" in text(ui + "/deployments?page=99")  # clamped to the last page
    assert "5 found" in text(ui + "/deployments?q=my_flow")  # "_" is itself, not any character
    assert "0 found" in text(ui + "/deployments?q=%25") and "0 found" in text(ui + "/deployments?q=y_f_")


def test_many_deployments_are_paged_in_fifties(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "work" / "repo")
    entries = [entry(f"d{n:03d}", n) for n in range(120)]
    repo.write({"prefect.yaml": project(entries), "flow.py": FLOW.format(name="many")})
    repo.commit("120 deployments")
    (tmp_path / "home").mkdir()
    shown = ShownHome(tmp_path / "home", tmp_path / "work", "", "")
    assert run_deployctl(shown.home, "sync", "repo", cwd=shown.work).returncode == 0
    with ui_server(shown) as ui:
        pages = [text(ui + f"/deployments?page={n}") for n in (1, 2, 3)]
        shown_ids = [re.findall(r'<a href="/deployments/(many/d\d+)">', page) for page in pages]
        assert [len(ids) for ids in shown_ids] == [50, 50, 20]
        assert sum(shown_ids, []) == [f"many/d{n:03d}" for n in range(120)]  # each once, in order
        assert "120 found · page 2 of 3" in pages[1] and 'href="/deployments?page=3">next' in pages[1]
        assert 'href="/deployments?page=1">← previous' in pages[1]
        searched = text(ui + "/deployments?q=d10&page=1")
        assert "10 found · page 1 of 1" in searched  # d100 … d109
        synced = text(ui + "/passes")  # the first sync wrote 120: the page lists 100 and counts the rest
        assert "<summary>120 changes" in synced and ">and 20 more</td>" in synced
        listed = re.findall(r'<td><a href="/deployments/(many/d\d+)">', synced)
        assert listed == [f"many/d{n:03d}" for n in range(100)]


def test_deployments_show_their_next_and_last_runs(ui: str, shown: ShownHome) -> None:
    daily = text(ui + "/deployments?q=my_flow/daily").split("<tbody>", 1)[1]
    assert re.search(r"<td>\d{4}-\d\d-\d\dT\d\d:00:00(\.0+)?\+00:00</td>", daily), daily  # its next run
    hostile = text(ui + "/deployments?q=hostile").split("<tbody>", 1)[1]
    assert f'href="/runs/{shown.run_id}"><span class="badge COMPLETED">Completed' in hostile


def test_a_non_loopback_address_needs_the_token(shown: ShownHome) -> None:
    refused = run_deployctl(shown.home, "ui", "--listen", "0.0.0.0:0", cwd=shown.work)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: --listen 0.0.0.0:0 is not a loopback address: set DEPLOYCTL_UI")
    port = free_port()
    env = {"DEPLOYCTL_UI_TOKEN": TOKEN}
    with deployctl_process(shown.home, shown.work, "ui", "--listen", f"0.0.0.0:{port}", env=env) as ui:
        assert ui.stdout is not None and " at http://0.0.0.0:" in ui.stdout.readline()
        base = f"http://127.0.0.1:{port}"
        assert fetch(base + "/").status == 401
        assert fetch(base + "/?token=wrong-token-value").status == 401
        opened = fetch(base + "/deployments?q=etl&token=" + TOKEN)
        assert opened.status == 303 and opened.getheader("Location") == "/deployments?q=etl"
        cookie = (opened.getheader("Set-Cookie") or "").split(";")[0]
        assert "HttpOnly" in (opened.getheader("Set-Cookie") or "")
        assert fetch(base + "/deployments", headers={"Cookie": cookie}).status == 200
        assert fetch(base + "/", headers={"Authorization": f"Bearer {TOKEN}"}).status == 200
        assert fetch(base + "/", headers={"Authorization": "Bearer wrong-token-value"}).status == 401


def test_the_controller_serves_the_pages_at_its_root(shown: ShownHome) -> None:
    controller = ControllerProcess(str(shown.work / "repo"), shown.home / ".deployctl", "--no-engine")
    try:
        wait_for(lambda: controller.controller().get("role") == "active", what="an active controller")
        status, body = controller.get("/")
        assert status == 200 and "data-team" in body and "refused" in body
        status, body = controller.get("/deployments/my_flow/hostile")
        assert status == 200 and "&lt;script&gt;" in body and SECRET_VALUE not in body
        assert controller.get("/healthz")[0] == 200  # its own routes come first
        response = fetch(controller.url + "/")
        assert response.getheader("X-Frame-Options") == "DENY"
    finally:
        assert controller.terminate() == 0


def test_a_suspended_owner_reads_as_suspended(ui: str, shown: ShownHome) -> None:
    assert '<span class="badge suspended">' not in text(ui + "/")
    assert run_deployctl(shown.home, "suspend", "data-team", cwd=shown.work).returncode == 0
    try:
        assert '<span class="badge suspended">suspended</span>' in text(ui + "/")
    finally:
        assert run_deployctl(shown.home, "resume", "data-team", cwd=shown.work).returncode == 0


def test_without_a_token_no_other_address_is_answered(
    shown: ShownHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the controller's port does when it listens beyond loopback with no token set."""
    monkeypatch.delenv("DEPLOYCTL_UI_TOKEN", raising=False)
    pages = App(Settings.resolve(home=str(shown.home / ".deployctl"), env={})).pages()
    assert pages.answer("GET", "/", {}, loopback=False).status == 403
    assert pages.answer("GET", "/", {"Authorization": "Bearer anything-at-all"}, loopback=False).status == 403
    assert pages.answer("GET", "/", {}, loopback=True).status == 200
    monkeypatch.setenv("DEPLOYCTL_UI_TOKEN", "short")
    with pytest.raises(ConfigError, match="DEPLOYCTL_UI_TOKEN is 5 characters long"):
        App(Settings.resolve(home=str(shown.home / ".deployctl"), env={})).pages()


def test_the_passes_page_lists_the_history_newest_first(ui: str, shown: ShownHome) -> None:
    page = text(ui + "/passes").split("<tbody>", 1)[1]
    refused, applied = page.index('<span class="badge refused">refused</span>'), page.index(">applied</span>")
    assert refused < applied  # the refused commit came last, so it is listed first
    assert shown.refused_commit[:12] in page and "every blue moon" in page
    assert re.search(r"flows/hello/daily-deployment\.yaml:\d+", page), page  # its file and line
    assert 'href="/deployments/my_flow/hostile">my_flow/hostile</a>' in page  # a change of the first pass
    assert "<details open>" in page  # a refused pass's diagnostics are shown without a click
    overview = text(ui + "/")
    assert '<a href="/passes?owner=data-team">all passes of data-team</a>' in overview
    assert overview.count('<span class="badge refused">refused</span> cli') == 1  # among its last passes


def test_a_deployment_page_shows_the_revisions_it_went_through(ui: str) -> None:
    page = text(ui + "/deployments/my_flow/hostile").split("<h2>History</h2>", 1)[1].split("<h2>Runs</h2>")[0]
    rows = re.findall(r"<tr><td>[^<]+</td><td>(\w+)</td><td><code>(\w+|-)</code></td>", page)
    assert [action for action, _ in rows] == ["create"], page  # the refused pass wrote nothing
    assert rows[0][1] != "-"  # the commit its version names


def test_passes_are_paged_and_filtered_by_owner(tmp_path: Path) -> None:
    """120 passes of one owner and 30 of another: fifty a page, newest first, one owner's only."""
    from controller.core.history import PassOutcome, PassRecord, Trigger

    repo = GitRepo(tmp_path / "work" / "repo")
    repo.write({"prefect.yaml": project([entry("one", 1)]), "flow.py": FLOW.format(name="few")})
    repo.commit("one deployment")
    (tmp_path / "home").mkdir()
    shown = ShownHome(tmp_path / "home", tmp_path / "work", "", "")
    assert run_deployctl(shown.home, "sync", "repo", "--owner", "team-a", cwd=shown.work).returncode == 0
    app = App(Settings.resolve(home=str(shown.home / ".deployctl"), env={}))
    history = app.history()
    for n in range(150):  # as the engine records them: one at a time, each a transaction
        owner = "team-a" if n % 5 else "team-b"
        started = f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}+00:00"
        record = PassRecord(owner, Trigger.POLL, PassOutcome.UP_TO_DATE, started, 0.25, f"{n:040x}")
        history.record_pass(record, keep=1000)
    app.close()
    with ui_server(shown) as ui:
        pages = [text(ui + f"/passes?owner=team-a&page={n}") for n in (1, 2, 3)]
        revisions = [re.findall(r"</span></td>\n  <td><code>(\w{12})</code></td>", page) for page in pages]
        assert [len(r) for r in revisions] == [50, 50, 21]  # 120 polls and the sync, by team-a
        expected = [f"{n:040x}"[:12] for n in reversed(range(150)) if n % 5]
        assert sum(revisions, [])[:120] == expected  # newest first, each once
        assert 'href="/passes?owner=team-a&amp;page=3">older' in pages[1]
        assert 'href="/passes?owner=team-a&amp;page=1">← newer' in pages[1] and "older" not in pages[2]
        only_b = text(ui + "/passes?owner=team-b")
        assert (
            only_b.count("<code>team-b</code></a></td>") == 30
            and "<code>team-a</code></a></td>" not in only_b
        )
        every = text(ui + "/passes")
        assert every.count("<code>team-b</code></a></td>") == 10  # 50 newest of both, each fifth team-b's
        assert "No pass here (past the oldest)" in text(ui + "/passes?page=9")


def test_hostile_refusal_text_is_shown_as_text(tmp_path: Path) -> None:
    """A manifest whose path and error hold markup: the passes page shows both as text."""
    repo = GitRepo(tmp_path / "work" / "repo")
    folder = "flows/<img src=x onerror=alert(1)>"
    good = "name: hostile-paths\nprefect-version: 3.9.1\ndeployments:\n" + entry(
        "x", 1, entrypoint="flow.py:run"
    )
    repo.write({f"{folder}/prefect.yaml": good, f"{folder}/flow.py": FLOW.format(name="h")})
    repo.commit("a folder named as markup")
    (tmp_path / "home").mkdir()
    shown = ShownHome(tmp_path / "home", tmp_path / "work", "", "")
    assert run_deployctl(shown.home, "sync", "repo", cwd=shown.work).returncode == 0
    repo.write({f"{folder}/prefect.yaml": good.replace("'0 * * * *'", "'<script>alert(2)</script>'")})
    repo.commit("a cron of markup")
    refused = run_deployctl(shown.home, "sync", "repo", cwd=shown.work)
    assert refused.returncode == 2 and "<script>alert(2)</script>" in refused.stderr, refused.stderr
    with ui_server(shown) as ui:
        page = text(ui + "/passes")
    assert "<script>" not in page and "<img src" not in page
    assert "flows/&lt;img src=x onerror=alert(1)&gt;/prefect.yaml:" in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page


def test_a_rolled_back_owner_reads_as_held_until_released(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "work" / "repo")
    repo.write({"prefect.yaml": project([entry("one", 1)]), "flow.py": FLOW.format(name="held")})
    first = repo.commit("n is 1")
    (tmp_path / "home").mkdir()
    shown = ShownHome(tmp_path / "home", tmp_path / "work", "", "")
    assert run_deployctl(shown.home, "sync", "repo", "--owner", "team-h", cwd=shown.work).returncode == 0
    repo.write({"prefect.yaml": project([entry("one", 2)])})
    repo.commit("n is 2")
    assert run_deployctl(shown.home, "sync", "repo", "--owner", "team-h", cwd=shown.work).returncode == 0
    rolled = run_deployctl(shown.home, "rollback", "team-h", "--to", first[:8], cwd=shown.work)
    assert rolled.returncode == 0, rolled.stderr
    with ui_server(shown) as ui:
        overview = text(ui + "/")
        assert re.search(
            rf'<span class="badge held">held</span> at <code>{first[:12]}</code> since \d{{4}}-', overview
        )
        deployment = text(ui + "/deployments/held/one")
        assert f"is held at <code>{first[:12]}</code>" in deployment
        history = deployment.split("<h2>History</h2>", 1)[1].split("<h2>Runs</h2>")[0]
        assert (
            history.count("<tr><td>") == 3 and "<td>rollback</td>" in history
        )  # create, update, update back
        assert (
            "<td>rollback</td>" in text(ui + "/passes?owner=team-h").split("<tbody>", 1)[1].split("</tr>")[0]
        )
        assert run_deployctl(shown.home, "release", "team-h", cwd=shown.work).returncode == 0
        assert 'class="badge held"' not in text(ui + "/")


@pytest.mark.parametrize("listen", ["127.0.0.1:99999", "127.0.0.1:http", "nonsense"])
@pytest.mark.parametrize("command", [("ui",), ("controller", "repo")])
def test_a_bad_listen_address_is_one_usage_line(
    tmp_path: Path, command: tuple[str, ...], listen: str
) -> None:
    """Before, a port over 65535 reached bind() and came out as an internal error."""
    done = run_deployctl(tmp_path, *command, "--listen", listen, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert f"'{listen}': use HOST:PORT with a port up to 65535" in done.stderr
