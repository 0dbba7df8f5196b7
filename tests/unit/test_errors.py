"""Every sidecar exception hangs from one root, and the CLI's exit code follows the branch."""

from __future__ import annotations

import inspect
import pkgutil
from collections.abc import Coroutine
from importlib import import_module

import pytest

import sidecar
from sidecar.api.errors import ApiError
from sidecar.cli import UsageError, main
from sidecar.delivery.egress import EgressRefused
from sidecar.delivery.signing import SigningSecretError
from sidecar.errors import ConfigError, SidecarError, exit_code_for
from sidecar.ops.embedded import EmbeddedError
from sidecar.ops.metrics import MetricsServerError
from sidecar.ops.migrate import MigrationError
from sidecar.settings import SettingsError
from sidecar.store import MissingFunctionError, RejectedError, StoreError, TransientStoreError
from sidecar.store.postgrest import ServerFailure


def _project_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for info in pkgutil.walk_packages(sidecar.__path__, "sidecar."):
        module = import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("sidecar."):
                found.add(value)
    return found


def test_every_exception_the_sidecar_defines_derives_from_the_root() -> None:
    strays = sorted(kind.__qualname__ for kind in _project_exceptions() if not issubclass(kind, SidecarError))
    assert strays == []


def test_secondary_bases_are_kept_for_callers_that_catch_them() -> None:
    assert issubclass(SettingsError, ValueError) and issubclass(SigningSecretError, ValueError)
    assert issubclass(MetricsServerError, OSError)
    assert issubclass(EmbeddedError, RuntimeError) and issubclass(MigrationError, RuntimeError)
    assert not issubclass(EgressRefused, OSError)  # a failed lookup is an OSError, a refusal is not


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (UsageError("--days must be at least 1"), 2),
        (SettingsError("WEBHOOK_CONCURRENCY: not a number"), 2),
        (ConfigError("bad"), 2),
        (StoreError("x"), 1),
        (TransientStoreError("x"), 1),
        (RejectedError("x"), 1),
        (MissingFunctionError("x"), 1),
        (ServerFailure(503, "{}"), 1),
        (MigrationError("x"), 1),
        (EmbeddedError("x"), 1),
        (MetricsServerError("port taken"), 1),
        (SigningSecretError("x"), 1),
        (EgressRefused("x"), 1),
        (ApiError(400, "x"), 1),
        (ConnectionRefusedError("refused"), 1),
        (KeyError("a bug"), None),
        (ValueError("a bug"), None),
    ],
)
def test_exit_code_for_each_branch(exc: BaseException, code: int | None) -> None:
    assert exit_code_for(exc) == code


def test_cli_bad_usage_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "not-a-uuid"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("webhook-sidecar: error: argument RULE_ID") and err.count("\n") == 1


def test_cli_lets_a_bug_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(work: Coroutine[object, object, int]) -> int:
        work.close()
        raise KeyError("a bug")

    monkeypatch.setattr("sidecar.cli._run_async", broken)
    monkeypatch.setattr("sidecar.cli.load_settings", lambda: None)
    with pytest.raises(KeyError):
        main(["queue"])
