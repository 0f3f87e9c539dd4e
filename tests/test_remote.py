"""The picklable client configuration and the cluster driver's pure pieces (no cluster, no socket)."""

from __future__ import annotations

import functools
import pickle
import subprocess
import sys

import pytest

from cos_multipart import CosCredentialsError, CosValidationError, Credentials, SseC, UploadConfig
from cos_multipart.options import ObjectOptions
from cos_multipart.planner import plan_parts
from cos_multipart.remote import ClientConfig, EnvCredentials, FactoryCredentials, worker_client
from cos_multipart.session import UploadSession

SECRET = "remote-test-secret-key-0000"


def fetch(secret: str) -> Credentials:
    return Credentials("AKIDremote", secret)


def test_a_config_pickles_and_its_repr_names_sources_never_values() -> None:
    config = ClientConfig("examplebucket-1250000000", "ap-guangzhou", FactoryCredentials(functools.partial(fetch, SECRET)))
    assert repr(pickle.loads(pickle.dumps(config))) == repr(config)  # a partial compares by identity
    assert SECRET not in repr(config) and "test_remote.fetch" in repr(config)
    env = ClientConfig("examplebucket-1250000000", "ap-guangzhou", EnvCredentials("MY_ID", "MY_KEY", None))
    assert pickle.loads(pickle.dumps(env)) == env
    assert repr(env) == (
        "ClientConfig(bucket='examplebucket-1250000000', region='ap-guangzhou', "
        "credentials=EnvCredentials(secret_id='MY_ID', secret_key='MY_KEY', token=None))"
    )


def test_credentials_themselves_are_refused_with_the_reason() -> None:
    with pytest.raises(CosValidationError, match="never the credentials themselves") as raised:
        ClientConfig("examplebucket-1250000000", "ap-guangzhou", Credentials("AKIDx", SECRET))  # type: ignore[arg-type]
    assert raised.value.field == "credentials" and SECRET not in str(raised.value)
    with pytest.raises(CosValidationError):
        ClientConfig("Bad_Bucket", "ap-guangzhou")
    with pytest.raises(CosValidationError):
        EnvCredentials("")


def test_env_credentials_name_the_missing_variable_and_never_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTE_ID", "AKIDremote")
    monkeypatch.delenv("REMOTE_KEY", raising=False)
    source = EnvCredentials("REMOTE_ID", "REMOTE_KEY", "REMOTE_TOKEN")
    with pytest.raises(CosCredentialsError, match="REMOTE_KEY not set"):
        source.provider()
    monkeypatch.setenv("REMOTE_KEY", SECRET)
    monkeypatch.setenv("REMOTE_TOKEN", "tok")
    assert source.provider()() == Credentials("AKIDremote", SECRET, "tok")


def test_one_client_per_process_and_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COS_SECRET_ID", "AKIDremote")
    monkeypatch.setenv("COS_SECRET_KEY", SECRET)
    config = ClientConfig("examplebucket-1250000000", "ap-guangzhou", endpoint="http://127.0.0.1:1")
    first = worker_client(config)
    assert worker_client(pickle.loads(pickle.dumps(config))) is first
    assert worker_client(config, pool_size=3) is not first


def test_the_package_does_not_import_dask() -> None:
    code = "import sys, cos_multipart, cos_multipart.remote; print('distributed' in sys.modules or 'dask' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_task_names_hash_the_key_and_runs_are_consecutive() -> None:
    cluster = pytest.importorskip("cos_multipart.cluster")
    session = UploadSession("http://x", "examplebucket-1250000000", "private/alice.bin", "u1", plan_parts(10, 1 << 20))
    prefix = cluster.task_prefix(session, "n1")
    assert prefix.startswith("cos-part-") and "alice" not in prefix and len(prefix) == len("cos-part-") + 16
    assert cluster.task_prefix(session, "n2") != prefix  # each call its own task keys
    assert cluster.split_runs((1, 2, 3, 4, 5, 7), 2) == [(1, 2), (3, 4), (5, 7)]
    assert cluster._run_length(100, 4, None) == cluster.DEFAULT_PARTS_PER_TASK
    assert cluster._run_length(5, 4, None) == 1 and cluster._run_length(5, 4, 3) == 3


def test_settings_a_cluster_cannot_honour_are_refused() -> None:
    cluster = pytest.importorskip("cos_multipart.cluster")
    key = bytes(range(32))
    with pytest.raises(CosValidationError, match="SSE-C key would travel") as raised:
        cluster._check_settings(UploadConfig(options=ObjectOptions(encryption=SseC(key))), None, 2)
    assert key.hex() not in str(raised.value)
    with pytest.raises(CosValidationError, match="traffic_limit"):
        cluster._check_settings(UploadConfig(bandwidth_limit=10**6), None, 2)
    with pytest.raises(CosValidationError, match="parts_per_task"):
        cluster._check_settings(UploadConfig(), 0, 2)
    with pytest.raises(CosValidationError, match="task_retries"):
        cluster._check_settings(UploadConfig(), None, -1)


def test_plugin_credentials_pickle_by_name_and_hide_their_secret() -> None:
    cluster = pytest.importorskip("cos_multipart.cluster")
    source = cluster.PluginCredentials("night-batch")
    assert pickle.loads(pickle.dumps(source)) == source and repr(source) == "PluginCredentials('night-batch')"
    with pytest.raises(CosCredentialsError, match="install_credentials"):
        source.provider()
    plugin = cluster._CredentialsPlugin("night-batch", Credentials("AKIDx", SECRET))
    assert SECRET not in repr(plugin)


def test_an_oss_config_reads_oss_variables_and_pickles_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ClientConfig("examplebucket", "cn-hangzhou", endpoint="http://127.0.0.1:9", dialect="OSS")
    assert config.dialect == "oss" and config.credentials == EnvCredentials("OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET", "OSS_SESSION_TOKEN")
    assert pickle.loads(pickle.dumps(config)) == config and "dialect='oss'" in repr(config)
    monkeypatch.setenv("OSS_ACCESS_KEY_ID", "LTAI-id")
    monkeypatch.setenv("OSS_ACCESS_KEY_SECRET", "oss-secret")
    with config.client() as client:
        assert client.dialect.name == "oss" and client.transport.credentials().secret_id == "LTAI-id"
    with pytest.raises(CosValidationError):
        ClientConfig("examplebucket", "cn-hangzhou", dialect="s3")
    with pytest.raises(CosValidationError):  # an OSS bucket name is no COS bucket
        ClientConfig("examplebucket", "ap-guangzhou")
