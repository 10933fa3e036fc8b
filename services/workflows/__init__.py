"""Workflows that span resources (publishing a task with its model, deleting a model with everything
that points at it, ...). Handler modules call these and never import each other.

Each function takes what it needs explicitly (the caller's `Scope`, the `BlobStore`, the user id), never
a whole call: a workflow runs the same whichever endpoint starts it.
"""
