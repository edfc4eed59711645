"""Drills (演练), end to end: simulated alarms played through the real channels, marked as
drills all the way, and scored against what the scenario expected.

- `scenario`: a scenario file (TOML, ``drills/`` has examples) → a checked `Scenario` of
  `Inject`s, each knowing what its channel needs to be sent and what the center should make
  of it; ``python -m gateway.drills.scenario FILE`` tries one;
- `rules`: the rules such a file must follow (keys per channel, order, labels, surges);
- `values`: one value at a time (phone numbers, accounts, event codes, files, places, units);
- `locate`: the line of a key in the file, for the messages;
- `score`: a run's scorecard read from the store (its sends, their reports, the incidents'
  events), as the values of `figures`; `charts` draws it, `scorecard` prints it (HTML, PDF).
"""
