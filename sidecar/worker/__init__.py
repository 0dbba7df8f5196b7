"""The worker: the claim loop and its runners, per-host load, the decision after an attempt, the batched recorder."""
