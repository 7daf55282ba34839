"""``python -m pymcpi``: the command line."""

from .cli import main

raise SystemExit(main())
