"""Record roll-ups may be packed from this version on (database/collections/record_rollup_packs.py): a
release before it reads only their nested hours and would leave packed days out of every chart, so the
data is stamped with this version and such a release refuses it. Nothing is rewritten here: documents
stay as they are and the charts' reads pack the settled days they find (up to a year of one series a
read), as they do for days that end after the upgrade."""


def migrate(db) -> None:
    return None
