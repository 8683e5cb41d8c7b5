from .cpu_threads import prefer_passive_waiting

prefer_passive_waiting()      # before anything loads PyTorch

from .cli import main  # noqa: E402

raise SystemExit(main())
