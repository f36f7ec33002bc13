"""edge-admin's and edge-agent's flags follow the conventions users and scripts rely on:
`--version` prints and exits, and a bad flag is one line on stderr with exit code 2, like a bad
setting. The agent finds the admin URL in its key blob when no flag names it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from application.agent_protocol import key_blob_server
from domain.enrollment_key import encode_blob
from entrypoints import cli
from entrypoints.agent import cli as agent_cli


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


def test_version_prints_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--version")
    assert code == 0
    assert out.startswith("edge-admin ") and len(out.strip().split()) == 2


@pytest.mark.parametrize("argv", [
    ("serve", "--port", "99999"), ("serve", "--port", "-1"), ("serve", "--port", "http"),
    ("serve", "--log-level", "nonsense"), ("nonsense",), (),
    # Positions out of range: these exited 1 after the run had announced itself.
    ("events", "replay", "--from", "0", "--dry-run"),
    ("events", "replay", "--from", "-5", "--dry-run"),
    ("events", "replay", "--from", "1", "--to", str(2**63), "--dry-run"),
])
def test_a_bad_flag_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str],
                                                argv: tuple[str, ...]) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("edge-admin")


@pytest.mark.parametrize(("argv", "said"), [
    (("--from", "10", "--to", "5", "--dry-run"), "--to (5) is before --from (10)"),
    (("--from", "1"), "nothing to do"),
    (("--from", "1", "--nats"), "--nats needs NATS_URL"),
])
def test_a_replay_refused_by_its_flags_is_not_announced_as_a_run(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        argv: tuple[str, ...], said: str) -> None:
    # These exited 1 after the run had announced itself (its id, "run it again with
    # --run-id") and opened the database, which a bad flag does not need.
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    assert cli.main(["events", "replay", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1 and err.startswith("edge-admin: ")
    assert said in err and "starting" not in err


def test_port_and_log_level_accept_their_whole_range() -> None:
    args = cli.parser().parse_args(["serve", "--port", "0", "--log-level", "DEBUG"])
    assert (args.port, args.log_level) == (0, "debug")
    assert cli.parser().parse_args(["serve", "--port", "65535"]).port == 65535


def test_agent_version_prints_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        agent_cli.main(["--version"])
    out, _ = capsys.readouterr()
    assert stopped.value.code == 0
    assert out.startswith("edge-agent ") and len(out.strip().split()) == 2


def test_agent_reads_the_admin_url_from_the_key_blob_the_admin_makes() -> None:
    blob = encode_blob("http://admin.example:8080", "token")
    assert key_blob_server(blob) == "http://admin.example:8080"
    assert key_blob_server(f"  {blob}\n") == "http://admin.example:8080"


@pytest.mark.parametrize("blob", ["", "k", "not base64 !", "bnVsbA", "W10", "eyJzZXJ2ZXIiOjF9",
                                  "\udcff", "eyJzZXJ2ZXIiOiIgIn0"])
def test_anything_else_names_no_admin_url(blob: str) -> None:
    # null, [], {"server": 1}, {"server": " "}, a lone surrogate: no URL, never an exception
    assert key_blob_server(blob) is None


def test_the_old_agent_version_flag_fails_loudly(capsys: pytest.CaptureFixture[str]) -> None:
    # `--version 1.2.3` used to set the reported version; printing and exiting 0 would leave a
    # unit file's agent silently not running.
    assert agent_cli.main(["--admin-url", "http://x", "--version", "1.2.3"]) == 2
    assert "--agent-version" in capsys.readouterr().err


def _under_a_file(tmp: Path) -> Path:
    (tmp / "a-file").write_text("x")
    return tmp / "a-file" / "edge.sqlite3"


def _not_a_database(tmp: Path) -> Path:
    (tmp / "x.db").write_bytes(b"not sqlite " * 100)
    return tmp / "x.db"


@pytest.mark.parametrize(("make", "says"), [
    (_under_a_file, "cannot make the folder"),
    (_not_a_database, "file is not a database"),
    (lambda tmp: tmp, "unable to open database file"),  # a folder, not a file
])
def test_an_sqlite_file_it_cannot_use_is_one_line_and_exit_1(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        make: Callable[[Path], Path], says: str) -> None:
    # Each was a traceback of 15 to 20 lines from os.makedirs, yoyo or sqlite3 (exit 1).
    path = make(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    assert cli.main(["migrate"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and says in err and str(path) in err, err


def test_serve_tells_a_bad_setting_before_it_imports_the_app() -> None:
    """A bad setting was told only after the whole app was imported: seconds on a busy
    machine, for a line that needs none of it."""
    probe = ("import sys\n"
             "from entrypoints.cli import main\n"
             "code = main(['serve', '--port', '1'])\n"
             "print(code, 'uvicorn' in sys.modules, 'entrypoints.app' in sys.modules)\n")
    env = {**os.environ, "HEARTBEAT_INTERVAL_SECONDS": "abc"}
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert "invalid setting: HEARTBEAT_INTERVAL_SECONDS" in done.stderr, done.stderr
    assert done.stdout.split() == ["2", "False", "False"], done.stdout


def test_an_sqlite_start_that_cannot_make_its_lock_beside_the_file_is_one_line_and_exit_1(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    # Processes starting on one file take turns through a lock file beside it, from their
    # first look at the file; one that cannot be made is the database's trouble, said so.
    path = tmp_path / "edge.sqlite3"
    (tmp_path / "edge.sqlite3.tables-lock").mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    assert cli.main(["projections", "status"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert f"cannot write {path}.tables-lock beside it" in err, err
