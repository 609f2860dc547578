"""What a run found and how it is told: `results` holds every sample by scenario,
target and round; `verdicts` judges them against the targets (PASS, FAIL, SKIP,
INFO); `table` renders the one table, the per-core sizing and the verdicts."""
