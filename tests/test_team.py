"""The team workflow of the README, run for real on the tiny pipeline. Teammate A pushes data, models, the
run cache and two experiments' outputs; teammate B clones the same commit and pulls: the same bytes, nothing
to rerun, A's experiment by `dvc exp pull`, and A's index run restored from the run cache. Over the default
remote (a local folder) and over SSH (a real OpenSSH server on 127.0.0.1, key authentication). Then
experiments from a fresh clone: one run, a queued sweep, and the table `reproqa experiments` shows."""

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import GIT_USER, REPO, run, stage_env

NOT_PULLED = {".git", ".dvc", "scratch", "__pycache__"}  # git internals, caches, the trainers' scratch


def commit(root: Path, message: str) -> None:
    run(["git", "add", "-A"], root)
    run(["git", *GIT_USER, "commit", "-qm", message], root)


def back_to_the_commit(root: Path) -> None:
    run(["git", "checkout", "--", "."], root)
    run(["dvc", "checkout"], root)


def project_files(root: Path) -> dict[str, bytes]:
    """Every file a teammate sees in the project: git's and DVC's, the outputs included."""
    files = {}
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [s for s in subfolders if s not in NOT_PULLED]
        files |= {str(Path(folder, n).relative_to(root)): Path(folder, n).read_bytes() for n in names}
    return files


