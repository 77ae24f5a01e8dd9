"""`python -m catdog predict PATH...`: classify photos with the trained model."""
import sys

from catdog.predict import main as predict_main

COMMANDS = {"predict": predict_main}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print("usage: python -m catdog predict PATH... [--csv FILE] [--model FILE]", file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
