"""The commands of ``python -m linop``: ``demo`` (:mod:`.demo`) and ``check`` (:mod:`.check`)."""
