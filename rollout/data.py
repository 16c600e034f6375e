"""The province table: loading it and selecting provinces.

It depends on no configuration module: a config's ``[regions]`` choice (data file, provinces)
is all it reads, and ``config.py`` builds on it (a config is checked against the table there).

The project's own table ships inside the package (``rollout/bundled/provinces.csv``, with its
sources in ``SOURCES.md`` there), so an installed rollout runs a config from any directory: a
config names it ``bundled:provinces.csv``, which is also the default when ``data`` is omitted.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ConfigError, shorten

#: How a config names a table shipped with the package: ``bundled:<file name>``.
BUNDLED_PREFIX = "bundled:"

#: The table a config reads when it names none.
DEFAULT_DATA = f"{BUNDLED_PREFIX}provinces.csv"

_COLUMNS = ("code", "name", "population_2020", "coordinating_regions", "gdp_per_capita_cny",
            "municipality")

#: Limits on a province table's size, generous for any country: China has 31 provinces (34 with
#: Hong Kong, Macao and Taiwan) and 337 prefecture-level regions, at most 21 in one province, and
#: about 2,850 county-level divisions, at most about 180 in one province. A table past them is
#: damaged or not a province table, and would make runs that never end.
MAX_PROVINCES = 500
MAX_REGIONS_PER_PROVINCE = 1_000
MAX_REGIONS = 10_000

#: A table larger than this is refused unread (the bundled one is under 2 kB).
MAX_TABLE_BYTES = 1_000_000

#: Characters a table must not hold: C0 and C1 controls (NUL included) and DEL, except the
#: line ends, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x09\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")

_CONTROL_NAMES = {"\0": "NUL", "\t": "TAB", "\x0b": "VT", "\x0c": "FF", "\x1b": "ESC",
                  "\x7f": "DEL"}

#: The values of the yes/no column ``municipality`` (case and surrounding spaces aside).
_FLAGS = {"yes": True, "no": False}


@dataclass(frozen=True)
class Provinces:
    """Columns of the province table, in file order, restricted to the selected provinces."""

    code: np.ndarray          # int adcodes
    name: np.ndarray          # str
    population: np.ndarray    # float persons
    n_regions: np.ndarray     # int coordinating regions
    gdp_per_capita: np.ndarray
    municipality: np.ndarray  # bool
    path: str
    sha256: str

    def __len__(self) -> int:
        return len(self.code)


class RegionsChoice(Protocol):
    """What the table needs of a config's ``[regions]``: the data file and the provinces."""

    data: str
    provinces: list[str] | None


class SelectsRegions(Protocol):
    """A configuration with a ``[regions]`` table (``config.RolloutConfig``)."""

    @property
    def regions(self) -> RegionsChoice: ...


def bundled_tables() -> dict[str, Traversable]:
    """The province tables shipped with the package, by file name (``provinces.csv``)."""
    folder = resources.files("rollout") / "bundled"
    return {item.name: item for item in folder.iterdir()
            if item.name.endswith(".csv") and item.is_file()}


def bundled_names() -> str:
    """The bundled tables as a config names them, for messages: ``bundled:provinces.csv``."""
    return ", ".join(BUNDLED_PREFIX + name for name in sorted(bundled_tables()))


def is_bundled(data: str) -> bool:
    """Does ``data`` (``regions.data``) name a bundled table rather than a file?"""
    return data.startswith(BUNDLED_PREFIX)


def resolve_data_path(data: str, config_path: str | Path | None) -> Path | Traversable:
    """Find the data file ``data`` (``regions.data``): a bundled table (``bundled:NAME``), an
    absolute path, or a path relative to the config file (to the current directory for a
    configuration that has no file)."""
    source = str(config_path or "<config>")
    shown = shorten(data)
    tables = bundled_tables()
    if is_bundled(data):
        name = data.removeprefix(BUNDLED_PREFIX)
        if name in tables:
            return tables[name]
        raise ConfigError(source, "regions.data",
                          f"no bundled table {shorten(name)} (bundled: {bundled_names()})")
    given = Path(data)
    if not given.is_absolute() and config_path is not None:
        given = Path(config_path).resolve().parent / given
    try:
        if given.is_file():
            return given
    except OSError as err:          # a name too long for the file system, say
        raise ConfigError(source, "regions.data",
                          f"data file {shown}: {err.strerror or err}") from None
    hint = ""
    if given.name in tables:        # a config from before the table shipped with the package
        hint = (f" (the project's table ships with rollout: data = "
                f"\"{BUNDLED_PREFIX}{given.name}\")")
    raise ConfigError(source, "regions.data", f"data file {shown} not found{hint}")


