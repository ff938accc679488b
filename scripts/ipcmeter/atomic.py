"""Writing outputs whole or not at all: a reader never sees half a file, and a failure
leaves what was there before."""

from __future__ import annotations

import json
import os
import shutil
import tempfile


def write_files(outputs: dict) -> None:
    """Write {path: text or bytes} so that either every file appears whole or none changes:
    each goes to a temporary file beside its target first, and only when all are written
    are they renamed into place. A temporary file left by a crash is named after its
    target: .NAME.tmp-XXXXXXXX."""
    done = []
    try:
        for path, data in outputs.items():
            target = os.path.abspath(path)
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.tmp-",
                                       dir=os.path.dirname(target))
            done.append(tmp)
            if isinstance(data, bytes):
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            else:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(data)
        for tmp, path in zip(done, outputs):
            os.replace(tmp, path)
    except BaseException:
        for tmp in done:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise


def write_json(path, doc) -> None:
    """One JSON document, indented by one space, written as write_files does."""
    write_files({path: json.dumps(doc, indent=1) + "\n"})


def output_path_problem(path, flag: str):
    """Why `path`, given with option `flag`, cannot take an output file (one line), or None.
    Checked before any work, so bad input writes nothing."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return "%s %s: is a directory" % (flag, path)
    if not os.path.isdir(directory):
        return "%s %s: directory %s does not exist" % (flag, path, directory)
    if not os.access(directory, os.W_OK):
        return "%s %s: directory %s is not writable" % (flag, path, directory)
    return None


def write_dir(out_dir: str, files: dict, stale=()) -> None:
    """Fill out_dir with {name: bytes}: everything is written to a temporary sibling
    directory first, which becomes out_dir when there is none yet; otherwise each file
    replaces its old copy, and the names in `stale` that this set lacks are removed (what an
    earlier run wrote and this one did not)."""
    out_dir = os.path.abspath(out_dir)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    try:
        for name, data in files.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        if not os.path.exists(out_dir):
            os.rename(tmp, out_dir)
            return
        for name in files:
            os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
        for name in stale:
            if name not in files:
                try:
                    os.remove(os.path.join(out_dir, name))
                except FileNotFoundError:
                    pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
