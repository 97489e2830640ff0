"""`lead-recovery`: run recipes, manage recipes, inspect runs.

The top-level group lives here; each command group is a module of this package
(`run`, `recipes`, `runs`, `batches`, `clusters`, `cache`), and the groups of
other areas register from their own `cli.py` (eval, privacy, prune, leads/results).
"""

from __future__ import annotations

import os

import click

from common.cli.batches import batches
from common.cli.cache import cache
from common.cli.clusters import clusters
from common.cli.recipes import recipes
from common.cli.run import run
from common.cli.runs import runs
from common.evals.cli import eval_command
from common.privacy.cli import privacy_command
from common.prune import prune_command
from common.results.cli import register as register_results

VERBOSE_FLAGS = ("-v", "--verbose")


class _Main(click.Group):
    """The top-level group: ``-v``/``--verbose`` is accepted anywhere before ``--``
    (``lead-recovery runs list -v`` as well as ``lead-recovery -v runs list``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        cut = args.index("--") if "--" in args else len(args)
        verbose = [a for a in args[:cut] if a in VERBOSE_FLAGS]
        if verbose:
            args = ["--verbose", *[a for a in args[:cut] if a not in VERBOSE_FLAGS], *args[cut:]]
        return super().parse_args(ctx, args)


def no_color() -> bool:
    """NO_COLOR (https://no-color.org) set to anything but empty: no ANSI colours at all."""
    return bool(os.environ.get("NO_COLOR"))


@click.group(
    cls=_Main,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="lead-recovery")
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Log every step (INFO); default: warnings only. Also accepted after the subcommand.",
)
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Lead Recovery: find leads who showed interest and stalled, and say why.

    Settings come from LR_* environment variables or a .env file (LR_BACKEND,
    LR_PROJECT, LR_BUCKET, LR_RECIPES_DIR, ...); see the README. NO_COLOR=1
    turns colours off.
    """
    from common.logging import configure_logging

    if no_color():
        ctx.color = False  # every echo/secho below this context strips ANSI codes
    level = "INFO" if verbose else os.environ.get("LR_LOG_LEVEL", "WARNING")
    configure_logging(level, os.environ.get("LR_LOG_FORMAT", "text"))


for _command in (run, recipes, runs, batches, clusters, cache):
    main.add_command(_command)
main.add_command(eval_command)
main.add_command(privacy_command)
main.add_command(prune_command)  # lead-recovery prune: local retention
register_results(main)  # lead-recovery leads show, results kpis|views

__all__ = ["main"]
