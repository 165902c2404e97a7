from .terminal.cli import main

raise SystemExit(main())
