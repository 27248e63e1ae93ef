"""`python -m tests.bench [--quick]`: see run.py."""

import sys

from .run import main

sys.exit(main(sys.argv[1:]))
