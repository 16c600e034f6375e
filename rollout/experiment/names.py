"""How a cube names a swept config field, and back.

CF and NetCDF names allow letters, digits and underscores only, so a design dimension or
coordinate is the field's dotted path with each dot written as a double underscore
(``adoption.steering`` -> ``adoption__steering``); its attribute ``config_field`` keeps the path.
Reports and tables show the path; xarray objects keep the stored name. ``designs.check_names``
refuses, before a sweep runs, a path the mapping could not give back.
"""

from __future__ import annotations

import re

#: A CF name: a letter, then letters, digits and underscores.
CF_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def stored_name(path: str) -> str:
    """A swept config field as a cube names its dimension or coordinate."""
    return path.replace(".", "__")


def config_field(name: str) -> str:
    """The config field of a cube's design dimension or coordinate (cubes written before
    names were made CF-valid hold the dotted path itself, which this leaves alone)."""
    return name.replace("__", ".")
