"""`python -m scripts.scaffold NAME ...` is `trainyard scaffold NAME ...`."""

import sys

from trainyard.cli import main

if __name__ == "__main__":
    main(["scaffold", *sys.argv[1:]])
