"""ipcmeter's CPython driver, started by ipcmeter as  PYTHON -I ipcmeter_driver.py SPEC_JSON.

The driver's code is ipcmeter_pydriver.py beside this file. This main script stays this small
because a child started by spawn runs the parent's main script again, from source
(multiprocessing runs it as __mp_main__, and Python keeps no bytecode for a main script),
while an imported module is read from its cached bytecode. With the whole driver as the main
script every spawned child compiled its 1,362 lines first (the compile alone took 58-73 ms
on the 2-vCPU test VM, `python3 -X importtime`), and py_spawn measured ipcmeter's own code
rather than the start method.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # -I leaves the script's directory out

import ipcmeter_pydriver  # noqa: E402

if __name__ == "__main__":
    ipcmeter_pydriver.main()
