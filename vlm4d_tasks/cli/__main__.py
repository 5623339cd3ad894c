"""`python -m vlm4d_tasks.cli`: the `vlm4d` command."""

import sys

from vlm4d_tasks.cli import main

sys.exit(main())
