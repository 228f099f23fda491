"""The ``lenet-numba`` executable (and ``python -m lenet_numba``): choose the CPU target of
the shipped compiled code (lenet_numba/shipped_cache.py) before anything is compiled, which
importing the commands would do, then run the command line."""


def main():
    from lenet_numba import shipped_cache

    shipped_cache.choose_target()
    from .main import main as run_cli

    run_cli()


if __name__ == "__main__":
    main()
