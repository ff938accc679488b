"""The stderr tail scripts/mpi_rows.py records per launch: the last lines, in order, and
ipcmeter's own lines kept when OpenMPI's notices after them are longer than the tail."""

import os
import sys
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import mpi_rows  # noqa: E402

ABORT = "ipcmeter: the MPI peer (rank 1) stopped answering for 2 s; rank 0 ends the MPI job (MPI_Abort)"


def tail_of(lines):
    t = mpi_rows.StderrTail()
    for line in lines:
        t.add(line)
    return t.lines()


class StderrTail(unittest.TestCase):
    def test_short_stderr_is_kept_whole_in_order(self):
        lines = ["a", ABORT, "b"]
        self.assertEqual(tail_of(lines), lines)

    def test_own_line_pushed_out_by_notices_is_kept_before_them(self):
        notices = ["openmpi notice %d" % i for i in range(3 * mpi_rows.STDERR_TAIL_LINES)]
        got = tail_of(["early", ABORT] + notices)
        self.assertEqual(got, [ABORT] + notices[-mpi_rows.STDERR_TAIL_LINES:])

    def test_only_the_last_own_lines_are_kept(self):
        own = ["ipcmeter: warning %d" % i for i in range(2 * mpi_rows.OWN_TAIL_LINES)]
        notices = ["notice %d" % i for i in range(mpi_rows.STDERR_TAIL_LINES)]
        got = tail_of(own + notices)
        self.assertEqual(got, own[-mpi_rows.OWN_TAIL_LINES:] + notices)

    def test_repeated_identical_lines_are_all_kept(self):
        lines = ["same"] * 3
        self.assertEqual(tail_of(lines), lines)


if __name__ == "__main__":
    unittest.main()
