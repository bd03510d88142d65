"""The local development stack: a real Kafka 4 broker (KRaft) and a real Redis, no Docker."""
