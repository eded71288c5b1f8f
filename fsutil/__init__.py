"""Writing what a user keeps: atomic files, and output directories that appear whole or not at all, that only
replace what mesaprobe itself wrote, that never land on a command's inputs, and that two runs never write at once.

An output directory (a model, a run, a sweep) is built in a hidden sibling `.NAME.<pid>.<tag>.partial` and renamed
into place when complete. It carries a marker file, `.mesaprobe`, naming its kind and every file it was written with
(at any depth, with sizes and sha256): `--overwrite` replaces only such a directory, of the same kind, holding nothing
else, every file as written.
A lock file `.NAME.lock` (an OS lock: released when its process exits, however it exits) keeps a second run off the
same `--out`; whoever holds it removes the partial directories a killed run left behind, recognised exactly
(fsutil/leftovers.py).
"""
from mesaprobe.fsutil.atomic import (MARKER, atomic_write_json, atomic_write_text, manifest, read_marker,
                                     record_written, share, write_marker)
from mesaprobe.fsutil.checks import (REPORT_TAG, check_not_in_use, check_not_inside, check_output_file,
                                     check_replaceable, check_writable)
from mesaprobe.fsutil.leftovers import OutputLock, clean, is_leftover, remove_leftovers
from mesaprobe.fsutil.outputs import KINDS, output_dir, preflight

__all__ = ["MARKER", "KINDS", "REPORT_TAG", "atomic_write_json", "atomic_write_text", "manifest", "read_marker",
           "record_written", "share", "write_marker", "check_not_in_use", "check_not_inside", "check_output_file",
           "check_replaceable", "check_writable", "OutputLock", "clean", "is_leftover", "remove_leftovers",
           "output_dir", "preflight"]
