"""The README and docs/ document every command, endpoint setting, code, bundle column and export
column: a test fails when one is added without its line (the datasette habit)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import click
import pytest

from analytics.settings import EndpointSettings
from registry.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"
ENDPOINTS_DOC = (DOCS / "endpoints.md").read_text(encoding="utf-8")
BUNDLE_DOC = (DOCS / "bundle-format.md").read_text(encoding="utf-8")


def _commands(cmd: click.Command, prefix: tuple[str, ...] = ()) -> Iterator[str]:
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from _commands(sub, (*prefix, name))
    else:
        yield " ".join(prefix)


@pytest.mark.parametrize("command", sorted(_commands(main)))
def test_every_command_is_in_the_readme(command: str) -> None:
    assert f"msreg {command}" in README, f"`msreg {command}` is not documented in README.md"


def _setting_options() -> list[str]:
    options = {"--" + f.name.replace("_", "-") for f in fields(EndpointSettings)}
    survival = main.commands["survival"]
    offered = {opt for p in survival.params for opt in getattr(p, "opts", [])}
    return sorted(options & offered)


def test_the_settings_are_offered_as_options() -> None:
    assert {"--confirmation-days", "--mri-rebaseline-days"} <= set(_setting_options())


@pytest.mark.parametrize("option", _setting_options())
def test_every_endpoint_setting_option_is_in_the_readme(option: str) -> None:
    assert option in README, f"{option} is not documented in README.md"


def test_readme_opens_with_the_demo_and_test_commands() -> None:
    first_block = README.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block


# --- docs/: the definitions and the bundle format, in the repository ---------------------------


def _code_values() -> list[tuple[str, str]]:
    """(list name, value) for every code list of registry.codes (tuples of upper-case codes)."""
    from registry import codes

    out = []
    for name in dir(codes):
        value = getattr(codes, name)
        if name.isupper() and isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
            out += [(name, v) for v in value]
    return sorted(out)


def test_the_code_lists_are_found() -> None:
    names = {name for name, _ in _code_values()}
    assert {"SEX", "PHENOTYPE", "CONDITIONING", "AE_CATEGORY", "DEATH_CAUSE"} <= names


def _bundle_codes() -> set[str]:
    from registry.validation import ENTITIES

    return {c for spec in ENTITIES.values() for col in spec.columns for c in (col.codes or ())}


@pytest.mark.parametrize(("code_list", "code"), _code_values())
def test_every_code_is_documented(code_list: str, code: str) -> None:
    """A code a bundle cell can hold is in the bundle format; every other code (e.g. a data
    query's status, which no bundle carries) is in the data dictionary."""
    if code in _bundle_codes():
        assert f"`{code}`" in BUNDLE_DOC, f"code {code} ({code_list}) is not documented in docs/bundle-format.md"
    else:
        dictionary = (ROOT / "docs" / "data-dictionary.md").read_text(encoding="utf-8")
        assert code in dictionary, f"code {code} ({code_list}) is in no bundle and not in docs/data-dictionary.md"


def _bundle_columns() -> list[tuple[str, str]]:
    from registry.validation import ENTITIES

    return [(spec.file, col.name) for spec in ENTITIES.values() for col in spec.columns]


@pytest.mark.parametrize(("file", "column"), _bundle_columns())
def test_every_bundle_file_and_column_is_in_the_bundle_format(file: str, column: str) -> None:
    section = BUNDLE_DOC.split(f"### {file}", 1)
    assert len(section) == 2, f"{file} has no section in docs/bundle-format.md"
    assert column in section[1].split("\n### ", 1)[0], f"{file}: column {column} is not in its docs/bundle-format.md section"


def test_the_grades_and_edss_steps_are_in_the_bundle_format() -> None:
    from registry import codes

    assert all(f"`{g}`" in BUNDLE_DOC for g in codes.AE_GRADES)
    assert "`0`, `1.0`, `1.5`" in BUNDLE_DOC and "`9.5`, `10`" in BUNDLE_DOC and "no 0.5" in BUNDLE_DOC


@pytest.mark.parametrize("setting", [f.name for f in fields(EndpointSettings)])
def test_every_endpoint_setting_is_in_the_definitions(setting: str) -> None:
    default = getattr(EndpointSettings(), setting)
    row = next((line for line in ENDPOINTS_DOC.splitlines() if line.startswith(f"| `{setting}` |")), None)
    assert row is not None, f"setting {setting} has no row in docs/endpoints.md's settings table"
    shown = _default_as_documented(default)
    assert f"| {shown} |" in row, f"docs/endpoints.md gives {setting} a default other than {shown}"


def _default_as_documented(default: object) -> str:
    """A setting's default as docs/endpoints.md writes it: 182, 5.5, none, true, `endpoints`."""
    if default is None:
        return "none"
    if isinstance(default, bool):  # before numbers: a bool is an int
        return "true" if default else "false"
    if isinstance(default, str):  # a choice among code-like values, written as code
        return f"`{default}`"
    return f"{default:g}"


@pytest.mark.parametrize("option", _setting_options() + ["--min-group-size"])
def test_every_endpoint_setting_option_is_in_the_definitions(option: str) -> None:
    assert f"`{option}`" in ENDPOINTS_DOC


def test_the_definitions_version_that_exports_stamp_is_in_the_definitions() -> None:
    from analytics.settings import DEFINITIONS_VERSION

    assert DEFINITIONS_VERSION in ENDPOINTS_DOC


def _export_columns() -> list[str]:
    from analytics import survival_export

    return list(survival_export.SURVIVAL_EXPORT_COLUMNS)


@pytest.mark.parametrize("column", _export_columns())
def test_every_survival_export_column_is_in_the_definitions(column: str) -> None:
    assert f"`{column}`" in ENDPOINTS_DOC.split("## Analysis-ready survival export", 1)[1]


@pytest.mark.parametrize("endpoint", ["os", "rfs", "pfs", "cdi", "neda", "trm", "dmt_free", "tf_neda"])
def test_every_endpoint_is_defined(endpoint: str) -> None:
    assert f"| `{endpoint}` |" in ENDPOINTS_DOC


def test_every_endpoint_the_cli_offers_is_defined() -> None:
    survival = main.commands["survival"]
    endpoint = next(p for p in survival.params if p.name == "endpoint")
    missing = [e for e in endpoint.type.choices if f"| `{e}` |" not in ENDPOINTS_DOC]  # type: ignore[attr-defined]
    assert not missing, f"msreg survival offers {missing}, not defined in docs/endpoints.md"


@pytest.mark.parametrize("doc", ["endpoints.md", "bundle-format.md", "architecture.md"])
def test_the_readme_links_every_document(doc: str) -> None:
    assert f"(docs/{doc})" in README


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("path", _markdown_files(), ids=lambda p: p.name)
def test_relative_links_resolve(path: Path) -> None:
    import re

    for target in re.findall(r"\]\(([^)#]+)\)", path.read_text(encoding="utf-8")):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{path.name} links {target}, which does not exist"


def _repository_text_files() -> list[Path]:
    import os

    skip = {".venv", ".git", "node_modules", ".pytest_cache", "__pycache__", ".hypothesis"}
    suffixes = {".py", ".md", ".toml", ".ini", ".cfg", ".txt", ".yml", ".yaml", ""}
    out = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip and not d.endswith(".egg-info")]
        out += [Path(folder) / f for f in files if Path(f).suffix in suffixes]
    return [p for p in out if p.stat().st_size < 2_000_000]


