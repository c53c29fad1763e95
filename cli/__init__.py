"""The ecgmtl command line (typer). Commands only parse arguments and call the library.

Before numpy is first imported, its OpenBLAS is held to one thread (unless OPENBLAS_NUM_THREADS is set): the
matrix products prediction makes (resampling, windows) are small, and OpenBLAS's idle threads spin on the
cores that onnxruntime and the Python side need. Measured on 2 cores (bench/bench.py): the 24-h Holter with
its AF part 20.4 -> 17.5 s wall and 34 -> 25 CPU-s, without it 16.4 -> 15.4 s.
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
