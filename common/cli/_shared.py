"""What every command group of `lead-recovery` shares: settings, exit codes, one-line errors."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from common.errors import LeadRecoveryError, RecipeError

if TYPE_CHECKING:
    from common.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_INVALID = 2

NO_CREDENTIALS = (
    "no Google credentials for the gcp backend: run `gcloud auth application-default "
    "login`, set GOOGLE_APPLICATION_CREDENTIALS, or point FIRESTORE_EMULATOR_HOST (and "
    "STORAGE_EMULATOR_HOST) at the emulators"
)


def load_settings(backend: str | None = None, recipes_dir: Path | None = None) -> Settings:
    """The settings, with the command line's ``--backend``/``--recipes-dir`` over LR_*."""
    from common.settings import Settings

    overrides: dict[str, Any] = {}
    if backend:
        overrides["backend"] = backend
    if recipes_dir:
        overrides["recipes_dir"] = recipes_dir
    return Settings(**overrides)


def _credentials_error(err: BaseException) -> bool:
    """google.auth's DefaultCredentialsError, without importing google.auth here."""
    kind = type(err)
    return kind.__name__ == "DefaultCredentialsError" and kind.__module__.startswith("google")


def friendly(fn: F) -> F:
    """Turn our errors (and missing Google credentials) into one line on stderr."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LeadRecoveryError as err:
            click.secho(f"error: {err}", fg="red", err=True)
            code = (
                EXIT_INVALID
                if isinstance(err, RecipeError) or "settings" in str(err.where)
                else EXIT_FAILED
            )
            sys.exit(code)
        except Exception as err:
            if not _credentials_error(err):
                raise
            click.secho(f"error: {NO_CREDENTIALS}", fg="red", err=True)
            sys.exit(EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


recipes_dir_option = click.option(
    "--recipes-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Recipes folder (default: LR_RECIPES_DIR or recipes/).",
)

backend_option = click.option(
    "--backend", type=click.Choice(["local", "gcp"]), help="Override LR_BACKEND."
)
