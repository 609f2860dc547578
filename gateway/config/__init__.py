"""What operators write: the config models, ${VAR}/YAML parsing and file checks."""
