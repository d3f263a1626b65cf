"""What the benchmark scripts share: a snapshot of the binary under test,
small file and statistics helpers, progress on stderr."""

import datetime
import hashlib
import os
import shutil
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def snapshot_binary(args, tmp):
    """Copies the binary into tmp, so a rebuild during the run cannot change what is measured."""
    digest = hashlib.sha256()
    with open(args.nightshift, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    args.binary_sha = digest.hexdigest()[:12]
    args.binary_mtime = datetime.datetime.fromtimestamp(os.path.getmtime(args.nightshift))
    copy = os.path.join(tmp, "bin", "nightshift")
    os.makedirs(os.path.dirname(copy))
    shutil.copy2(args.nightshift, copy)
    args.nightshift_source, args.nightshift = args.nightshift, copy
    try:
        args.revision = subprocess.run(
            ["git", "-C", REPO, "describe", "--always", "--dirty"],
            capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        args.revision = "unknown"


def write(path, text):
    """Writes text to path, creating its folder."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def median(values):
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def progress(text):
    """A progress line on stderr, so stdout stays the report."""
    print(text, file=sys.stderr, flush=True)
