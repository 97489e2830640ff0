"""The whole chain on this machine (`make dev` / `make dev-down`).

    python scripts/dev_chain.py up      # emulators, topics, push subscriptions, one server per function
    python scripts/dev_chain.py down    # stop every process `up` started

Settings: ``LR_DEV_*`` (common/dev/stack.py `DevSettings`, README settings table),
and the functions' own ``LR_WAREHOUSE_DIR`` / ``LR_RECIPES_DIR``.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import click  # noqa: E402

from common.dev import stack  # noqa: E402
from common.errors import LeadRecoveryError  # noqa: E402


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


@click.group()
def cli() -> None:
    """The chain of Cloud Functions on the emulators, on this machine."""


@cli.command()
@click.option("--recipe", default="demo", show_default=True, help="Recipe of the printed run.")
def up(recipe: str) -> None:
    """Start everything in the background and print how to start and follow a run."""
    dev = stack.DevSettings()
    try:
        state = stack.up(dev)
    except LeadRecoveryError as err:
        raise click.ClickException(str(err)) from err
    state_dir = dev.state_dir.resolve()
    for p in state.processes:
        click.echo(f"  {p.name:<20} pid {p.pid:<8} http://127.0.0.1:{p.port}/")
    lead_recovery = Path(sys.executable).with_name("lead-recovery")
    cli_name = _rel(lead_recovery) if lead_recovery.exists() else "lead-recovery"
    click.echo(
        f"\nThe chain is up: state {_rel(state_dir / stack.STATE_FILE)}, "
        f"logs {_rel(state_dir / 'logs')}/\n"
        f"\nStart a {recipe} run with the real gcloud:\n"
        f"{stack.publish_command(state, state_dir, recipe, dev.as_of)}\n"
        f"\nFollow it to its end:\n"
        f"source {shlex.quote(_rel(state_dir / stack.ENV_FILE))} && "
        f"{cli_name} runs wait --latest --recipe {recipe}\n"
        f"\nStop everything: make dev-down"
    )


@cli.command()
def down() -> None:
    """Stop every process `up` recorded, and wait until none is left."""
    dev = stack.DevSettings()
    try:
        stopped = stack.down(dev.state_dir)
    except LeadRecoveryError as err:
        raise click.ClickException(str(err)) from err
    for p in stopped:
        click.echo(f"stopped {p.name} (pid {p.pid}, port {p.port})")
    if not stopped:
        click.echo(f"nothing running ({os.path.join(_rel(dev.state_dir), stack.STATE_FILE)})")


if __name__ == "__main__":
    cli()
