"""`python -m appliance` runs the command-line interface."""

from appliance.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
