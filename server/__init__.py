"""The HTTP edge: falcon app, dispatcher, schema registry, auth, envelope, files route."""
