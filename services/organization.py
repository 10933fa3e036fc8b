"""organization.*: facts about the caller's company as a whole."""

from __future__ import annotations

from database import tag_lists_db
from services.call import Call
from services.handlers import handles


@handles("organization.get_tags")
def get_tags(call: Call) -> dict:
    data = call.data
    return tag_lists_db.distinct_tags(call.db, call.company, ("task", "model"), data.get("filter"),
                                      include_system=bool(data.get("include_system")))
