import sys

from routegraph.cli.main import main

sys.exit(main())
