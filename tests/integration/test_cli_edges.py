"""Trust at the edges of the command line, against the local server speaking each service (issue 19: items 1,
3, 9 and 11): ``--dry-run`` writes nothing for any command, an option that does not apply is refused, a target
means the same everywhere, ``rm`` of a missing key says so, and the printed resume/abort commands can be pasted.

"Writes nothing" is proven by the server's access log: no PUT, POST or DELETE after the dry runs began.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set

import pytest

from cos_multipart._io import _crccache
from cos_multipart._cli import main as cli
from cos_multipart._io.checkpoint import CheckpointStore
from cos_multipart._io.client import CosClient
from cos_multipart._protocol.errors import CosValidationError
from cos_multipart.testing import Fault, LocalCOS

from uploads import Driver, make_file, stored, target

pytestmark = [pytest.mark.integration, pytest.mark.both_dialects]

_SH = shutil.which("sh") or "/bin/sh"  # a POSIX shell, as a user pastes into
_WRITING = {"PUT", "POST", "DELETE"}
_SMALL_PARTS = ("--part-size", "1MB", "--multipart-threshold", "0", "--concurrency", "1")


def run(*argv: str) -> int:
    return cli.main(list(argv))


def writes_since(server: LocalCOS, seen: int) -> List[str]:
    """The writing requests the server served after its first ``seen`` log entries."""
    return [f"{e.method} {e.path} ({e.api})" for e in server.log_entries()[seen:] if e.method in _WRITING]


def _shell_env() -> Dict[str, str]:
    """The environment of a pasted command: ``cos-multipart`` found on PATH beside this Python (the installed
    script), the credentials and region as the test set them."""
    script = Path(sys.executable).parent / "cos-multipart"
    if not script.exists():
        pytest.skip("the cos-multipart script is not installed beside this Python")
    return dict(os.environ, PATH=f"{script.parent}{os.pathsep}{os.environ.get('PATH', '')}")


def local_files(root: Path) -> Dict[str, bytes]:
    """Every file under ``root`` (checkpoints, locks, caches, the test's own files) with its content."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def keys_of(client: CosClient) -> Set[str]:
    return {item.key for item in client.list_objects()}


def keep_an_upload(server: LocalCOS, path: Path, key: str, *extra: str) -> None:
    """Run an upload of ``path`` that fails at its second part and is kept for a resume."""
    fault = server.faults.add(Fault.error("UploadPart", status=403, code="AccessDenied", nth=2, count=None))
    try:
        assert run("upload", str(path), target(server, key), *_SMALL_PARTS, *extra) == cli.EXIT_SERVICE
    finally:
        server.faults.remove(fault)


# --- item 1: --dry-run for every command that writes or deletes ----------------------------------------------


def test_dry_run_of_every_writing_command_sends_no_write(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_crccache, "RACY_SECONDS", -60.0)  # fresh files may be cached: a real run would save them
    with cli_env.client() as client:
        client.put_object("precious.txt", b"v1")
        client.put_object("tree/old.txt", b"old")
        big, _ = make_file(tmp_path, 3 * 1024 * 1024 + 7, "big.bin")
        keep_an_upload(cli_env, big, "big.bin")
        capsys.readouterr()
        (tmp_path / "p.txt").write_bytes(b"v2")
        tree = tmp_path / "tree"
        tree.mkdir()
        (tree / "new.txt").write_bytes(b"new")
        client.put_object("tree/same.txt", b"same")  # sync computes the local CRC-64 to compare: cacheable
        (tree / "same.txt").write_bytes(b"same")
        before = keys_of(client)
        uploads_before = [u.upload_id for u in client.list_multipart_uploads()]
        seen = len(cli_env.log_entries())
        local_before = local_files(tmp_path)

        assert run("upload", str(tmp_path / "p.txt"), target(cli_env, "precious.txt"), "--dry-run") == cli.EXIT_OK
        out = capsys.readouterr().out
        assert "would upload" in out and "replaces the existing object of 2 B" in out and "uploaded" not in out
        assert run("upload", str(big), target(cli_env, "big.bin"), "--dry-run", *_SMALL_PARTS) == cli.EXIT_OK
        assert "would resume" in capsys.readouterr().out
        assert run("upload", str(big), target(cli_env, "fresh.bin"), "--dry-run", *_SMALL_PARTS) == cli.EXIT_OK
        assert "in 4 parts of 1.0 MiB; a new object" in capsys.readouterr().out
        assert run("upload", "-", target(cli_env, "precious.txt"), "--dry-run") == cli.EXIT_OK
        assert "would upload stdin" in capsys.readouterr().out  # nothing read from stdin
        assert run("resume", str(big), target(cli_env, "big.bin"), "--dry-run", *_SMALL_PARTS) == cli.EXIT_OK
        assert "1/4 parts recorded, 3 to send" in capsys.readouterr().out
        assert run("resume", "--forget", "--dry-run", str(big), target(cli_env, "big.bin")) == cli.EXIT_OK
        assert "would drop the checkpoint" in capsys.readouterr().out
        assert run("upload", "-r", "--dry-run", str(tree), target(cli_env, "tree/")) == cli.EXIT_OK
        assert "would upload" in capsys.readouterr().out
        assert run("sync", "--dry-run", "--delete", str(tree), target(cli_env, "tree")) == cli.EXIT_OK
        assert "would delete" in capsys.readouterr().out
        assert run("rm", "--dry-run", target(cli_env, "precious.txt")) == cli.EXIT_OK
        assert "would delete" in capsys.readouterr().out
        assert run("rm", "-r", "--yes", "--dry-run", target(cli_env, "tree")) == cli.EXIT_OK
        assert run("abort", "--dry-run", target(cli_env, "big.bin")) == cli.EXIT_OK
        out = capsys.readouterr().out
        assert f"would abort {target(cli_env, 'big.bin')} upload {uploads_before[0]}" in out
        assert "would remove the checkpoint" in out

        assert writes_since(cli_env, seen) == []
        # Nothing written locally either: no checkpoint, lock, probe or CRC-64 cache file made or changed.
        assert local_files(tmp_path) == local_before
        assert stored(client, "precious.txt") == b"v1"
        assert keys_of(client) == before
        assert [u.upload_id for u in client.list_multipart_uploads()] == uploads_before


def test_dry_run_with_forbid_overwrite_says_it_would_refuse(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with cli_env.client() as client:
        client.put_object("precious.txt", b"v1")
    (tmp_path / "p.txt").write_bytes(b"v2")
    seen = len(cli_env.log_entries())
    code = run("upload", str(tmp_path / "p.txt"), target(cli_env, "precious.txt"), "--dry-run", "--forbid-overwrite")
    assert code == cli.EXIT_SERVICE and "would refuse" in capsys.readouterr().out
    assert writes_since(cli_env, seen) == []


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["upload", "{file}", "{t}/k", "--include", "*.txt"], "--include"),
        (["upload", "{file}", "{t}/k", "--exclude", "*.txt"], "--exclude"),
        (["upload", "{file}", "{t}/k", "--follow-symlinks"], "--follow-symlinks"),
        (["upload", "-r", "{dir}", "{t}/d/", "--expected-size", "1MB"], "--expected-size"),
        (["resume", "{file}", "{t}/k", "--no-resume"], "--no-resume"),
        (["resume", "--part-size", "8MB"], "--part-size"),
        (["resume", "--forget", "{file}", "{t}/k", "--acl", "private"], "--acl"),
        (["rm", "{t}/k", "--yes"], "--yes"),
        (["rm", "{t}/k", "--raw-prefix"], "--raw-prefix"),
        (["ls", "{t}/", "--checkpoint-dir", "x"], "--checkpoint-dir"),
    ],
)
def test_an_option_that_does_not_apply_is_refused_by_name(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: List[str], flag: str
) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"v2")
    with cli_env.client() as client:
        client.put_object("k", b"v1")
    seen = len(cli_env.log_entries())
    words = [w.format(file=path, dir=tmp_path, t=f"{cli_env.dialect}://{cli_env.bucket}") for w in argv]
    assert run(*words) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"error: {flag}" in err and "False" not in err and "True" not in err
    assert cli_env.log_entries()[seen:] == []  # refused before any request
    with cli_env.client() as client:
        assert stored(client, "k") == b"v1"


