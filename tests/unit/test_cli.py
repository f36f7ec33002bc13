"""edge-admin's flags follow the conventions users and scripts rely on: `--version` prints and
exits, and a bad flag is one line on stderr with exit code 2, like a bad setting."""

from __future__ import annotations

import pytest

from entrypoints import cli


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
])
def test_a_bad_flag_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str],
                                                argv: tuple[str, ...]) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("edge-admin")


def test_port_and_log_level_accept_their_whole_range() -> None:
    args = cli.parser().parse_args(["serve", "--port", "0", "--log-level", "DEBUG"])
    assert (args.port, args.log_level) == (0, "debug")
    assert cli.parser().parse_args(["serve", "--port", "65535"]).port == 65535
