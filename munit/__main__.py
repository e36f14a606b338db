import sys

from .threads import prefer_passive_wait

prefer_passive_wait()   # before anything imports torch

from .cli import main  # noqa: E402

sys.exit(main())
