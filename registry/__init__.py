"""The AHSCT-in-MS outcomes registry: models, validation, services (the only write path),
bundle import/export, users and audit, the synthetic demo cohort and the `msreg` CLI."""
