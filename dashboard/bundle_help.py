"""The bundle format as the Upload tab shows it, generated from `registry.validation.ENTITIES`.

Why generated: the dashboard runs on a server where the repository's docs/ folder is not a
link anyone can follow, and a hand-written copy would drift from what the importer accepts. The
full description (rejection rules, keys, import semantics) is docs/bundle-format.md.
"""

from __future__ import annotations

from registry.validation import ENTITIES

_KIND_LABELS = {
    "text": "text",
    "code": "code",
    "int": "whole number",
    "count": "count ≥ 0",
    "year": "year",
    "number": "number",
    "date": "date YYYY-MM-DD",
    "edss": "EDSS 0, 1.0 … 10",
    "bool": "true/false",
    "grade": "grade 1–5",
    "country": "ISO country code",
}


def bundle_format_markdown() -> str:
    """One line per bundle file: its columns (required ones marked *), types and code lists."""
    lines = [
        "A bundle is a .zip (or a set) of UTF-8 CSV files with a header row; any file may be left out, "
        "column order is free, an empty cell is a missing value. Required columns are marked \\*.",
        "",
    ]
    for spec in ENTITIES.values():
        cols = []
        for col in spec.columns:
            label = f"`{col.name}`" + ("\\*" if col.required else "")
            kind = _KIND_LABELS.get(col.kind, col.kind)
            if col.codes and col.kind == "code":
                kind = " ".join(f"`{c}`" for c in col.codes)
            if col.name not in ("centre_code", "patient_code"):
                label += f" ({kind})"
            cols.append(label)
        lines.append(f"- **{spec.file}**: " + ", ".join(cols))
    lines += ["", "The full description (keys, what is rejected, updates) is docs/bundle-format.md in the repository."]
    return "\n".join(lines)
