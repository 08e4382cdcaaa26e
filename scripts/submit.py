"""`python scripts/submit.py JOB_YML ...` is `trainyard submit JOB_YML ...`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trainyard.cli import main  # noqa: E402

if __name__ == "__main__":
    main(["submit", *sys.argv[1:]])
