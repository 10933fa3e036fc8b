"""The first data version: data written before versions were kept needs no change, only its stamp."""


def migrate(db) -> None:
    return None
