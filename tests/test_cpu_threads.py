"""OpenMP's threads wait passively in the CLI (set before PyTorch loads), and a user's own
choice is kept."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = ("import runpy, sys, os; sys.argv = ['model_runtime', 'info']; "
         "import model_runtime.cli as cli; cli.main = lambda: print(os.environ.get('OMP_WAIT_POLICY')) or 0; "
         "runpy.run_module('model_runtime', run_name='__main__')")


def _policy_seen_by_the_cli(env_policy: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if env_policy:
        env["OMP_WAIT_POLICY"] = env_policy
    r = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def test_cli_threads_wait_passively():
    assert _policy_seen_by_the_cli(None) == "PASSIVE"


def test_a_policy_the_user_set_is_kept():
    assert _policy_seen_by_the_cli("ACTIVE") == "ACTIVE"


def test_too_late_once_pytorch_is_loaded(monkeypatch):
    import torch  # noqa: F401
    from model_runtime.cpu_threads import prefer_passive_waiting
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert prefer_passive_waiting() is False and "OMP_WAIT_POLICY" not in os.environ
