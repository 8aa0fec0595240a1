"""``python -m dlm_cli``: the ``dlm`` command."""

from dlm_cli.app import main

if __name__ == "__main__":
    main()