# --- item 3: one meaning for a target -----------------------------------------------------------------------


def _folder_tree(client: CosClient) -> None:
    for key in ("t", "t/a", "t/sub/b", "tree/c", "tt", "u"):
        client.put_object(key, key.encode())


def test_rm_r_means_the_folder_and_the_named_object_never_a_string_prefix(
    cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]
) -> None:
    with cli_env.client() as client:
        _folder_tree(client)
        assert run("rm", "-r", "--yes", target(cli_env, "t/")) == cli.EXIT_OK
        assert "deleted 2 objects" in capsys.readouterr().out
        assert keys_of(client) == {"t", "tree/c", "tt", "u"}
        _folder_tree(client)
        assert run("rm", "-r", "--yes", target(cli_env, "t")) == cli.EXIT_OK
        assert "deleted 3 objects" in capsys.readouterr().out
        assert keys_of(client) == {"tree/c", "tt", "u"}
        _folder_tree(client)
        assert run("rm", "-r", "--yes", "--raw-prefix", target(cli_env, "t")) == cli.EXIT_OK
        assert keys_of(client) == {"u"}


def test_ls_and_uploads_cover_what_rm_covers(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    with cli_env.client() as client:
        _folder_tree(client)
        for key in ("t", "t/x", "tree/y", "tt"):
            client.initiate_multipart_upload(key)
    assert run("ls", "-r", target(cli_env, "t")) == cli.EXIT_OK
    listed = [line.split()[-1] for line in capsys.readouterr().out.splitlines()]
    assert listed == [target(cli_env, k) for k in ("t", "t/a", "t/sub/b")]
    assert run("ls", target(cli_env, "t")) == cli.EXIT_OK
    listed = [line.split()[-1] for line in capsys.readouterr().out.splitlines()]
    assert listed == [target(cli_env, k) for k in ("t", "t/sub/", "t/a")]
    assert run("ls", "-r", "--raw-prefix", target(cli_env, "t")) == cli.EXIT_OK
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert run("uploads", target(cli_env, "t/")) == cli.EXIT_OK
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines()] == [target(cli_env, "t/x")]
    assert run("uploads", target(cli_env, "t")) == cli.EXIT_OK
    assert sorted(line.split()[-1] for line in capsys.readouterr().out.splitlines()) == [
        target(cli_env, "t"), target(cli_env, "t/x")
    ]


