"""One micro-batch per path, no Kafka: the worker hands in events and the offsets ending them."""
