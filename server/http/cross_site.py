"""Changes signed in by the web session cookie alone, refused when another site could have sent them.

A browser sends the `clearml_token_basic` cookie with every request to this server, including those
another site's page makes it send: a link or redirect (GET, and SameSite=Lax lets the cookie ride on a
top-level navigation), a form (POST with a form or plain-text body), or a script's `fetch` in the same
"simple" shapes. None of those can carry a JSON body: a cross-origin request with `Content-Type:
application/json` (or any other method) must first pass a CORS preflight, which this server never grants.
So a change made with only the cookie must come as a POST (or another non-simple method) with a body type
no form can send, and, where the browser says where the request comes from (`Sec-Fetch-Site`), from this
site itself. The ClearML web app and our registry pages send every call so (a POST of JSON from the same
origin).

Reads stay open to the cookie in any shape: the web app opens a table's CSV export as a GET in a new tab,
and a link to a file is followed from anywhere; another site's page cannot read what such a navigation
returns. Calls with an Authorization header are not a browser's ambient credentials and are not checked.
"""

from __future__ import annotations

from services import errors

# what an HTML form or a simple fetch may send without a CORS preflight (the Fetch standard's safelist);
# an absent Content-Type is simple too
SIMPLE_BODY_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data", "text/plain", ""})
SIMPLE_METHODS = frozenset({"GET", "HEAD", "POST"})
SAME_SITE_ORIGINS = frozenset({"same-origin", "none"})  # "none": typed by the user, a bookmark


def refuse_forgeable_change(method: str, content_type: str | None, fetch_site: str | None) -> None:
    """Raises CrossSiteRequest for a change signed by the session cookie alone that another site could
    have made the browser send."""
    if fetch_site and fetch_site.strip().lower() not in SAME_SITE_ORIGINS:
        raise errors.CrossSiteRequest(sec_fetch_site=fetch_site[:40])
    if method.upper() not in SIMPLE_METHODS:
        return
    body_type = (content_type or "").split(";")[0].strip().lower()
    if method.upper() != "POST" or body_type in SIMPLE_BODY_TYPES:
        raise errors.CrossSiteRequest(method=method[:10], content_type=body_type[:80],
                                      advice="send a POST with a JSON body, or an Authorization header")
