"""No flow is given the secrets the notification receivers read: the variables that
``notifications.yaml`` names (``url_env``, ``secret_env``) are kept from every flow the runner
starts, as deployctl's own credentials are. As people run it: ``sync`` and a ``runner`` as
processes with HOME in a temporary folder, and a run whose flow prints what it was given."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.cli_helpers import run_deployctl
from tests.gitrepo import GitRepo
from tests.test_notifications import write_settings

NAMES = ("OPS_HOOK_URL", "OPS_HOOK_KEY", "TEAM_SLACK_URL", "SHARED_SETTING")
FLOW = f"import os\n\ndef show():\n    print('given', [n for n in {NAMES!r} if n in os.environ])\n"
SETTINGS = """receivers:
  - {name: ops, type: webhook, url_env: OPS_HOOK_URL, secret_env: OPS_HOOK_KEY}
  - {name: chat, type: slack, url_env: TEAM_SLACK_URL}
drain_seconds: 0
"""


def test_flows_never_see_the_variables_receivers_read_their_urls_and_keys_from(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write(
        {
            "flows/show.py": FLOW,
            "flows/deployment.yaml": "name: show\nflow_name: show\nentrypoint: show.py:show\n",
        }
    )
    repo.commit("a flow that shows its environment")
    home = tmp_path / "home"
    write_settings(home, SETTINGS)
    env = {
        "OPS_HOOK_URL": "http://127.0.0.1:9/hook",  # nothing listens: the notice is given up
        "OPS_HOOK_KEY": "ops-hook-key-0123456789abcdef",
        "TEAM_SLACK_URL": "http://127.0.0.1:9/slack",
        "SHARED_SETTING": "flows get this one",
    }
    synced = run_deployctl(home, "sync", "repo", cwd=tmp_path, env=env)
    assert synced.returncode == 0, synced.stderr
    runner_env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYCTL_")}
    runner = subprocess.Popen(
        [str(Path(sys.executable).parent / "deployctl"), "runner", "--poll", "0.2"],
        cwd=tmp_path, env={**runner_env, **env, "HOME": str(home)}, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        watched = run_deployctl(
            home, "deployment", "run", "show/show", "--watch", "--timeout", "60", cwd=tmp_path
        )
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.wait(timeout=60)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert "given ['SHARED_SETTING']" in watched.stdout
