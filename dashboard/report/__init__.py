"""Reports a committee can file: dated, paginated PDFs built from the same numbers as the pages."""
