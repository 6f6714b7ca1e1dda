"""The ``dicomsec`` command line tool (placeholder until the app lands)."""


def main() -> int:
    return 0
