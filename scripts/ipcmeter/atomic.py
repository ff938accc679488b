"""Writing outputs whole or not at all: a reader never sees half a file, and a failure
leaves what was there before."""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile


def _umask() -> int:
    """The process's umask (reading it means setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_files(outputs: dict) -> None:
    """Write {path: text or bytes} so that either every file appears whole or none changes:
    each goes to a temporary file beside its target first, and only when all are written
    are they renamed into place. A temporary file left by a crash is named after its
    target: .NAME.tmp-XXXXXXXX.

    mkstemp makes the temporary name random and opens it O_CREAT|O_EXCL (so a symlink or
    file someone put in a shared directory such as /tmp is never followed or reused) with
    mode 0600; the finished file gets 0666 & ~umask, as any output file would. os.replace
    replaces a symlink at the target itself, never the file it points to."""
    mode = 0o666 & ~_umask()
    done = []
    try:
        for path, data in outputs.items():
            target = os.path.abspath(path)
            fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.tmp-",
                                       dir=os.path.dirname(target))
            done.append(tmp)
            os.fchmod(fd, mode)
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


def json_text(doc) -> str:
    """How ipcmeter's scripts write a JSON document: indented by one space."""
    return json.dumps(doc, indent=1) + "\n"


def write_json(path, doc) -> None:
    """One JSON document (json_text), written as write_files does."""
    write_files({path: json_text(doc)})


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


def foreign_dir_problem(path):
    """Why the existing directory `path` must not receive our files, or None: a symlink made
    by another user (in a shared directory such as /tmp, one planted to send the report, and
    the removal of stale files, into a directory of the victim's choosing), or a directory
    that belongs to another user (who could swap its contents as we write)."""
    me = os.geteuid()
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode) and st.st_uid not in (me, 0):
        return "%s is a symlink made by uid %d, another user; not writing through it" % (path, st.st_uid)
    try:
        target = os.stat(path)
    except FileNotFoundError:
        return "%s is a dangling symlink; not writing through it" % path
    if target.st_uid != me:
        return "%s belongs to uid %d, another user; not writing into it" % (path, target.st_uid)
    return None


def write_dir(out_dir: str, files: dict, stale=()) -> None:
    """Fill out_dir with {name: bytes}: everything is written to a temporary sibling
    directory first, which becomes out_dir when there is none yet; otherwise each file
    replaces its old copy, and the names in `stale` that this set lacks are removed (what an
    earlier run wrote and this one did not). An out_dir that is another user's, or a symlink
    of theirs, is refused (PermissionError) before anything is written."""
    out_dir = os.path.abspath(out_dir)
    problem = foreign_dir_problem(out_dir)
    if problem:
        raise PermissionError(errno.EPERM, problem)
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    # mkdtemp: a fresh 0700 directory under a random name, so nothing planted in a shared
    # parent is reused; it gets 0777 & ~umask only when it becomes out_dir.
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    try:
        for name, data in files.items():
            with open(os.path.join(tmp, name), "wb") as f:
                f.write(data)
        if not os.path.lexists(out_dir):
            os.chmod(tmp, 0o777 & ~_umask())
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
