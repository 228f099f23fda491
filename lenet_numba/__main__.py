"""``python -m lenet_numba`` runs the ``lenet-numba`` command."""

from lenet_numba_cli.launch import main

if __name__ == "__main__":
    main()
