"""The command-line reference, generated from the argparse parsers so it cannot drift.

``markdown(build_parser())`` walks every command and sub-command (``train lesions``,
``train vertebrae``, ``train levels``, ...) and writes each one's usage and every option
as Markdown. The documentation site builds ``docs/cli.md`` from it at build time
(``docs/hooks.py``); nobody writes that page by hand. ``python -m modicmap.cli.reference``
prints it.
"""

from __future__ import annotations

import argparse
import html
import re
from collections.abc import Iterator
from dataclasses import dataclass

#: argparse wraps usage lines at the terminal's width; the reference uses a fixed one.
_USAGE_WIDTH = 88


@dataclass(frozen=True)
class Command:
    """One parser in the tree: ``path`` is e.g. ``("train", "lesions")``."""

    path: tuple[str, ...]
    summary: str
    parser: argparse.ArgumentParser


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = (), summary: str = ""
) -> Iterator[Command]:
    """Every parser below ``parser`` (itself first), depth first, in declaration order."""
    yield Command(path, summary or parser.description or "", parser)
    sub = _subparsers(parser)
    if sub is None:
        return
    summaries = {a.dest: a.help or "" for a in sub._choices_actions}
    for name, child in sub.choices.items():
        yield from commands(child, (*path, name), summaries.get(name, ""))


def _expand_help(action: argparse.Action, prog: str) -> str:
    """The action's help with ``%(default)s`` and friends filled in, as ``--help`` shows it."""
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    params = {k: v for k, v in vars(action).items() if v is not argparse.SUPPRESS}
    params["prog"] = prog
    for key, value in list(params.items()):
        if hasattr(value, "__name__"):
            params[key] = value.__name__
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(c) for c in params["choices"])
    try:
        return action.help % params
    except (KeyError, TypeError, ValueError):
        return action.help


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, no bare pipes, no raw HTML.

    Code spans become ``<code>`` elements: a pipe escaped for the table inside a Markdown
    code span would show its backslash.
    """
    pieces = re.split(r"`+([^`]*)`+", " ".join(text.split()))
    for i, piece in enumerate(pieces):  # odd pieces were inside code spans
        pieces[i] = _code(piece) if i % 2 else html.escape(piece, quote=False)
    return "".join(pieces).replace("|", "&#124;")


def _code(text: str) -> str:
    return "<code>" + html.escape(text, quote=False).replace("|", "&#124;") + "</code>"


def _signature(action: argparse.Action, parser: argparse.ArgumentParser) -> str:
    """How the option is written: ``--out DIR``, ``--flip / --no-flip``, ``COHORT``."""
    formatter = parser._get_formatter()
    if not action.option_strings:
        return _code(formatter._metavar_formatter(action, action.dest)(1)[0])
    if action.nargs == 0:
        return " / ".join(_code(s) for s in action.option_strings)
    args = formatter._format_args(action, action.dest.upper())
    return " / ".join(_code(f"{s} {args}") for s in action.option_strings)


def _default(action: argparse.Action) -> str:
    if action.required or not action.option_strings or action.nargs == 0:
        return ""
    if action.default in (None, "", [], ()) or action.default is argparse.SUPPRESS:
        return ""
    if isinstance(action.default, list | tuple):
        return _code(" ".join(str(v) for v in action.default))
    return _code(str(action.default))


def _usage(parser: argparse.ArgumentParser) -> str:
    formatter = argparse.HelpFormatter(parser.prog, width=_USAGE_WIDTH)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _command_markdown(command: Command) -> list[str]:
    parser = command.parser
    title = " ".join(("modicmap", *command.path))
    lines = [f"## `{title}`", ""]
    about = parser.description or command.summary
    if about:
        lines += [_cell(about), ""]
    lines += ["```text", _usage(parser), "```", ""]
    sub = _subparsers(parser)
    if sub is not None:
        lines += ["Sub-commands:", ""]
        summaries = {a.dest: a.help or "" for a in sub._choices_actions}
        for name in sub.choices:
            anchor = "-".join(("modicmap", *command.path, name))
            lines.append(f"- [`{title} {name}`](#{anchor}): {_cell(summaries.get(name, ''))}")
        lines.append("")
    rows = [a for a in parser._actions if not isinstance(a, argparse._SubParsersAction)]
    if rows:
        lines += ["| option | meaning | default |", "|---|---|---|"]
        for action in rows:
            meaning = _expand_help(action, parser.prog)
            if action.help == argparse.SUPPRESS:
                meaning = "(not shown by `--help`)"
            if action.required and action.option_strings:
                meaning = f"**required.** {meaning}"
            lines.append(
                f"| {_signature(action, parser)} | {_cell(meaning)} | {_default(action)} |"
            )
        lines.append("")
    return lines


def markdown(parser: argparse.ArgumentParser) -> str:
    """The whole reference: one section per command, in the order ``--help`` lists them."""
    lines = [
        "# Command-line reference",
        "",
        "Generated from the program's own argument parsers when this site is built "
        "(`src/modicmap/cli/reference.py`), so it always matches `modicmap COMMAND --help`. "
        "Exit codes: 0 success; 2 bad input or usage (one line on stderr naming the file "
        "and the problem, nothing written); 1 anything else (`batch`: 1 when any study "
        "failed).",
        "",
    ]
    for command in commands(parser):
        lines += _command_markdown(command)
    return "\n".join(lines).rstrip() + "\n"


def option_strings(parser: argparse.ArgumentParser) -> Iterator[tuple[tuple[str, ...], str]]:
    """Every (command path, option string) pair of the tree, for checking the reference."""
    for command in commands(parser):
        for action in command.parser._actions:
            for option in action.option_strings:
                yield command.path, option


def main() -> None:
    from modicmap.cli.main import build_parser

    print(markdown(build_parser()), end="")


if __name__ == "__main__":
    main()
