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


def snapshot_file(path, tmp, name):
    """Copies an executable into tmp/NAME/nightshift: (copy, sha256 prefix, mtime)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    copy = os.path.join(tmp, name, "nightshift")
    os.makedirs(os.path.dirname(copy))
    shutil.copy2(path, copy)
    return copy, digest.hexdigest()[:12], datetime.datetime.fromtimestamp(os.path.getmtime(path))


def revision_of(folder):
    """`git describe --always --dirty` of the checkout that holds folder, or "unknown"."""
    try:
        return subprocess.run(
            ["git", "-C", folder, "describe", "--always",
             "--dirty"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def snapshot_binary(args, tmp):
    """Copies the binary into tmp, so a rebuild during the run cannot change what is measured.

    With args.nightshift_old (a baseline build, e.g. the commit before a change),
    that one is copied too: args.nightshift_old then names the copy and
    args.old_sha, args.old_mtime and args.old_revision describe it.
    """
    source = args.nightshift
    args.nightshift, args.binary_sha, args.binary_mtime = snapshot_file(source, tmp, "bin")
    args.nightshift_source = source
    args.revision = revision_of(REPO)
    old = getattr(args, "nightshift_old", None)
    if old:
        args.nightshift_old_source = old
        args.nightshift_old, args.old_sha, args.old_mtime = snapshot_file(old, tmp, "bin-old")
        args.old_revision = revision_of(os.path.dirname(os.path.abspath(old)))


def binaries_line(args):
    """The binaries under test, for a report's header."""
    text = (f"{args.nightshift_source} (sha256 {args.binary_sha}, built "
            f"{args.binary_mtime:%Y-%m-%d %H:%M}, tree {args.revision})")
    if getattr(args, "nightshift_old", None):
        text += (f"; old: {args.nightshift_old_source} (sha256 {args.old_sha}, built "
                 f"{args.old_mtime:%Y-%m-%d %H:%M}, tree {args.old_revision})")
    return text


def loadavg():
    """The 1, 5 and 15 minute load averages as one short string."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


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
