"""The ``apiflag`` command line.

Subcommands live beside the stage they drive and are imported only when invoked, so
``apiflag parse`` does not pay for MLflow or Prefect. A user's mistake (an
:class:`~apiflag.errors.ApiflagError`) becomes one line on stderr and a non-zero exit;
usage errors exit 2.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from apiflag.errors import ApiflagError

# name -> "module:attribute" of a click command or group
COMMANDS: dict[str, str] = {
    "schemas": "apiflag.schemas_cli:schemas",
    "synth": "apiflag.synth.cli:synth",
    "parse": "apiflag.edifact.cli:parse",
    "conformance": "apiflag.edifact.conformance:conformance",
    "ingest": "apiflag.ingest:ingest_command",
    "casedb": "apiflag.casedb:casedb",
    "match": "apiflag.matching.cli:match",
    "rules": "apiflag.rules.cli:rules",
    "model": "apiflag.model.cli:model",
    "run": "apiflag.orchestration.cli:run",
    "backfill": "apiflag.orchestration.cli:backfill",
    "demo": "apiflag.orchestration.cli:demo",
    "serve": "apiflag.orchestration.cli:serve",
    "queue": "apiflag.queue.cli:queue",
    "explain": "apiflag.queue.cli:explain",
    "rescreen": "apiflag.rescreen:rescreen_command",
    "audit": "apiflag.queue.cli:audit",
    "retention": "apiflag.privacy.cli:retention",
    "reidentify": "apiflag.privacy.cli:reidentify",
    "stats": "apiflag.privacy.cli:stats",
    "users": "apiflag.web.cli:users",
    "web": "apiflag.web.cli:web",
    "alerts": "apiflag.alerts:alerts_command",
    "assess": "apiflag.assess:assess_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        module = importlib.import_module(module_name)
        command = getattr(module, attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="apiflag")
def cli() -> None:
    """Nightly API/PNR screening against the trafficking-in-persons case database.

    The system ranks and explains; a person decides. See README.md.
    """


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI, turning user errors into one line on stderr and a non-zero exit.

    First makes everything this process creates private (umask ``077``) and warns, in one line
    on stderr, when an existing ``$APIFLAG_HOME`` is open to group or others.
    """
    from apiflag import config, filemodes

    filemodes.private_umask()
    filemodes.warn_if_exposed(config.home_path())
    try:
        return cli.main(args=argv, prog_name="apiflag", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.UsageError as exc:
        # one line, like every other user error: which command, what is wrong
        where = exc.ctx.command_path if exc.ctx is not None else "apiflag"
        click.echo(f"{where}: {exc.format_message()} (see {where} --help)", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"apiflag: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except ApiflagError as exc:
        click.echo(f"apiflag: {exc}", err=True)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
