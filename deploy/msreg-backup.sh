#!/bin/sh
# Nightly registry backup with retention (run by msreg-backup.service; docs/deploy.md).
#
#   MSREG_DATABASE_URL      the registry (from /etc/msreg/msreg.env)
#   MSREG_BACKUP_DIR        where backups go            (default /var/backups/msreg)
#   MSREG_BACKUP_KEEP_DAYS  delete backups older than   (default 35 days) ...
#   MSREG_BACKUP_KEEP_MIN   ... but always keep the newest N (default 7)
#   MSREG                   the msreg executable        (default /opt/msreg/venv/bin/msreg)
#
# Each backup is checked by `msreg doctor`'s backup check (its payload against its manifest)
# before older ones are deleted, so a failed night never eats into the good backups.
set -eu
umask 077

dir=${MSREG_BACKUP_DIR:-/var/backups/msreg}
keep_days=${MSREG_BACKUP_KEEP_DAYS:-35}
keep_min=${MSREG_BACKUP_KEEP_MIN:-7}
msreg=${MSREG:-/opt/msreg/venv/bin/msreg}

mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out="$dir/registry-$stamp.msreg-backup"

"$msreg" backup "$out"
chmod 600 "$out"

# The new file must verify (payload against manifest) before anything is deleted.
if ! "$msreg" doctor --check backup --backup-dir "$dir" --max-backup-age 1; then
    echo "msreg-backup: $out does not verify; keeping every older backup" >&2
    exit 1
fi

# Retention: newest first (the names sort by time); skip the newest $keep_min, then delete
# those older than $keep_days.
n=0
for f in $(ls -1 "$dir"/registry-*.msreg-backup 2>/dev/null | sort -r); do
    n=$((n + 1))
    [ "$n" -le "$keep_min" ] && continue
    if [ -n "$(find "$f" -maxdepth 0 -mtime +"$keep_days")" ]; then
        rm -f -- "$f"
        echo "msreg-backup: removed $f (older than $keep_days days)"
    fi
done
echo "msreg-backup: $out ($(du -h "$out" | cut -f1)), $(ls -1 "$dir"/registry-*.msreg-backup | wc -l) backups kept"
