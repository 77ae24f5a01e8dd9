"""DVC remotes beyond a local folder: a real push and pull over s3:// against an S3-compatible
server started here on the loopback interface."""
from __future__ import annotations

import subprocess

import boto3
import pytest
from moto.server import ThreadedMotoServer

from catdog_dev.repo import BIN, Repo

pytestmark = pytest.mark.pipeline

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "catdog", "AWS_SECRET_ACCESS_KEY": "catdog-secret",
               "AWS_DEFAULT_REGION": "us-east-1", "NO_PROXY": "127.0.0.1", "AWS_MAX_ATTEMPTS": "2"}
TIMEOUT = 120  # seconds for any one dvc command against the server


@pytest.fixture
def s3_endpoint(monkeypatch):
    """An S3-compatible server on 127.0.0.1 (a free port), with an empty bucket `catdog`."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="catdog")
    yield endpoint
    server.stop()


def dvc(repo: Repo, *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "dvc"), *args], cwd=repo.root,
                          env={**repo.env, **CREDENTIALS}, capture_output=True, text=True,
                          timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"dvc {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_push_with_run_cache_and_pull_over_s3(repo, tmp_path, s3_endpoint):
    first = repo.copy(tmp_path / "first")
    first.dvc("remote", "add", "-d", "team", "s3://catdog/store")
    first.dvc("remote", "modify", "team", "endpointurl", s3_endpoint)
    first.commit("share results on S3")
    dvc(first, "push", "--run-cache")
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_endpoint)
            .list_objects_v2(Bucket="catdog")["Contents"]]
    assert any(k.startswith("store/files/md5/") for k in keys)
    assert any(k.startswith("store/runs/") for k in keys), "the run cache was not pushed"

    second = Repo(tmp_path / "second")
    subprocess.run(["git", "clone", "-q", str(first.root), str(second.root)], check=True,
                   env=first.env)
    second.env["PYTHONPATH"] = str(second.root / "src")
    dvc(second, "pull", "--run-cache")
    assert second.digest("models", "data/processed") == first.digest("models", "data/processed")
    ran, proc = second.repro()
    assert ran == [], proc.stdout
