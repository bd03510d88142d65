"""Pure incremental math for user-based collaborative filtering: no I/O, no Redis, no Kafka.

Everything here is checked after every update against a from-scratch numpy reference.
"""
