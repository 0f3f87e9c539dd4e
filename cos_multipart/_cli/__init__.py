"""The cos-multipart command: argument parsing, subcommands, profiles, output for people and JSON."""