def test_rm_of_a_missing_key_says_not_found(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("rm", target(cli_env, "never-was.txt")) == cli.EXIT_SERVICE
    captured = capsys.readouterr()
    assert "deleted" not in captured.out and f"not found: {target(cli_env, 'never-was.txt')}" in captured.err
    assert not [e for e in cli_env.log_entries() if e.method == "DELETE"]


# --- item 9: the printed resume and abort commands can be pasted ----------------------------------------------


def test_printed_resume_and_abort_commands_work_pasted_from_another_directory(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "my dir"
    folder.mkdir()
    path, data = make_file(folder, 3 * 1024 * 1024 + 3, "my file (1).bin")
    endpoint = cli_env.endpoint
    place = "OSS" if cli_env.dialect == "oss" else "COS"
    monkeypatch.delenv(f"{place}_ENDPOINT")  # given on the command line only: the printed command must carry it
    monkeypatch.chdir(folder)
    checkpoints = "it's checkpoints"
    keep_an_upload(
        cli_env, Path(path.name), "dir/my file (1).bin", "--endpoint", endpoint, "--checkpoint-dir", checkpoints,
        "--meta", "owner=a b",
    )  # fmt: skip
    err = capsys.readouterr().err
    resume = err.split("resume with: ", 1)[1].split("; abort with: ", 1)[0]
    abort = err.split("; abort with: ", 1)[1].strip()
    assert f"--endpoint {endpoint}" in resume and "--checkpoint-dir" in resume and str(folder) in resume
    assert "--endpoint" in abort and "--meta" not in abort
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = _shell_env()
    done = subprocess.run([_SH, "-c", resume], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "reused" in done.stdout
    with cli_env.client() as client:
        assert stored(client, "dir/my file (1).bin") == data
        info = client.head_object("dir/my file (1).bin")
        assert client.dialect.from_wire(info.response.headers).get("x-cos-meta-owner") == "a b"


def test_printed_abort_command_works_pasted(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = make_file(tmp_path, 3 * 1024 * 1024, "a b.bin")
    monkeypatch.chdir(tmp_path)
    keep_an_upload(cli_env, Path(path.name), "k k", "--checkpoint-dir", "cp")
    err = capsys.readouterr().err
    abort = err.split("; abort with: ", 1)[1].strip()
    env = _shell_env()
    done = subprocess.run([_SH, "-c", abort], cwd="/", env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "aborted" in done.stdout
    with cli_env.client() as client:
        assert list(client.list_multipart_uploads()) == []
    assert list((tmp_path / "cp").glob("*.json")) == []


def test_printed_resume_command_of_a_name_with_control_characters_works_pasted(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The printed line escapes control characters for the eye ("a\nb"); inside '...' that would name another
    # file (a backslash and an n). The command writes them in $'...' so the shell reads the name back exact.
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash: $'...' quoting needs bash, zsh, ksh or a POSIX.1-2024 shell")
    path, data = make_file(tmp_path, 3 * 1024 * 1024 + 5, "a\nb\x1b[31m it's\\n.bin")
    keep_an_upload(cli_env, path, "ctl.bin", "--checkpoint-dir", str(tmp_path / "cp"))
    err = capsys.readouterr().err
    assert "\x1b" not in err and all(line.startswith("cos-multipart: ") for line in err.splitlines()), err
    resume = err.split("resume with: ", 1)[1].split("; abort with: ", 1)[0]
    assert run("uploads", target(cli_env, ""), "--checkpoint-dir", str(tmp_path / "cp")) == cli.EXIT_OK
    listed = capsys.readouterr().out
    assert "(resumable from local file " in listed and "\x1b" not in listed and listed.count("\n") == 1, listed
    done = subprocess.run([bash, "-c", resume], cwd="/", env=_shell_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "reused" in done.stdout
    with cli_env.client() as client:
        assert stored(client, "ctl.bin") == data


# --- item 11: each message in the user's terms --------------------------------------------------------------


def test_part_size_is_checked_by_the_targets_service(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 3000)
    assert run("upload", str(path), target(cli_env, "k"), "--part-size", "6GB") == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--part-size 6442450944" in err
    if cli_env.dialect == "oss":
        assert "102400 (100 KB)" in err
    else:  # COS's 1 MB rule, not OSS's 100 KB one
        assert "1048576 (1 MB)" in err and "OSS" not in err and "100 KB" not in err
    assert run("upload", str(path), target(cli_env, "k"), "--part-size", "200KB") == (
        cli.EXIT_OK if cli_env.dialect == "oss" else cli.EXIT_USAGE
    )
    assert cli_env.log_entries("InitiateMultipartUpload") == []


def test_forbid_overwrite_is_named_by_its_flag_and_the_targets_scheme(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 3000)
    with cli_env.client() as client:
        client.put_object("k", b"v1")
    assert run("upload", str(path), target(cli_env, "k"), "--forbid-overwrite") == cli.EXIT_SERVICE
    err = capsys.readouterr().err
    assert f"{target(cli_env, 'k')} already exists and --forbid-overwrite is set" in err
    assert "forbid_overwrite" not in err


@pytest.mark.parametrize("command", ["upload -r", "sync"])
def test_forbid_overwrite_of_a_directory_names_the_flag_and_the_scheme_and_its_dry_run_agrees(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_bytes(b"new a")
    (tree / "b.txt").write_bytes(b"b")
    with cli_env.client() as client:
        client.put_object("d/a.txt", b"old a")
    seen = len(cli_env.log_entries())
    argv = [*command.split(), str(tree), target(cli_env, "d/"), "--forbid-overwrite"]
    # The dry run says what the real run does: a.txt refused (it exists), b.txt uploaded; nothing written.
    assert run(*argv, "--dry-run") == cli.EXIT_PARTIAL
    planned = capsys.readouterr()
    assert writes_since(cli_env, seen) == []
    assert run(*argv) == cli.EXIT_PARTIAL
    real = capsys.readouterr()
    for err in (planned.err, real.err):
        assert f"{target(cli_env, 'd/a.txt')} already exists and --forbid-overwrite is set" in err, err
        assert "and forbid_overwrite" not in err and "b.txt" not in err
    assert f"would upload {tree / 'b.txt'} -> {target(cli_env, 'd/b.txt')}" in planned.out
    with cli_env.client() as client:
        assert stored(client, "d/a.txt") == b"old a" and stored(client, "d/b.txt") == b"b"


def test_resume_no_resume_and_rm_without_terminal_name_the_flag(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_file(tmp_path, 3000)
    assert run("resume", str(path), target(cli_env, "k"), "--no-resume") == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "error: --no-resume: " in err and "upload --no-resume" in err and "False" not in err
    with cli_env.client() as client:
        client.put_object("d/a", b"a")
        assert run("rm", "-r", target(cli_env, "d/")) == cli.EXIT_USAGE  # stdin is not a terminal under pytest
        err = capsys.readouterr().err
        assert "--yes" in err and "False" not in err and "no terminal" in err
        assert keys_of(client) == {"d/a"}


def test_sse_c_without_its_variable_says_it_is_not_set(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COS_SSE_C_KEY", raising=False)
    path, _ = make_file(tmp_path, 3000)
    assert run("upload", str(path), target(cli_env, "k"), "--sse", "c") == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "$COS_SSE_C_KEY: not set" in err and "redacted" not in err
    assert cli_env.log_entries() == []


def test_stat_of_a_missing_key_says_it_does_not_exist(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("stat", target(cli_env, "missing.bin")) == cli.EXIT_SERVICE
    err = capsys.readouterr().err
    assert f"{target(cli_env, 'missing.bin')} does not exist" in err and "404" not in err


def test_presign_expires_names_the_allowed_range(cli_env: LocalCOS, capsys: pytest.CaptureFixture[str]) -> None:
    # Both services: OSS's 7 days is the service's limit, and COS (which documents none) is bounded the same.
    assert run("presign", target(cli_env, "k"), "--expires", "604801") == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--expires 604801" in err and "1 to 604800 seconds (7 days)" in err and ">= 1" not in err
    assert run("presign", target(cli_env, "k"), "--expires", "604800") == cli.EXIT_OK
    assert run("presign", target(cli_env, "k"), "--expires", "0") == cli.EXIT_USAGE
    assert "--expires 0" in capsys.readouterr().err


def test_a_fifo_is_refused_with_advice_for_the_command_line(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # a writer, as a user's pipe has one: opening does not block
    try:
        assert run("upload", str(fifo), target(cli_env, "k")) == cli.EXIT_USAGE
    finally:
        os.close(writer)
    err = capsys.readouterr().err
    assert "cos-multipart upload - " in err and "file object" not in err
    assert f"cos-multipart upload - {target(cli_env, 'k')} < " in err  # the command to paste names the target
    assert cli_env.log_entries() == []


@pytest.fixture()
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs, filled to the last block (needs root and a mount namespace that allows it)."""
    where = tmp_path / "full"
    where.mkdir()
    mounted = subprocess.run(
        [shutil.which("mount") or "/bin/mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
        capture_output=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        with open(where / "filler", "wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 4096)
        yield where
    finally:
        subprocess.run([shutil.which("umount") or "/bin/umount", str(where)], check=False)


def test_a_full_checkpoint_disk_is_named_before_any_request_and_no_resume_needs_none(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], full_disk: Path
) -> None:
    path, data = make_file(tmp_path, 3 * 1024 * 1024)
    checkpoints = full_disk / "checkpoints"
    argv = ["upload", str(path), target(cli_env, "k"), *_SMALL_PARTS, "--checkpoint-dir", str(checkpoints)]
    assert run(*argv) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert f"the checkpoint directory {checkpoints} is full" in err and "--checkpoint-dir" in err
    assert "Errno" not in err
    assert cli_env.log_entries() == []  # refused before any request
    assert [p.name for p in checkpoints.iterdir()] == []  # no lock file left behind
    assert run(*argv, "--no-resume") == cli.EXIT_OK
    with cli_env.client() as client:
        assert stored(client, "k") == data
    assert [p.name for p in checkpoints.iterdir()] == []


def test_each_driver_uploads_without_resume_on_a_full_checkpoint_disk(
    local_cos: LocalCOS, tmp_path: Path, full_disk: Path, driver: Driver
) -> None:
    path, data = make_file(tmp_path, 3 * 1024 * 1024)
    store = CheckpointStore(full_disk / "checkpoints")
    with local_cos.client() as client:
        with pytest.raises(CosValidationError) as caught:  # with resume: refused before any request
            driver.uploader(client, store).upload(path, "k")
        assert caught.value.field == "checkpoint_dir" and local_cos.log_entries() == []
        driver.uploader(client, store, resume=False).upload(path, "k")
        assert stored(client, "k") == data
    assert list(store.directory.iterdir()) == []  # no lock file, no checkpoint


def test_rm_r_sends_only_keys_of_the_scope_whatever_a_hostile_listing_answers(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hostile import Request, cli_against, object_listing, reply

    # Out of order, repeated and out of the prefix asked for: what a broken or hostile service might send.
    body = object_listing(("t", "t/a", "t/a", "tree/c", "tt"))
    deletes: List[bytes] = []

    def answer(request: Request, sock: Any) -> bool:
        if request.method == "GET":
            reply(sock, "200 OK", body, {"Content-Type": "application/xml"})
        elif request.method == "POST":
            deletes.append(request.body)
            reply(sock, "200 OK", b"<?xml version='1.0'?><DeleteResult></DeleteResult>", {"Content-Type": "application/xml"})
        else:
            reply(sock, "405 Method Not Allowed")
        return True

    with cli_against(answer, monkeypatch) as server:
        assert run("rm", "-r", "--yes", "cos://examplebucket-1250000000/t/") == cli.EXIT_OK
        assert len(deletes) == 1 and b"<Key>t/a</Key>" in deletes[0]
        assert deletes[0].count(b"<Key>") == 1  # not t, tree/c or tt; t/a once
        assert run("rm", "cos://examplebucket-1250000000/t/a/b") == cli.EXIT_SERVICE  # listed keys are not it
        assert not [r for r in server.requests if r.method == "DELETE"]
        assert "not found" in capsys.readouterr().err


def test_the_cluster_uploads_without_resume_on_a_full_checkpoint_disk(
    cluster: Any, cos: LocalCOS, tmp_path: Path, full_disk: Path
) -> None:
    pytest.importorskip("distributed")
    import cluster_helpers
    from cos_multipart import UploadConfig
    from cos_multipart.cluster import upload_file_on_cluster

    path, data = make_file(tmp_path, 3 * 1024 * 1024 + 5)
    store = CheckpointStore(full_disk / "checkpoints")
    config = UploadConfig(part_size=1024 * 1024, multipart_threshold=0)
    with pytest.raises(CosValidationError) as caught:  # with resume: refused before any request
        upload_file_on_cluster(cluster, cluster_helpers.target(cos), path, "k", upload_config=config, store=store)
    assert caught.value.field == "checkpoint_dir" and cos.log_entries() == []
    config = UploadConfig(part_size=1024 * 1024, multipart_threshold=0, resume=False)
    upload_file_on_cluster(cluster, cluster_helpers.target(cos), path, "k", upload_config=config, store=store)
    with cos.client() as client:
        assert stored(client, "k") == data
    assert list(store.directory.iterdir()) == []


def test_an_encryption_the_service_lacks_is_named_by_its_flag(
    cli_env: LocalCOS, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COS_SSE_C_KEY", "MDEyMzQ1Njc4OUFCQ0RFRjAxMjM0NTY3ODlBQkNERUY=")
    path, _ = make_file(tmp_path, 3000)
    code = run("upload", str(path), target(cli_env, "k"), "--sse", "c")
    if cli_env.dialect == "oss":  # OSS has no SSE-C
        assert code == cli.EXIT_USAGE
        err = capsys.readouterr().err
        assert "error: --sse 'c': " in err and "SseC" not in err and "(set)" not in err
        assert cli_env.log_entries() == []
    else:
        assert code == cli.EXIT_OK
