"""``python -m controller`` runs the deployctl command line."""

from controller.cli import main

main()
