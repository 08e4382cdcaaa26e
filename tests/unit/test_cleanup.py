"""Node gc decisions (trainers.cleanup) over a real node directory: LRU budget, queued runs, busy locks."""

from __future__ import annotations

import fcntl
import json
import os
import time

from trainers.cleanup import collect, plan

SPEC_A = {"kind": "venv", "requirements": ["six"]}
SPEC_B = {"kind": "venv", "requirements": ["idna"]}


def make_env(root, key, spec, size, used_days_ago):
    env = root / "envs" / key
    env.mkdir(parents=True)
    (env / "trainyard-env.json").write_text(json.dumps({"key": key, "spec": spec}))
    (env / "lib.bin").write_bytes(os.urandom(size))
    lock = root / "envs" / f"{key}.lock"
    lock.write_text("")
    used = time.time() - used_days_ago * 86400
    os.utime(lock, (used, used))


def test_budget_removes_least_recently_used_first(tmp_path):
    """Over the size budget, the least recently used environment goes first, and only as many as needed."""
    make_env(tmp_path, "old", SPEC_A, 200_000, 3)
    make_env(tmp_path, "new", SPEC_B, 200_000, 1)
    items = plan(tmp_path, {"env_budget_bytes": 300_000, "env_max_idle_days": 30})["items"]
    assert [(i["kind"], i["path"].rsplit("/", 1)[1]) for i in items] == [("environment", "old")]
    assert "budget" in items[0]["reason"]


def test_queued_runs_environment_is_kept(tmp_path):
    """An idle environment whose spec a queued run asks for stays."""
    make_env(tmp_path, "wanted", SPEC_A, 1000, 90)
    make_env(tmp_path, "unwanted", SPEC_B, 1000, 90)
    run = tmp_path / "runs" / "exp_1_abcd"
    run.mkdir(parents=True)
    (run / "status.json").write_text(json.dumps({"state": "Queued"}))
    (run / "job.json").write_text(json.dumps({"environment": SPEC_A}))
    collect(tmp_path, {"env_max_idle_days": 30})
    assert sorted(d.name for d in (tmp_path / "envs").iterdir() if d.is_dir()) == ["wanted"]


def test_environment_held_by_a_process_is_kept(tmp_path):
    """An environment whose lock a supervisor holds (shared) is never removed, however idle it looks."""
    make_env(tmp_path, "busy", SPEC_A, 1000, 90)
    with open(tmp_path / "envs" / "busy.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_SH)
        assert collect(tmp_path, {"env_max_idle_days": 0})["items"] == []
    assert (tmp_path / "envs" / "busy").is_dir()
    assert [i["kind"] for i in collect(tmp_path, {"env_max_idle_days": 0})["items"]] == ["environment"]
