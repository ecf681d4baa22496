"""Files in and out of the registry: the CSV bundle (bundle, bundle_preview) and backups with the
trail that lets a restore be checked (backup, backup_trail)."""
