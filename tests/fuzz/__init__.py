"""Bad-input fuzzing: a corpus of hostile cases (corpus.py), the runner's checks (scripts/fuzz.py) and
Hypothesis property tests for the loaders, parsers and the output planner (test_properties.py)."""
