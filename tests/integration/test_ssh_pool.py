"""SSH pools against real OpenSSH servers: the local loop's behaviour, plus placement, queue and faults."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from tests.conftest import TRAINYARD, run_cli, wait_until, write
from tests.e2e.jobs import make_project
from tests.integration.conftest import set_config
from trainyard import Run, Workspace
from trainyard.errors import AuthError, ConnectError, HostKeyError
from trainyard.runstore import RunStore
from trainyard.transport import close_all
from trainyard.transport.ssh import NodeConfig, SSHNode


def submit(job, *args):
    return run_cli("submit", str(job), "--compute", "pool", *args)



def running_run(ws):
    for r in RunStore(ws.root).list():
        if Run(ws, r["run_id"]).get_status() == "Running":
            return r["run_id"]
    return None


def test_complete_on_pool_registers(pool, tmp_path):
    """A job on the SSH pool completes: metrics, outputs, logs pulled back, model registered."""
    job = make_project(tmp_path)
    out = submit(job, "--json")
    assert out.returncode == 0, out.stderr
    details = json.loads(out.stdout)
    assert details["status"] == "Completed" and details["modelId"] == "e2e-model:1"
    assert details["metrics"]["accuracy"] == 0.875 and "done" in out.stderr
    run = Run(Workspace.load(), details["runId"])
    assert (run.run_dir / "outputs" / "model.txt").read_text() == "weights"
    assert run.record["node"]["name"] in ("n1", "n2")


def test_crash_timeout_cancel_on_pool(pool, tmp_path):
    """Crash → job's exit code; timeout → Failed with reason; cancel → Canceled (TERM then KILL)."""
    job = make_project(tmp_path, timeout=600)  # the crash must not race a short time limit on a loaded machine
    crash = submit(job, "--set", "inputs.mode=crash")
    assert crash.returncode == 3 and "bad batch" in crash.stderr
    job = make_project(tmp_path, timeout=2)
    slow = submit(job, "--set", "inputs.sleep=30")
    assert slow.returncode == 3 and "timed out after 2 s" in slow.stderr
    job = make_project(tmp_path, timeout=600)
    run_id = submit(job, "--detach", "--set", "inputs.mode=ignore-term", "--set", "inputs.sleep=60").stdout.strip()
    ws = Workspace.load()
    wait_until(lambda: Run(ws, run_id).get_status() == "Running", what="Running")
    cancel = run_cli("runs", "cancel", run_id)
    assert cancel.stdout.strip().endswith("Canceled"), cancel.stderr


