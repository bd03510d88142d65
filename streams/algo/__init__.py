"""Pure math: no I/O, no Redis, no Kafka; checked against from-scratch references."""
