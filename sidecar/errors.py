"""The root of every exception the sidecar raises, and the exit code each one means.

Each exception lives beside the code that raises it; this module only owns the root,
the branch for bad usage or configuration, and `exit_code_for`:

    SidecarError                        anything the sidecar itself refuses or fails at
    ├── ConfigError                     bad usage or configuration: exit 2
    │   ├── cli.UsageError              bad arguments, a flag out of range
    │   └── settings.SettingsError      a setting missing or malformed (also ValueError)
    ├── store.StoreError                a database call failed
    │   ├── store.TransientStoreError   worth retrying as is (unreachable, 5xx, timeout)
    │   └── store.RejectedError         the database refused the call
    │       └── store.MissingFunctionError   an RPC is absent: migrations not applied
    ├── store.postgrest.ServerFailure   a PostgREST 5xx answer, before it is translated
    ├── migrate.MigrationError          a migration misnamed or failed (also RuntimeError)
    ├── embedded.EmbeddedError          the local cluster did not start (also RuntimeError)
    ├── metrics.MetricsServerError      /metrics could not listen (also OSError)
    ├── signing.SigningSecretError      a malformed signing secret (also ValueError)
    ├── egress.EgressRefused            a target that may not be dialled
    ├── http1.HTTPFault                 a target's answer was missing, cut or not HTTP (tree in http1)
    └── api.errors.ApiError             an HTTP status and message for an API caller

The secondary bases stay so that code catching ValueError, OSError or RuntimeError
keeps catching what it caught before.
"""

from __future__ import annotations

USAGE_EXIT = 2
FAILURE_EXIT = 1


class SidecarError(Exception):
    """Something the sidecar refused or could not do; the message says what and why."""


class ConfigError(SidecarError):
    """Bad usage or configuration: the command exits 2 with this one-line message."""


# The first matching row decides. OSError covers socket and file failures the sidecar
# reports in one line without wrapping them.
EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (ConfigError, USAGE_EXIT),
    (SidecarError, FAILURE_EXIT),
    (OSError, FAILURE_EXIT),
)


def exit_code_for(exc: BaseException) -> int | None:
    """The CLI's exit code for `exc`, or None for an exception that is a bug (let it raise)."""
    for kind, code in EXIT_CODES:
        if isinstance(exc, kind):
            return code
    return None