def test_ctrl_c_then_attach_on_pool(pool, tmp_path):
    """SIGINT to submit leaves the remote run going; `runs attach` completes it with outputs."""
    job = make_project(tmp_path)
    proc = subprocess.Popen([TRAINYARD, "submit", str(job), "--compute", "pool", "--set", "inputs.sleep=6"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ws = Workspace.load()
    run_id = wait_until(lambda: running_run(ws), what="a running run")
    proc.send_signal(signal.SIGINT)  # (the job sleeps long enough that the run cannot end before this lands)
    assert proc.wait(timeout=30) == 130
    attach = run_cli("runs", "attach", run_id)
    assert attach.returncode == 0 and "e2e-model:1" in attach.stdout
    assert (RunStore(ws.root).run_dir(run_id) / "outputs" / "model.txt").is_file()


def test_killed_client_then_attach(pool, tmp_path):
    """SIGKILL the client mid-run; the run ends unwatched → the next `runs show` finishes the pull (outputs)."""
    job = make_project(tmp_path)
    proc = subprocess.Popen([TRAINYARD, "submit", str(job), "--compute", "pool", "--set", "inputs.sleep=2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ws = Workspace.load()
    run_id = wait_until(lambda: running_run(ws), what="a running run")
    proc.kill()
    proc.wait()
    node_status = [root / "runs" / run_id / "status.json" for root in pool["roots"]]
    wait_until(lambda: any(p.is_file() and json.loads(p.read_text()).get("state") == "Completed" for p in node_status),
               what="the run to end on its node")  # the run ends while no client is attached
    shown = json.loads(run_cli("runs", "show", run_id, "--json").stdout)
    assert shown["status"] == "Completed" and "outputs/model.txt" in shown["files"]


def test_sshd_restart_mid_run_resumes_streaming(pool, tmp_path):
    """The node's sshd dies and comes back mid-run: NotResponding, then streaming resumes to the end."""
    job = make_project(tmp_path)
    for n in pool["config"]["computes"]["pool"]["nodes"]:
        n["command_timeout"] = 3
    set_config(tmp_path, pool["config"])
    run_id = submit(job, "--detach", "--set", "inputs.sleep=6").stdout.strip()
    ws = Workspace.load()
    run = Run(ws, run_id)
    wait_until(lambda: run.get_status() == "Running", what="Running")
    server = pool["servers"][0 if run.record["node"]["name"] == "n1" else 1]
    server.stop()
    wait_until(lambda: run.get_status() == "NotResponding", timeout=30, what="NotResponding")
    server.start()
    run.wait_for_completion(timeout=60)
    log = (run.run_dir / "logs" / "std_log.txt").read_text()
    assert log.count("starting") == 1 and log.count("done") == 1 and "sleeping" in log
    assert "NotResponding" in [h["status"] for h in run.record["history"]]


def test_silent_node_is_not_responding_then_resumes(pool, tmp_path):
    """The node hangs with its connections open (sshd stopped, no reset): NotResponding within seconds, not
    after the 2-minute command timeout; when it wakes, the run is followed to Completed."""
    job = make_project(tmp_path)
    for n in pool["config"]["computes"]["pool"]["nodes"]:
        n["connect_timeout"] = 2
    set_config(tmp_path, pool["config"])
    run_id = submit(job, "--detach", "--set", "inputs.sleep=4").stdout.strip()
    run = Run(Workspace.load(), run_id)
    wait_until(lambda: run.get_status() == "Running", what="Running")
    server = pool["servers"][0 if run.record["node"]["name"] == "n1" else 1]
    server.pause()
    try:
        started = time.time()
        wait_until(lambda: run.get_status() == "NotResponding", timeout=100, what="NotResponding")
        silent_for = time.time() - started
    finally:
        server.pause(resume=True)
    assert silent_for < 30, silent_for  # a few connect timeouts, not command_timeout (120 s)
    run.wait_for_completion(timeout=60)
    assert run.get_status() == "Completed" and (run.run_dir / "outputs" / "model.txt").is_file()


def test_kill_9_job_fails_with_signal(pool, tmp_path):
    """kill -9 of the remote job's process → Failed naming SIGKILL."""
    job = make_project(tmp_path)
    run_id = submit(job, "--detach", "--set", "inputs.sleep=60").stdout.strip()
    ws = Workspace.load()
    run = Run(ws, run_id)
    wait_until(lambda: run.get_status() == "Running", what="Running")
    subprocess.run(["kill", "-9", str(run.record["pid"])], check=True)
    run.wait_for_completion(raise_on_error=False, timeout=30)
    assert run.status == "Failed" and "SIGKILL" in run.record["status_reason"]


def test_supervisor_gone_fails_with_cause(pool, tmp_path):
    """The node comes back without the run's processes (as after a reboot) → Failed with the cause."""
    job = make_project(tmp_path)
    run_id = submit(job, "--detach", "--set", "inputs.sleep=60").stdout.strip()
    ws = Workspace.load()
    run = Run(ws, run_id)
    wait_until(lambda: run.get_status() == "Running", what="Running")
    status = json.loads(next(r for r in pool["roots"] if (r / "runs" / run_id).exists())
                        .joinpath("runs", run_id, "status.json").read_text())
    subprocess.run(["kill", "-9", str(status["supervisor_pid"]), str(status["pid"])], check=True)
    run.wait_for_completion(raise_on_error=False, timeout=30)
    assert run.status == "Failed" and "supervisor process is gone" in run.record["status_reason"]


def test_host_key_changed_refused_nothing_sent(pool, tmp_path):
    """A replaced host key → HostKeyError (expected vs offered), and nothing reaches the node."""
    server = pool["servers"][0]
    server.replace_host_key()
    try:
        node = SSHNode(NodeConfig.from_dict(pool["config"]["computes"]["pool"]["nodes"][0]))
        with pytest.raises(HostKeyError, match="CHANGED: expected SHA256:.*offered .*SHA256:"):
            node.call("info", {})
        assert not pool["roots"][0].exists()
    finally:
        for n in pool["config"]["computes"]["pool"]["nodes"][:1]:
            n["host_key"] = server.host_key  # later tests use the new key
        close_all()


def test_unpinned_host_key_refused(pool):
    """A host with no pinned key (none in config, none in known_hosts) is refused with the fingerprint."""
    cfg = {**pool["config"]["computes"]["pool"]["nodes"][1]}
    cfg.pop("host_key")
    with pytest.raises(HostKeyError, match="not pinned.*--accept-host-key SHA256:"):
        SSHNode(NodeConfig.from_dict(cfg)).call("info", {})


def test_wrong_key_is_auth_error(pool, tmp_path):
    """A client key the node does not know → AuthError."""
    from tests.sshd import keygen

    other = tmp_path / "other_key"
    keygen(other)
    cfg = {**pool["config"]["computes"]["pool"]["nodes"][1], "identity_file": str(other)}
    with pytest.raises(AuthError, match="refused key"):
        SSHNode(NodeConfig.from_dict(cfg)).call("info", {})


def test_unreachable_port_is_connect_error_within_timeout(pool):
    """Nothing listening → ConnectError naming host and port, within the connect timeout."""
    from tests.sshd import free_port

    cfg = {**pool["config"]["computes"]["pool"]["nodes"][1], "port": free_port(), "connect_timeout": 2}
    started = time.time()
    with pytest.raises(ConnectError, match=r"127.0.0.1:\d+ within 2 s"):
        SSHNode(NodeConfig.from_dict(cfg)).call("info", {})
    assert time.time() - started < 4


def test_pool_with_a_dead_node_places_on_the_live_one(pool, tmp_path):
    """One node down: submit warns and runs on the other; `compute status` reports each node."""
    from tests.sshd import free_port

    cfg = pool["config"]
    nodes = cfg["computes"]["pool"]["nodes"]
    nodes[1] = {**nodes[1], "port": free_port(), "connect_timeout": 2}
    set_config(tmp_path, cfg)
    out = submit(make_project(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    assert "warning: n2 skipped: cannot connect to 127.0.0.1" in out.stderr
    assert json.loads(out.stdout)["status"] == "Completed"
    status = {row["node"]: row for row in json.loads(run_cli("compute", "status", "pool", "--json").stdout)}
    assert status["n1"]["reachable"] and status["n1"]["free_slots"] == 1
    assert not status["n2"]["reachable"] and f"127.0.0.1:{nodes[1]['port']}" in status["n2"]["error"]


def test_node_without_that_python_is_a_clear_error(pool):
    """A node whose configured python does not exist: CommandError naming it and the exit code, no source."""
    from trainyard.errors import CommandError

    cfg = {**pool["config"]["computes"]["pool"]["nodes"][0], "python": "/no/such/python3"}
    node = SSHNode(NodeConfig.from_dict(cfg))
    try:
        with pytest.raises(CommandError, match=r"/no/such/python3 -m trainers.node .* exited with 127") as err:
            node.call("info", {})
        assert "sys.path" not in str(err.value)
    finally:
        node.close()


EVIL = r'''
import os
os.makedirs("outputs/sub", exist_ok=True)
open("outputs/good.txt", "w").write("good")
open("outputs/sub/also.txt", "w").write("also")
os.symlink("/etc/passwd", "outputs/evil")
open("outputs/a..b", "w").write("dots")
os.mkfifo("outputs/pipe")
'''


def test_untrusted_outputs_rejected(pool, tmp_path):
    """A symlink to /etc/passwd and a fifo are rejected and reported; the rest (a name like 'a..b' too) collected."""
    write(tmp_path / "src" / "evil.py", EVIL)
    job = write(tmp_path / "job.yml", "code: src\ncommand: python evil.py\n")
    out = submit(job, "--json")
    details = json.loads(out.stdout)
    rejected = {r["path"]: r["reason"] for r in details["rejectedOutputs"]}
    assert set(rejected) == {"outputs/evil", "outputs/pipe"}
    assert "leaves the run directory" in rejected["outputs/evil"]
    assert {"outputs/good.txt", "outputs/sub/also.txt", "outputs/a..b"} <= set(details["files"])
    run_dir = Run(Workspace.load(), details["runId"]).run_dir
    assert not (run_dir / "outputs" / "evil").exists()


def test_check_entry_rejects_crafted_paths():
    """Entries a hostile node could send (absolute, '..', outside outputs/) are rejected (pure)."""
    from trainyard.tracker import check_entry

    ok = {"type": "file", "size": 1, "sha256": "x"}
    assert check_entry({**ok, "path": "/etc/passwd"}, 10) == "absolute path"
    assert "'..'" in check_entry({**ok, "path": "outputs/../../x"}, 10)
    assert check_entry({**ok, "path": "src/train.py"}, 10) == "not under outputs/ or logs/"
    assert "cap" in check_entry({**ok, "path": "outputs/big", "size": 11}, 10)
    assert check_entry({**ok, "path": "outputs/fine"}, 10) is None


def test_queue_six_runs_two_slots(pool, tmp_path):
    """6 detached runs on 2 one-slot nodes: never more than 2 at once, all Completed, waits show Queued."""
    job = make_project(tmp_path)
    ids = []
    # the first two hold both slots long enough for all six submits and the listing, however loaded the
    # machine; the four that queue behind them are short
    for sleep in (15, 15, 2, 2, 2, 2):
        out = submit(job, "--detach", "--set", f"inputs.sleep={sleep}")
        assert out.returncode == 0, out.stderr
        ids.append(out.stdout.strip())
    listed = json.loads(run_cli("runs", "list", "--json").stdout)
    queued = [r["status_reason"] for r in listed if r["status"] == "Queued"]
    assert queued and all("waiting for a free slot on n" in reason for reason in queued)
    ws = Workspace.load()
    runs = [Run(ws, i) for i in ids]
    for run in runs:
        run.wait_for_completion(timeout=120)
    spans = []
    for root in pool["roots"]:
        for d in (root / "runs").iterdir():
            st = json.loads((d / "status.json").read_text())
            spans.append((st["started"], st["ended"]))
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    assert len(spans) == 6 and peak <= 2
    assert {r.record["node"]["name"] for r in runs} == {"n1", "n2"}


def test_resubmit_uploads_only_changed_file(pool, tmp_path):
    """After changing one file, a re-submit sends that file's blob and a manifest delta, nothing else."""
    job = make_project(tmp_path)
    for i in range(20):
        write(tmp_path / "src" / "data" / f"f{i}.txt", f"file {i} " * 500)
    cfg = pool["config"]
    cfg["computes"]["pool"]["nodes"] = cfg["computes"]["pool"]["nodes"][:1]
    set_config(tmp_path, cfg)
    first = json.loads(submit(job, "--json").stdout)
    changed = write(tmp_path / "src" / "data" / "f3.txt", "changed content")
    second = json.loads(submit(job, "--json").stdout)
    ws = Workspace.load()
    sent1 = Run(ws, first["runId"]).record["bytes_sent"]
    sent2 = Run(ws, second["runId"]).record["bytes_sent"]
    manifest = ws.objects.path(Run(ws, second["runId"]).record["snapshot"]).stat().st_size
    assert sent1 > 20 * 3000 + manifest  # every blob and the whole manifest
    size = changed.stat().st_size
    assert size <= sent2 <= size + 600  # that blob, a frame header, a one-entry manifest delta


def test_compute_attach_list_status(pool, tmp_path, ssh_env):
    """attach pins the key (refusing non-interactively without it); list and status show the node."""
    server = pool["servers"][1]
    refused = run_cli("compute", "attach", "extra", "--host", "127.0.0.1", "--port", str(server.port),
                      "--user", "root", "--identity", str(pool["key"]), "--root", str(tmp_path / "n3"))
    assert refused.returncode == 1 and "--accept-host-key SHA256:" in refused.stderr
    fp = refused.stderr.split("--accept-host-key ")[1].split()[0]
    ok = run_cli("compute", "attach", "extra", "--host", "127.0.0.1", "--port", str(server.port), "--user",
                 "root", "--identity", str(pool["key"]), "--root", str(tmp_path / "n3"), "--gpus", "2",
                 "--accept-host-key", fp)
    assert ok.returncode == 0, ok.stderr
    listed = {c["name"]: c for c in json.loads(run_cli("compute", "list", "--json").stdout)}
    node = listed["extra"]["nodes"][0]
    assert node["host_key"] == server.host_key and node["gpus"] == 2
    status = json.loads(run_cli("compute", "status", "extra", "--json").stdout)
    assert status[0]["reachable"] and status[0]["free_slots"] == 2 and status[0]["python"].startswith("3.")


def test_remote_environment_built_once_then_reused(pool, tmp_path):
    """On a node without uv: uv is installed into the node root, the env is built, then reused."""
    job = make_project(tmp_path, extra="environment:\n  requirements: requirements.txt\n")
    write(tmp_path / "requirements.txt", "six==1.16.0\n")
    cfg = pool["config"]
    cfg["computes"]["pool"]["nodes"] = cfg["computes"]["pool"]["nodes"][:1]
    set_config(tmp_path, cfg)
    first = submit(job, "--json")
    assert first.returncode == 0, first.stderr
    assert "cache miss" in first.stderr and "Installed" in first.stderr  # the build log streamed live
    second = json.loads(submit(job, "--json").stdout)
    ws = Workspace.load()
    assert "cache hit" in (Run(ws, second["runId"]).run_dir / "logs" / "environment_build.log").read_text()
    assert "six==1.16.0" in (Run(ws, second["runId"]).run_dir / "logs" / "environment_packages.txt").read_text()
    write(tmp_path / "requirements.txt", "trainyard-no-such-package-xyz==1.0\n")
    failed = submit(job)
    assert failed.returncode == 3 and "environment build failed" in failed.stderr
    assert "trainyard-no-such-package-xyz" in failed.stderr


def test_ssh_config_proxyjump_and_known_hosts(pool, tmp_path):
    """~/.ssh/config (HostName, Port, User, IdentityFile, ProxyJump) and known_hosts pinning are honoured."""
    s1, s2 = pool["servers"]
    ssh_dir = tmp_path / "home" / ".ssh"
    ssh_dir.mkdir(parents=True)
    (ssh_dir / "config").write_text(
        f"Host jumpbox\n  HostName 127.0.0.1\n  Port {s1.port}\n  User root\n  IdentityFile {pool['key']}\n"
        f"Host worker\n  HostName 127.0.0.1\n  Port {s2.port}\n  User root\n  IdentityFile {pool['key']}\n"
        f"  ProxyJump root@127.0.0.1:{s1.port}\n")
    (ssh_dir / "known_hosts").write_text(f"[127.0.0.1]:{s1.port} {s1.host_key}\n[127.0.0.1]:{s2.port} {s2.host_key}\n")
    node = SSHNode(NodeConfig(name="w", host="worker", root=str(tmp_path / "nodew")))
    try:
        info = node.call("info", {})
        assert info["root"] == str(tmp_path / "nodew") and node._jump is not None
    finally:
        node.close()


GPU_SCRIPT = "import os\nprint('CVD=' + os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'))\n"


def test_gpu_slots_get_cuda_visible_devices(pool, tmp_path):
    """On a node with 2 GPUs (2 slots), each run gets CUDA_VISIBLE_DEVICES for its slot."""
    cfg = pool["config"]
    node = {**cfg["computes"]["pool"]["nodes"][0], "gpus": 2}
    node.pop("slots")
    cfg["computes"]["pool"]["nodes"] = [node]
    set_config(tmp_path, cfg)
    write(tmp_path / "src" / "gpu.py", GPU_SCRIPT)
    job = write(tmp_path / "job.yml", "code: src\ncommand: python gpu.py\nresources:\n  gpus: 1\n")
    out = submit(job)
    assert out.returncode == 0 and "CVD=0" in out.stderr
    too_many = submit(write(tmp_path / "job3.yml", "code: src\ncommand: python gpu.py\nresources:\n  gpus: 3\n"))
    assert too_many.returncode == 1 and "has 2 GPUs, the job asks for 3" in too_many.stderr


READ_INPUT = """\
import os, sys
from trainers import Run
run = Run.get_context()
folder = sys.argv[1]
assert folder == run.input_datasets["d"] == os.environ["TRAINYARD_INPUT_D"]
run.log("bytes", sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)))
if sys.argv[2:] == ["tamper"]:  # as root, mode 0444 does not stop this write through the hard link
    with open(os.path.join(folder, "part0.bin"), "ab") as fh:
        fh.write(b"tampered")
"""


def test_dataset_input_synced_once_and_cached_on_node(pool, tmp_path):
    """A registered dataset reaches the node by the snapshot's blob sync; a second run sends none of it,
    and a job that writes into its input does not alter what later runs get."""
    for i in range(4):
        write(tmp_path / "data" / f"part{i}.bin", f"{i}" * 50_000)
    assert run_cli("datasets", "register", "d", str(tmp_path / "data")).returncode == 0
    write(tmp_path / "src" / "read.py", READ_INPUT)
    job = write(tmp_path / "job.yml", "code: src\ncommand: python read.py ${{inputs.d}} ${{inputs.extra}}\n"
                "inputs:\n  extra: ''\n  d:\n    type: uri_folder\n    path: dataset:d@latest\n    mode: ro_mount\n")
    cfg = pool["config"]
    cfg["computes"]["pool"]["nodes"] = cfg["computes"]["pool"]["nodes"][:1]
    set_config(tmp_path, cfg)
    first, second = (json.loads(submit(job, "--json").stdout) for _ in range(2))
    assert first["metrics"] == second["metrics"] == {"bytes": 200_000}
    ws = Workspace.load()
    sent = [Run(ws, r["runId"]).record["bytes_sent"] for r in (first, second)]
    assert sent[0] > 200_000 and sent[1] == 0  # data and code already on the node
    node_file = pool["roots"][0] / "runs" / second["runId"] / "inputs" / "d" / "part0.bin"
    assert node_file.stat().st_nlink >= 3  # one blob in the node's objects/, linked into both runs
    tamper = json.loads(submit(job, "--json", "--set", "inputs.extra=tamper").stdout)
    after = json.loads(submit(job, "--json").stdout)
    assert tamper["metrics"]["bytes"] == after["metrics"]["bytes"] == 200_000
    assert 50_000 <= Run(ws, after["runId"]).record["bytes_sent"] < 51_000  # only the altered blob, re-sent


def test_threads_of_one_process_share_a_node(pool, tmp_path):
    """Four threads submit to and follow runs on one node at once, over its one connection: all complete."""
    from concurrent.futures import ThreadPoolExecutor

    from trainyard import Experiment, ScriptRunConfig

    cfg = pool["config"]
    cfg["computes"]["pool"]["nodes"] = [{**cfg["computes"]["pool"]["nodes"][0], "slots": 4}]
    set_config(tmp_path, cfg)
    make_project(tmp_path)
    ws = Workspace.load()
    src = ScriptRunConfig(str(tmp_path / "src"), "train.py", arguments=["--sleep", "0.5"], compute_target="pool")

    def one(_):
        return Experiment(ws, "threads").submit(src).wait_for_completion()["status"]

    with ThreadPoolExecutor(4) as threads:
        assert list(threads.map(one, range(4))) == ["Completed"] * 4
