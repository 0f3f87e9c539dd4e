"""The picklable client configuration and the cluster driver's pure pieces (no cluster, no socket)."""

from __future__ import annotations

import functools
import os
import pickle
import subprocess
import sys

import pytest

from typing import Any, Callable

from cos_multipart import CosCredentialsError, CosValidationError, Credentials, SseC, UploadConfig
from cos_multipart._protocol.credentials import as_provider
from cos_multipart._protocol.options import ObjectOptions
from cos_multipart._core.planner import plan_parts
from cos_multipart.remote import ClientConfig, EnvCredentials, FactoryCredentials, worker_client
from cos_multipart._core.session import UploadSession
from cos_multipart._io.transport import Transport

SECRET = "remote-test-secret-key-0000"


TOKEN = "remote-test-sts-token-0000"


def fetch(secret: str = SECRET) -> Credentials:
    return Credentials("AKIDremote", secret)


def fetch_from_environment() -> Credentials:
    return Credentials("AKIDremote", os.environ["REMOTE_TEST_KEY"])


class Vault:
    """A provider object holding a secret: its methods and its instances must not travel."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def credentials(self) -> Credentials:
        return Credentials("AKIDremote", self.secret, TOKEN)

    def __call__(self) -> Credentials:
        return self.credentials()


class FromEnvironment:
    """A provider class: the factory builds one on each machine."""

    def __call__(self) -> Credentials:
        return fetch_from_environment()


def closure_over(secret: str) -> Callable[[], Credentials]:
    def build() -> Credentials:
        return Credentials("AKIDremote", secret, TOKEN)

    return build


class Holder:
    """A credential source of the user's own: its state would travel with every task."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def provider(self) -> Any:
        return as_provider(Credentials("AKIDremote", self.secret))


def test_a_config_pickles_and_its_repr_names_sources_never_values() -> None:
    config = ClientConfig("examplebucket-1250000000", "ap-guangzhou", FactoryCredentials(fetch_from_environment))
    assert pickle.loads(pickle.dumps(config)) == config
    assert repr(config) == (
        "ClientConfig(bucket='examplebucket-1250000000', region='ap-guangzhou', "
        "credentials=FactoryCredentials(test_remote.fetch_from_environment))"
    )
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


@pytest.mark.parametrize("retries", [-1, 101, True, 2.0])
def test_task_retries_follow_one_rule_for_every_cluster_operation(retries: object) -> None:
    """Downloads said "an int >= 0" (and took 10**6) where uploads and copies said 0..100."""
    cluster = pytest.importorskip("cos_multipart.cluster")
    with pytest.raises(CosValidationError, match=r"task_retries.*an integer 0\.\.100"):
        cluster.download_file_on_cluster(None, None, "k", "local.bin", task_retries=retries)
    with pytest.raises(CosValidationError, match=r"task_retries.*an integer 0\.\.100"):
        cluster._check_settings(UploadConfig(), None, retries)


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


@pytest.mark.parametrize(
    ("factory", "shown"),
    [
        (functools.partial(Credentials, "AKIDremote", SECRET, token=TOKEN), "functools.partial of cos_multipart._protocol.credentials.Credentials"),
        (functools.partial(fetch, SECRET), "functools.partial of test_remote.fetch"),
        (lambda secret=SECRET: Credentials("AKIDremote", secret, TOKEN), "test_remote.<lambda>"),
        (closure_over(SECRET), "test_remote.closure_over.<locals>.build"),
        (Vault(SECRET).credentials, "method test_remote.Vault.credentials bound to a Vault"),
        (Vault(SECRET), "an instance of test_remote.Vault"),
        (SECRET.strip, "method str.strip bound to a str"),
    ],
    ids=["partial-of-Credentials", "partial-of-a-function", "lambda-with-default", "closure", "bound-method",
         "callable-instance", "method-of-the-secret"],
)  # fmt: skip
def test_a_factory_that_would_carry_a_value_into_tasks_is_refused(factory: Any, shown: str) -> None:
    # Before this check a partial was accepted and pickled its arguments (the secret key, the token) into
    # every task the scheduler held.
    with pytest.raises(CosValidationError, match="referenced by name") as raised:
        FactoryCredentials(factory)
    assert raised.value.field == "FactoryCredentials.factory" and raised.value.value == shown
    assert SECRET not in str(raised.value) and TOKEN not in str(raised.value)


def test_a_factory_of_main_is_refused_since_dask_pickles_it_by_value() -> None:
    # Dask pickles __main__'s functions by value (cloudpickle), with the globals they use: a secret of the
    # script would travel. Run in a child process, where the function really is __main__'s.
    code = (
        "from cos_multipart import Credentials, CosValidationError\n"
        "from cos_multipart.remote import FactoryCredentials\n"
        f"KEY = {SECRET!r}\n"
        "def factory():\n"
        "    return Credentials('AKIDmain', KEY)\n"
        "try:\n"
        "    FactoryCredentials(factory)\n"
        "except CosValidationError as error:\n"
        "    print('refused', KEY in str(error))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "refused False", result.stderr


def test_a_factory_by_name_is_accepted_functions_and_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMOTE_TEST_KEY", SECRET)
    factories: Any = (fetch_from_environment, fetch, FromEnvironment)  # a function, one with a default, a class
    for factory in factories:
        source = FactoryCredentials(factory)
        assert pickle.loads(pickle.dumps(source)) == source
        assert SECRET.encode() not in pickle.dumps(ClientConfig("examplebucket-1250000000", "ap-guangzhou", source))
        assert source.provider()().secret_key == SECRET


def test_a_credential_source_of_another_class_is_refused() -> None:
    holder = Holder(SECRET)
    with pytest.raises(CosValidationError, match="sources that only name where credentials come from") as raised:
        ClientConfig("examplebucket-1250000000", "ap-guangzhou", holder)
    assert raised.value.field == "credentials" and raised.value.value == "Holder" and SECRET not in str(raised.value)


def test_answer_deadline_is_picklable_validated_and_given_to_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COS_SECRET_ID", "AKIDremote")
    monkeypatch.setenv("COS_SECRET_KEY", SECRET)
    config = ClientConfig("examplebucket-1250000000", "ap-guangzhou", endpoint="http://127.0.0.1:1", answer_deadline=7)
    assert config.answer_deadline == 7.0 and pickle.loads(pickle.dumps(config)) == config
    with config.client() as client:
        assert isinstance(client.transport, Transport) and client.transport.answer_deadline == 7.0
    assert ClientConfig("examplebucket-1250000000", "ap-guangzhou").answer_deadline == 180.0
    assert ClientConfig("examplebucket-1250000000", "ap-guangzhou", answer_deadline=None).answer_deadline is None
    for bad in (0, -1, float("inf"), "10", True, (1.0, 2.0)):
        with pytest.raises(CosValidationError, match="answer_deadline") as raised:
            ClientConfig("examplebucket-1250000000", "ap-guangzhou", answer_deadline=bad)  # type: ignore[arg-type]
        assert raised.value.field == "answer_deadline"


def test_a_factory_of_a_module_cloudpickle_sends_by_value_is_refused() -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    module = sys.modules[__name__]
    cloudpickle.register_pickle_by_value(module)  # Dask would then send the function's code and globals
    try:
        with pytest.raises(CosValidationError, match="referenced by name"):
            FactoryCredentials(fetch_from_environment)
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    assert FactoryCredentials(fetch_from_environment).factory is fetch_from_environment
