"""Command-line flags for the update parameters: one per keyword, named after it.

``muted`` becomes ``--muted`` / ``--no-muted``, ``hold_url`` becomes
``--hold-url URL``, and so on down the wire-name table in ``_params``, so a
parameter added there gets its flag here without another edit.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from .._params import UPDATE_PARAMETERS, Kind, Parameter

__all__ = ["add_update_flags", "update_params_from_flags"]

_METAVARS: Final = {Kind.URL: "URL", Kind.METHOD: "METHOD", Kind.SID: "SID"}
_DEST_PREFIX: Final = "update_"


def add_update_flags(parser: argparse.ArgumentParser, *, title: str, description: str) -> None:
    """Add ``--muted/--no-muted``, ``--hold-url URL``, ... to ``parser``."""
    group = parser.add_argument_group(title, description)
    for parameter in UPDATE_PARAMETERS.values():
        flag = "--" + parameter.keyword.replace("_", "-")
        dest = _DEST_PREFIX + parameter.keyword
        if parameter.kind is Kind.BOOL:
            group.add_argument(
                flag,
                dest=dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"send {parameter.wire_name}=true (or false)",
            )
        else:
            group.add_argument(
                flag, dest=dest, metavar=_METAVARS[parameter.kind], help=_help(parameter)
            )


def update_params_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The update keywords given as flags (the ones left out are not in the dict)."""
    params: dict[str, Any] = {}
    for keyword in UPDATE_PARAMETERS:
        value = getattr(args, _DEST_PREFIX + keyword, None)
        if value is not None:
            params[keyword] = value
    return params


def _help(parameter: Parameter) -> str:
    if parameter.kind is Kind.METHOD:
        return f"{parameter.wire_name}: GET or POST"
    if parameter.kind is Kind.SID:
        text = f"{parameter.wire_name}: a call sid"
    else:
        text = f"{parameter.wire_name}: an absolute http(s) URL"
    if parameter.empty_means:
        text += f" ('' = {parameter.empty_means})"
    return text