def test_nothing_in_the_repository_points_outside_it() -> None:
    """The team's contract folder beside the repository is not part of it: no file may read or
    link it (a fresh clone has nothing beside it). `.ci/run` names it only to check that it is
    absent from the CI copy."""
    shared = "/".join(("..", "shared"))
    absolute = "/".join(("", "work", "shared"))
    offenders = [
        str(p.relative_to(ROOT)) for p in _repository_text_files()
        if p.relative_to(ROOT).parts[0] != ".ci"
        and (text := p.read_text(encoding="utf-8", errors="replace")) and (shared in text or absolute in text)
    ]
    assert not offenders, f"these files refer to a folder outside the repository: {offenders}"


@pytest.mark.parametrize("text", ["BUNDLE_FORMAT.md", "ENDPOINTS.md", "DESIGN.md"])
def test_what_users_read_points_to_docs_not_to_missing_files(text: str) -> None:
    from click.testing import CliRunner

    from dashboard.bundle_help import bundle_format_markdown

    pages = [(ROOT / "dashboard" / "app_pages" / name).read_text(encoding="utf-8") for name in ("entry.py", "start.py")]
    help_texts = [
        CliRunner().invoke(main, [*command.split(), "--help"]).output for command in sorted(_commands(main))
    ]
    for shown in [README, bundle_format_markdown(), *pages, *help_texts]:
        assert text not in shown


def test_the_survival_output_columns_are_documented_as_printed() -> None:
    """README, docs/endpoints.md and the CLI contract in docs/architecture.md list exactly the
    columns `msreg survival` prints, in order; the command's help names them too."""
    import re

    from analytics.estimates import PRINTED_COLUMNS

    printed = ", ".join(PRINTED_COLUMNS)
    architecture = (DOCS / "architecture.md").read_text(encoding="utf-8")
    flat = {name: re.sub(r"\s+", " ", text) for name, text in
            (("README.md", README), ("docs/endpoints.md", ENDPOINTS_DOC), ("docs/architecture.md", architecture))}
    for name, text in flat.items():
        assert f"`{printed}`" in text, f"{name} does not list the columns of msreg survival: {printed}"
    assert ",".join(PRINTED_COLUMNS) in README, "the README example shows the printed header"
    assert "Output contract" in architecture and "One data-version string everywhere" in architecture
    help_text = re.sub(r"\s+", " ", main.commands["survival"].help or "")
    assert all(column in help_text for column in PRINTED_COLUMNS)