def read_provinces(path: Path | Traversable, source: str = "<config>") -> Provinces:
    """Read and check the province CSV (all rows): UTF-8, every row complete, codes and names
    unique, populations, region counts and GDP finite and positive."""
    def bad(problem: str) -> ConfigError:
        return ConfigError(source, "regions.data", f"{path}: {problem}")

    try:
        raw = path.read_bytes()
    except OSError as err:
        raise bad(f"cannot read ({err.strerror or err})") from None
    if len(raw) > MAX_TABLE_BYTES:
        raise bad(f"is {len(raw):,} bytes; a province table is at most {MAX_TABLE_BYTES:,}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise bad(f"not UTF-8 text (byte {err.start})") from None
    _check_characters(text, bad)
    try:
        reader = csv.DictReader(text.splitlines(), strict=True)
        rows = list(reader)
    except csv.Error as err:
        raise bad(f"CSV error: {err}") from None
    if not rows or set(_COLUMNS) - set(rows[0]):
        raise bad(f"must have columns {', '.join(_COLUMNS)}")
    for i, row in enumerate(rows):
        if None in row or any(row[c] is None for c in _COLUMNS):
            raise bad(f"row {i + 2} has {'too many' if None in row else 'too few'} fields")
    if len(rows) > MAX_PROVINCES:
        raise bad(f"{len(rows):,} provinces; a table holds at most {MAX_PROVINCES:,} (China has "
                  "31; the bound leaves room for any country's first-level divisions)")
    _check_flags(rows, bad)
    try:
        table = Provinces(
            code=np.array([int(r["code"]) for r in rows]),
            name=np.array([r["name"].strip() for r in rows]),
            population=np.array([float(r["population_2020"]) for r in rows]),
            n_regions=np.array([int(r["coordinating_regions"]) for r in rows]),
            gdp_per_capita=np.array([float(r["gdp_per_capita_cny"]) for r in rows]),
            municipality=np.array([_FLAGS[r["municipality"].strip().lower()] for r in rows]),
            path=str(path),
            sha256=hashlib.sha256(raw).hexdigest(),
        )
    except ValueError as err:
        raise bad(f"bad value ({err})") from None
    for column, values in (("population_2020", table.population),
                           ("gdp_per_capita_cny", table.gdp_per_capita)):
        wrong = ~(np.isfinite(values) & (values > 0))
        if wrong.any():
            raise bad(f"{column} must be finite and positive (row {int(np.argmax(wrong)) + 2}: "
                      f"{values[wrong][0]!r})")
    if (table.n_regions < 1).any():
        raise bad(f"coordinating_regions must be at least 1 (row "
                  f"{int(np.argmax(table.n_regions < 1)) + 2})")
    for column, values in (("code", table.code), ("name", np.char.lower(table.name))):
        unique, counts = np.unique(values, return_counts=True)
        if (counts > 1).any():
            raise bad(f"{column} {unique[counts > 1][0]!r} appears more than once")
    if (np.char.str_len(table.name) == 0).any():
        raise bad("a name is empty")
    _check_size(table, bad)
    return table


def _check_characters(text: str, bad: Callable[[str], ConfigError]) -> None:
    """Refuse control characters (NUL included) and line or paragraph separators anywhere but
    as line ends: they are invisible in a name and in a message, end C strings early in the
    cube's readers, and ``splitlines`` would break a row at some of them."""
    found = _CONTROL.search(text)
    if found:
        char = found.group()
        line = text.count("\n", 0, found.start()) + 1
        name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "a control character")
        raise bad(f"line {line} holds U+{ord(char):04X} ({name}); a province table is plain "
                  "text, one row a line")


def _check_flags(rows: list[dict[str, str]], bad: Callable[[str], ConfigError]) -> None:
    """``municipality`` is yes or no: anything else used to count as no, silently."""
    for i, row in enumerate(rows):
        if row["municipality"].strip().lower() not in _FLAGS:
            raise bad(f"row {i + 2}: municipality must be yes or no, got "
                      f"{shorten(row['municipality'], 40)}")


def _check_size(table: Provinces, bad: Callable[[str], ConfigError]) -> None:
    """Regions per province and in all: bounds far above any real table (see MAX_REGIONS)."""
    if (table.n_regions > MAX_REGIONS_PER_PROVINCE).any():
        i = int(np.argmax(table.n_regions > MAX_REGIONS_PER_PROVINCE))
        raise bad(f"row {i + 2}: {int(table.n_regions[i]):,} coordinating regions in one "
                  f"province; at most {MAX_REGIONS_PER_PROVINCE:,} (China's largest has 21 "
                  "prefecture-level regions, under 200 counties)")
    if int(table.n_regions.sum()) > MAX_REGIONS:
        raise bad(f"{int(table.n_regions.sum()):,} coordinating regions in all; at most "
                  f"{MAX_REGIONS:,} (China has 337 prefecture-level regions, about 2,850 "
                  "counties)")


def select_provinces(table: Provinces, wanted: list[str] | None, source: str) -> Provinces:
    """Keep the provinces named (by name, case-insensitive, or code) in ``wanted``."""
    if wanted is None:
        return table
    by_key = {n.lower(): i for i, n in enumerate(table.name)}
    by_key.update({str(c): i for i, c in enumerate(table.code)})
    keep = []
    for item in wanted:
        idx = by_key.get(str(item).strip().lower())
        if idx is None:
            raise ConfigError(source, "regions.provinces", f"unknown province {item!r}")
        if idx in keep:
            raise ConfigError(source, "regions.provinces", f"province {item!r} named twice")
        keep.append(idx)
    if not keep:
        raise ConfigError(source, "regions.provinces", "no province selected")
    idx = np.array(sorted(keep))
    return Provinces(code=table.code[idx], name=table.name[idx], population=table.population[idx],
                     n_regions=table.n_regions[idx], gdp_per_capita=table.gdp_per_capita[idx],
                     municipality=table.municipality[idx], path=table.path, sha256=table.sha256)


def load_provinces(config: SelectsRegions, config_path: str | Path | None = None) -> Provinces:
    """The selected provinces of a config."""
    source = str(config_path or "<config>")
    path = resolve_data_path(config.regions.data, config_path)
    return select_provinces(read_provinces(path, source), config.regions.provinces, source)

