"""What the property-based tests share: hypothesis from Debian's python3-hypothesis (the
tests are skipped, saying how to install it, when it is missing) with its cache kept out of
the repository, and where the repository, its scripts and the binary are."""
import os
import tempfile
import unittest

try:
    from hypothesis import HealthCheck, assume, given, settings  # noqa: F401 (re-exported)
    from hypothesis import strategies as st  # noqa: F401
except ImportError:  # pragma: no cover - python3-hypothesis missing
    raise unittest.SkipTest("python3-hypothesis is not installed (Debian package "
                            "python3-hypothesis; scripts/setup.sh installs it)")
# Hypothesis keeps a cache (.hypothesis/) in the working directory: not in the repository.
from hypothesis.configuration import set_hypothesis_home_dir  # noqa: E402
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "ipcmeter-hypothesis-%d" % os.getuid()))

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.abspath(os.environ.get("IPCMETER_BIN") or os.path.join(REPO, "build", "ipcmeter"))
