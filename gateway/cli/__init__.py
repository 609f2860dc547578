"""The command line: commands, start-up, serving, workers, the demo."""
