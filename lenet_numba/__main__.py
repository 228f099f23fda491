"""``python -m lenet_numba`` runs the ``lenet-numba`` command."""

from lenet_numba_cli.main import main

if __name__ == "__main__":
    main()
