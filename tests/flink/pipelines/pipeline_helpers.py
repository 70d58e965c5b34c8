"""A module next to ``many_operators.py`` that it imports: its functions are pickled by reference, so Flink's
Python workers must import it (the mini-cluster through ``PYTHONPATH``, a remote cluster from the zip that
``--flink-address`` ships)."""


def user_of(event):
    return event["user"]
