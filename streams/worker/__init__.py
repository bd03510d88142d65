"""The worker: Faust wiring only (the app, the agents, the exactly-once cutter, retries,
fail-stop and shutdown); the math is in ``streams.algo``, the Redis layout in
``streams.state``, one micro-batch per path in ``streams.engines``."""