def stages_run(output: str) -> set[str]:
    return {line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")}


EXPERIMENTS = {"top-k-2": "evaluate.top_k=2", "index-batch-16": "index.batch_size=16"}


def teammate_a(
    pipeline_root: Path, a: Path, env: dict, local_config: list[str], remote_url: str = "", experiments: bool = True
) -> Path:
    """Teammate A: the pipeline run and committed (with the default remote switched to `remote_url`, when
    given, as the README does it), two experiments (EXPERIMENTS, if `experiments`; top-k-2's metrics kept in
    top_k_2.json beside the clone), then everything pushed: the committed outputs, the run cache, and the
    experiments' outputs (each applied in turn: `dvc push` sends what the workspace references)."""
    shutil.copytree(pipeline_root, a, symlinks=True)
    if remote_url:
        run(["dvc", "remote", "modify", "storage", "url", remote_url], a)  # committed: the team shares it
    commit(a, "dvc repro")
    run(["dvc", "remote", "modify", "--local", "storage", *local_config], a)  # per clone: never in git
    for name, change in EXPERIMENTS.items() if experiments else ():
        run(["dvc", "exp", "run", "-n", name, "-S", change], a)
        if name == "top-k-2":
            shutil.copy(a / "metrics/evaluate/metrics.json", a.parent / "top_k_2.json")
        back_to_the_commit(a)  # each experiment starts from the commit
    for name in EXPERIMENTS if experiments else ():
        run(["dvc", "exp", "apply", name], a)
        run(["dvc", "push", "--run-cache"], a, env=env)
    back_to_the_commit(a)
    run(["dvc", "push", "--run-cache"], a, env=env)
    return a


@pytest.fixture(scope="module")
def clone_a(pipeline, tmp_path_factory) -> Path:
    """Teammate A on the default remote, pointed for this test (in .dvc/config.local, as a user would
    override it) at a folder beside the clone."""
    team = tmp_path_factory.mktemp("team")
    a = teammate_a(pipeline[0], team / "a", stage_env(), ["url", str(team / "storage")])
    assert (team / "storage/files/md5").is_dir() and (team / "storage/runs").is_dir()
    return a


def pull_into_fresh_clone(a: Path, b: Path, env: dict, local_config: list[str], experiments: bool = True) -> None:
    """B clones A's commit and pulls: B must hold A's bytes with nothing to rerun; if `experiments`, get A's
    experiment top-k-2 with `dvc exp pull` instead of running it, and restore A's index run from the run cache."""
    run(["git", "clone", "-q", str(a), str(b)], a.parent)
    run(["dvc", "remote", "modify", "--local", "storage", *local_config], b)  # per clone: never in git
    run(["dvc", "pull", "--run-cache"], b, env=env)
    a_files, b_files = project_files(a), project_files(b)
    assert sorted(b_files) == sorted(a_files)
    assert [name for name in a_files if a_files[name] != b_files[name]] == []
    assert any(name.startswith("models/reader/") for name in b_files)
    assert "Data and pipelines are up to date" in run(["dvc", "status"], b).stdout
    assert stages_run(run(["dvc", "repro"], b).stdout) == set()
    if not experiments:
        return

    run(["dvc", "exp", "pull", "origin", "top-k-2"], b, env=env)  # the git ref from A, its outputs from DVC
    run(["dvc", "exp", "apply", "top-k-2"], b)
    assert (b / "metrics/evaluate/metrics.json").read_text() == (a.parent / "top_k_2.json").read_text()
    assert "Data and pipelines are up to date" in run(["dvc", "status"], b).stdout
    back_to_the_commit(b)

    # The run cache: A's index run (all outputs cached) is restored, not run. Stages with committed
    # metrics (cache: false) rerun instead: DVC pushes no uncached output, so no other machine can restore them.
    output = run(["dvc", "exp", "run", "--pull", "-S", "index.batch_size=16"], b, env=env).stdout
    assert "Stage 'index' is cached - skipping run" in output and "index" not in stages_run(output)


def test_the_default_remote_is_a_local_folder_that_needs_no_setup():
    listed = run(["dvc", "remote", "list"], REPO).stdout.split()
    assert listed[:3] == ["storage", "/tmp/reproqa-dvc-storage", "(default)"]


def test_a_fresh_clone_pulls_the_same_models_and_metrics_from_the_default_remote(clone_a):
    pull_into_fresh_clone(clone_a, clone_a.parent / "b", stage_env(), ["url", str(clone_a.parent / "storage")])


def test_experiments_in_a_fresh_clone_rerun_only_the_reader_and_show_what_changed(clone_a):
    """The reader, its ONNX graph (stage export) and the evaluation: nothing upstream of the reader."""
    c = clone_a.parent / "c"
    run(["git", "clone", "-q", str(clone_a), str(c)], clone_a.parent)
    run(["dvc", "remote", "modify", "--local", "storage", "url", str(clone_a.parent / "storage")], c)
    # Nothing pulled first: --pull fetches what the stages that run need, --allow-missing skips the rest.
    output = run(["dvc", "exp", "run", "--pull", "--allow-missing", "-S", "train.lr=3e-5"], c).stdout
    assert stages_run(output) == {"train", "export", "evaluate"}
    run(["dvc", "pull"], c)
    run(["dvc", "exp", "run", "--queue", "-S", "train.lr=2e-5,5e-5"], c)  # a sweep, queued: 2 runs
    run(["dvc", "queue", "start"], c)
    for _ in range(600):
        status = run(["dvc", "queue", "status"], c).stdout
        if not any(state in status for state in ("Queued", "Running")):
            break
        time.sleep(1)
    assert status.count("Success") == 2, status
    table = run(["reproqa", "experiments", "--md"], c).stdout
    header = table.splitlines()[0]
    for column in ("Experiment", "train.lr", "integrated.f1", "isolated.f1", "retriever.ndcg@10"):
        assert column in header, header
    assert "train.epochs" not in header and "eval.f1" not in header and "stages/train.py" not in header
    for lr in ("2e-05", "3e-05", "5e-05"):  # the first experiment's and the queued ones
        assert f" {lr} " in table, table


@pytest.fixture
def sshd(tmp_path):
    """An OpenSSH server on 127.0.0.1 that accepts one generated key for the current user; stopped after."""
    server = shutil.which("sshd") or "/usr/sbin/sshd"
    if not os.access(server, os.X_OK):
        message = "OpenSSH server not installed (Debian: apt-get install openssh-server; .ci/run does it)"
        if os.environ.get("REPROQA_REQUIRE_SSHD"):
            pytest.fail(message)
        pytest.skip(message)
    keys = tmp_path / "ssh"
    keys.mkdir()
    for name in ("host", "client"):
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], tmp_path)
    shutil.copy(keys / "client.pub", keys / "authorized_keys")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (keys / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\nPidFile {keys / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPubkeyAuthentication yes\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n"
        "Subsystem sftp internal-sftp\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder (Debian makes it at boot)
    process = subprocess.Popen(
        [server, "-D", "-e", "-f", str(keys / "sshd_config")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for _ in range(100):
        if process.poll() is not None:
            pytest.fail(f"sshd exited: {process.stdout.read()}")
        with socket.socket() as client:
            if client.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    # The client trusts exactly this server: a known_hosts entry in a HOME of its own.
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    host_key = " ".join((keys / "host.pub").read_text().split()[:2])
    (home / ".ssh/known_hosts").write_text(f"[127.0.0.1]:{port} {host_key}\n")
    yield {
        "url": f"ssh://{getpass.getuser()}@127.0.0.1:{port}{tmp_path / 'ssh-storage'}",
        "key": keys / "client",
        "env": stage_env() | {"HOME": str(home)},
        "storage": tmp_path / "ssh-storage",
    }
    process.terminate()
    process.wait(timeout=10)


def test_a_fresh_clone_pulls_the_same_models_and_metrics_over_ssh(pipeline, sshd, tmp_path):
    """The transport: outputs and run cache pushed and pulled over SSH. Experiments travel by the same DVC
    calls over any remote; the default-remote test above runs them, so this one does not (a minute of the suite)."""
    key = ["keyfile", str(sshd["key"])]
    a = teammate_a(pipeline[0], tmp_path / "a", sshd["env"], key, remote_url=sshd["url"], experiments=False)
    assert "keyfile" not in (a / ".dvc/config").read_text() and "keyfile" in (a / ".dvc/config.local").read_text()
    assert (sshd["storage"] / "files/md5").is_dir() and (sshd["storage"] / "runs").is_dir()
    pull_into_fresh_clone(a, tmp_path / "b", sshd["env"], key, experiments=False)
