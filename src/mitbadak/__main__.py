import sys

from mitbadak.cli import main

sys.exit(main())
