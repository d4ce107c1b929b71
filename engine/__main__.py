from engine.launch import main

raise SystemExit(main())
