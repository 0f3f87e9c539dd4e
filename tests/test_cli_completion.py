"""``cos-multipart completion bash|zsh|fish`` (issue 24): the bash script is run in a real bash, which must
complete a command, a flag, a flag's choices, a profile name, a target's scheme and a file; the others are
generated from the same parser (zsh and fish are not installed here, so they are checked as text)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import List

import pytest

from cos_multipart._cli import main as cli

BASH = shutil.which("bash") or "bash"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert cli.main(["completion", shell]) == cli.EXIT_OK
    out, err = capsys.readouterr()
    assert err == ""
    return out


def _complete(script: Path, line: str, cwd: Path, config_home: Path) -> List[str]:
    """What bash offers for ``line`` (the cursor at its end), through the function ``complete -p`` names."""
    program = (
        f"source {script}\n"
        "spec=$(complete -p cos-multipart) || exit 3\n"
        'function=${spec#*-F }; function=${function%% *}\n'
        'COMP_LINE="$LINE"; COMP_POINT=${#COMP_LINE}\n'
        "read -r -a COMP_WORDS <<< \"$COMP_LINE\"; COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n"
        '"$function" cos-multipart "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"\n'
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "XDG_CONFIG_HOME": str(config_home), "LINE": line}
    done = subprocess.run([BASH, "--norc", "--noprofile", "-c", program], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout.splitlines()


def test_bash_completes_commands_flags_choices_profiles_targets_and_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "cos-multipart.bash"
    script.write_text(_script("bash", capsys))
    config_home = tmp_path / "config"
    (config_home / "cos-multipart").mkdir(parents=True)
    (config_home / "cos-multipart" / "config.toml").write_text('[default]\nregion = "x"\n\n[prod-1]\nregion = "y"\n')
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.bin").write_bytes(b"x")

    def offers(line: str) -> List[str]:
        return sorted(_complete(script, line, work, config_home))

    assert offers("cos-multipart up") == ["upload", "uploads"]
    assert offers("cos-multipart upload --part") == ["--part-size"]
    assert "--concurrency" in offers("cos-multipart upload --part-size 8MB --con")  # the value 8MB is not a command
    assert offers("cos-multipart presign --method ") == ["DELETE", "GET", "HEAD", "PUT"]
    assert offers("cos-multipart ls --profile ") == ["default", "prod-1"]
    assert offers("cos-multipart config im") == ["import"]
    assert offers("cos-multipart config import --with") == ["--with-secrets"]
    assert offers("cos-multipart completion ") == ["bash", "fish", "zsh"]
    assert offers("cos-multipart upload da") == ["data.bin"]
    assert offers("cos-multipart upload data.bin co") == ["cos://"]
    assert offers("cos-multipart upload data.bin cos:") == ["//"]  # bash completes after the ':' it splits at
    assert offers("cos-multipart stat --js") == ["--json"]


def test_every_flag_and_command_of_the_parser_is_in_each_script(capsys: pytest.CaptureFixture[str]) -> None:
    from cos_multipart._cli.completion import read

    root = read(cli.build_parser())
    scripts = {shell: _script(shell, capsys) for shell in ("bash", "zsh", "fish")}
    for command in root.actions:
        for shell, text in scripts.items():
            assert command.name in text, (shell, command.name)
        for flag in {f for c in [command, *command.actions] for f in c.flags if f.startswith("--")}:
            assert flag in scripts["bash"], (command.name, flag)
            assert f"-l {flag[2:]}" in scripts["fish"], (command.name, flag)
    assert "bashcompinit" in scripts["zsh"] and scripts["bash"] in scripts["zsh"]
    assert scripts["fish"].count("__cos_multipart_profiles") >= 2


def test_the_bash_script_parses(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "c.bash"
    script.write_text(_script("bash", capsys))
    done = subprocess.run([BASH, "-n", str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("argv", [["completion", "bash"], ["config", "path"], ["config", "list"], ["demo", "--size", "0"]])
def test_profile_is_refused_by_commands_that_read_none(argv: List[str], capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli.main([*argv, "--profile", "prod"]) == cli.EXIT_USAGE
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("cos-multipart: error: --profile 'prod': does not apply to ") and argv[0] in err
