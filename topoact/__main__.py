from topoact.cli import main

raise SystemExit(main())
