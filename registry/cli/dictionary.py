"""`msreg dictionary`: the data dictionary (registry/dictionary.py) as Markdown or CSV.

`msreg dictionary --output docs/data-dictionary.md` regenerates the committed document; a test
fails when it is out of date.
"""

from __future__ import annotations

from pathlib import Path

import click


def register(main: click.Group, export: click.Group) -> None:
    @main.command("dictionary")
    @click.option("--format", "fmt", type=click.Choice(["md", "csv"]), default="md", show_default=True)
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                  help="Write to this file instead of standard output.")
    def dictionary_cmd(fmt: str, output: Path | None) -> None:
        """Every stored field and code with its label, type, unit, help text and exports."""
        from registry import dictionary

        text = dictionary.render_markdown() if fmt == "md" else dictionary.render_csv()
        if output is None:
            click.echo(text, nl=False)
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
