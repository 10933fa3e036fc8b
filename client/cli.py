"""`modelreg`: the command line (docs/cli.md). Every command answers in text, or with --json one JSON
document on stdout for scripts; exit codes are stable (EXIT_* below)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from client.api import Api, ApiFailure, NotAvailable
from client.changes import print_changes
from client.profiles import Profile, ProfileError, load_profile, save_profile
from client.records import export_records, import_records
from client.transfer import IntegrityFailure, download, upload

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_AUTH, EXIT_NOT_FOUND = 0, 1, 2, 3, 4
EXIT_INTEGRITY, EXIT_NOT_AVAILABLE, EXIT_UNREACHABLE, EXIT_INTERRUPTED = 5, 6, 7, 130
NOT_FOUND_SUBCODES = {101, 201, 401, 1101, 1111, 1121, 1311, 1401}  # ClearML's "invalid id" errors and ours
MODEL_FIELDS = ["id", "name", "uri", "ready", "framework", "project", "version", "created", "last_update"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="modelreg", description="modelreg model registry client")
    parser.add_argument("--profile", help="sign-in profile (default: MODELREG_PROFILE or 'default')")
    parser.add_argument("--server", help="server URL (overrides the profile)")
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    commands = parser.add_subparsers(dest="command", required=True)

    login = commands.add_parser("login", help="save a sign-in profile")
    login.add_argument("--access-key", required=True)
    login.add_argument("--secret-key", default=os.environ.get("MODELREG_SECRET_KEY"))

    models = commands.add_parser("models", help="list or show models").add_subparsers(dest="action", required=True)
    ls = models.add_parser("ls", help="list models")
    ls.add_argument("--name", help="name pattern (regular expression)")
    ls.add_argument("--project", help="project id")
    ls.add_argument("--limit", type=int, default=50)
    show = models.add_parser("show", help="one model")
    show.add_argument("model")

    up = commands.add_parser("upload", help="upload a file in parts (resumable), optionally as a model's weights "
                                             "or as a new version of a registered model")
    up.add_argument("file", type=Path)
    target = up.add_mutually_exclusive_group()
    target.add_argument("--model", help="id of an own model whose weights the file becomes")
    _registration_options(up, target)
    up.add_argument("--parallel", type=int, default=4, help="parts sent at once (default 4)")
    up.add_argument("--part-size", type=int, help="wished part size in bytes (the server keeps S3's limits)")
    up.add_argument("--through-server", action="store_true",
                    help="send every part through the server, even where it hands out object-store URLs")

    down = commands.add_parser("download", help="download a model's file and check its sha256")
    down.add_argument("model", nargs="?", help="the model's id (or give --name)")
    down.add_argument("--name", help="a registered model's name: its newest version, or the one --alias names")
    down.add_argument("--alias", help="with --name: the version this alias names")
    down.add_argument("--project", help="with --name: the project id")
    down.add_argument("--output", "-o", type=Path, help="target file (default: the model's file name)")

    versions = commands.add_parser("versions", help="the versions of a registered model")
    versions.add_argument("name")
    versions.add_argument("--project")

    alias = commands.add_parser("alias", help="point an alias at a model version (or remove it)")
    alias.add_argument("model")
    alias.add_argument("alias")
    alias.add_argument("--delete", action="store_true")

    records = commands.add_parser("records", help="records of a model").add_subparsers(dest="action", required=True)
    export = records.add_parser("export", help="every record of a model as NDJSON or CSV")
    export.add_argument("--model", required=True)
    export.add_argument("--format", choices=["ndjson", "csv"], default="ndjson")
    export.add_argument("--output", "-o", type=Path)
    ingest = records.add_parser("import", help="store the records of a JSON-lines file (records.add_many)")
    ingest.add_argument("file", help="JSON lines, one record each (records.add's fields); - reads stdin")
    ingest.add_argument("--model", required=True)
    ingest.add_argument("--dataset", help="the dataset (id or name) of the lines that name none")

    audit = commands.add_parser("audit", help="the audit trail: every matching change-log entry as a JSON line")
    audit.add_argument("--target", help="id of the changed object")
    audit.add_argument("--target-type", help="model, registered_model, task, project, record, ...")
    audit.add_argument("--user", help="id of the user who made the changes")
    audit.add_argument("--kind", action="append", dest="kinds", help="only this kind (repeat)")
    audit.add_argument("--from", dest="since", help="earliest time, ISO 8601 (inclusive)")
    audit.add_argument("--to", dest="until", help="latest time, ISO 8601 (inclusive)")
    audit.add_argument("--verify", action="store_true", help="check the log's hash chain instead (audit.verify)")

    feed = commands.add_parser("changes", help="the registry's change feed: one JSON line an entry")
    feed.add_argument("--cursor", help="the cursor to read after (default: the --cursor-file's, else from the start)")
    feed.add_argument("--cursor-file", type=Path, help="read the cursor from here and keep the last one here")
    feed.add_argument("--kind", action="append", dest="kinds", help="only this kind, e.g. model.created (repeat)")
    feed.add_argument("--follow", "-f", action="store_true", help="wait for more changes until interrupted")
    feed.add_argument("--limit", type=int, default=100, help="entries asked for per call (1-1000)")

    imp = commands.add_parser("import-url", help="have the server fetch a model's weights from a URL",
                              usage="modelreg import-url MODEL URL\n"
                                    "       modelreg import-url URL --name NAME [--project ID] [--tag TAG]...")
    imp.add_argument("model", nargs="?", help="id of an own model whose weights the URL's file becomes")
    imp.add_argument("url")
    _registration_options(imp, imp)

    promote = commands.add_parser(
        "promote", help="promotion requests: MODEL ALIAS [--comment] | review REQUEST --approve|--reject | ls",
        usage="modelreg promote MODEL ALIAS [--comment TEXT]\n"
              "       modelreg promote review REQUEST (--approve | --reject) [--comment TEXT]\n"
              "       modelreg promote ls [--state STATE] [--alias ALIAS] [--model MODEL] [--limit N]")
    promote.add_argument("words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _registration_options(parser: argparse.ArgumentParser, target) -> None:
    """--name (a new model of that name: its next version) and the new model's fields."""
    target.add_argument("--name", help="register the file as a new model of this name (its next version)")
    parser.add_argument("--project", help="with --name: the project id")
    parser.add_argument("--tag", action="append", dest="tags", help="with --name: a tag (repeat for more)")
    parser.add_argument("--framework", help="with --name: the framework (e.g. PyTorch)")
    parser.add_argument("--comment", help="with --name: a comment")
    parser.add_argument("--parent", help="with --name: id of the model this one derives from")


def _promote_parser(action: str) -> argparse.ArgumentParser:
    """The arguments of one `promote` form (argparse cannot mix a positional model with sub-commands)."""
    parser = _ArgumentParser(prog=f"modelreg promote{'' if action == 'create' else ' ' + action}")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    if action == "create":
        parser.add_argument("model", help="id of the version to promote")
        parser.add_argument("alias", help="the protected alias to move to it")
        parser.add_argument("--comment", "--reason", dest="comment", default="", help="why (the request's reason)")
    elif action == "review":
        parser.add_argument("request", help="id of the promotion request")
        decision = parser.add_mutually_exclusive_group(required=True)
        decision.add_argument("--approve", dest="decision", action="store_const", const="approve")
        decision.add_argument("--reject", dest="decision", action="store_const", const="reject")
        parser.add_argument("--comment")
    else:
        parser.add_argument("--state", help="open, approved, rejected, cancelled or stale")
        parser.add_argument("--alias")
        parser.add_argument("--model")
        parser.add_argument("--limit", type=int, default=50)
    return parser


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):  # a usage error of a promote form: exit code 2 like argparse's own
        raise _Usage(f"{self.prog}: {message}")


def _promote(api: Api, args) -> None:
    words = list(args.words)
    action = words.pop(0) if words and words[0] in ("review", "ls") else "create"
    options = _promote_parser(action).parse_args(words)
    args.json = args.json or options.json
    if action == "create":
        created = api.call("promotions.create", {"model": options.model, "alias": options.alias,
                                                 "reason": options.comment})
        _emit(args, created, f"{created['id']}  {created['state']}")
    elif action == "review":
        request = {"id": options.request, "decision": options.decision}
        if options.comment is not None:
            request["comment"] = options.comment
        reviewed = api.call("promotions.review", request)
        _emit(args, reviewed, f"{reviewed['id']}  {reviewed['state']}  "
                              f"({reviewed.get('approvals', 0)}/{reviewed.get('required_approvals', 0)} approvals)")
    else:
        query = {"page": 0, "page_size": options.limit}
        query.update({k: v for k, v in (("state", options.state), ("alias", options.alias),
                                        ("model", options.model)) if v})
        found = api.call("promotions.get_all", query)
        _emit(args, found, "\n".join(f"{p['id']}  {p['state']}  {p.get('name', '')}:{p['alias']} -> {p['model']}"
                                      for p in found.get("promotions", [])))


def _version(model: dict) -> str:
    return f"  v{model['version']}" if model.get("version") is not None else ""


def _import_url(api: Api, args) -> None:
    """The server fetches the URL's file into a model: an own one, or (--name) a new version made for it
    and deleted again when the import fails, so a refused URL leaves no version behind."""
    register = _registration(args)
    if bool(args.model) == bool(register):
        raise _Usage("import-url takes a model id or --name, one of the two")
    model, version = args.model, None
    if register:
        created = api.call("models.create", {**register, "uri": args.url})
        model, version = created["id"], created.get("version")
    try:
        imported = api.call("models.import_url", {"model": model, "url": args.url})
    except ApiFailure:
        if register:
            with contextlib.suppress(ApiFailure):  # the import's own error is the one to report
                api.call("models.delete", {"model": model, "force": True}, version="2.13")
        raise
    if register:
        imported = {**imported, "version": version}
    _emit(args, imported, f"{'v' + str(version) + '  ' if register else ''}{model}  {imported.get('uri', '')}  "
                          f"sha256 {imported.get('sha256', '')}")


def _audit(api: Api, args) -> int:
    """The company's audit trail as JSON lines, or (--verify) whether its hash chain holds: a break is an
    integrity failure (exit 5), naming the first entry that does not chain."""
    if args.verify:
        verified = api.call("audit.verify", {})
        broken = verified.get("first_break")
        _emit(args, verified, f"checked {verified['checked']} entries: "
                              + ("the chain holds" if verified["ok"] else f"broken at seq {broken['seq']}"))
        return EXIT_OK if verified["ok"] else EXIT_INTEGRITY
    query = {k: v for k, v in (("target", args.target), ("target_type", args.target_type), ("user", args.user),
                               ("kinds", args.kinds), ("from", args.since), ("to", args.until)) if v}
    lines = api.lines("audit.get_all", query)
    try:
        for line in lines:
            sys.stdout.write(line.decode() + "\n")
    finally:
        lines.close()
    return EXIT_OK


def _model_to_download(api: Api, args) -> dict:
    """The model `download` names: by id, or a registered model's version (the one --alias names, else
    the newest)."""
    if bool(args.model) == bool(args.name):
        raise _Usage("download takes a model id or --name, one of the two")
    if not args.name and (args.alias or args.project):
        raise _Usage("--alias and --project go with --name")
    if not args.name:
        return api.call("models.get_by_id", {"model": args.model}, version="2.13")["model"]
    registry = {"name": args.name, **({"project": args.project} if args.project else {})}
    if args.alias:
        return api.call("models.get_by_alias", {**registry, "alias": args.alias})["model"]
    return api.call("models.get_latest", registry)["model"]


def _registration(args) -> dict | None:
    """The models.create request of `--name` (upload, import-url), or None; the model fields need --name."""
    fields = {"project": args.project, "tags": args.tags, "framework": args.framework, "comment": args.comment,
              "parent": args.parent}
    if not args.name:
        given = [f"--{'tag' if name == 'tags' else name}" for name, value in fields.items() if value]
        if given:
            raise _Usage(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --name")
        return None
    return {"name": args.name, **{name: value for name, value in fields.items() if value}}


def _api(args) -> Api:
    profile = load_profile(args.profile)
    if args.server:
        profile = Profile(args.server, profile.access_key, profile.secret_key, profile.name)
    return Api(profile)


def _emit(args, data, text: str | None = None) -> None:
    if args.json:
        print(json.dumps(data, indent=None, default=str))
    else:
        print(text if text is not None else json.dumps(data, indent=2, default=str))


def _run(args) -> int:
    progress = not args.quiet and sys.stderr.isatty()
    if args.command == "login":
        server = args.server or os.environ.get("MODELREG_SERVER")
        if not server or not args.secret_key:
            raise _Usage("login needs --server and --secret-key (or MODELREG_SECRET_KEY)")
        profile = Profile(server, args.access_key, args.secret_key, args.profile or "default")
        Api(profile).call("users.get_current_user", {}, version="2.13")  # the key pair works
        path = save_profile(profile)
        _emit(args, {"profile": profile.name, "path": str(path)}, f"saved profile {profile.name} in {path}")
        return EXIT_OK
    api = _api(args)
    if args.command == "models" and args.action == "ls":
        request = {"page_size": args.limit, "order_by": ["-last_update"], "only_fields": MODEL_FIELDS}
        if args.name:
            request["name"] = args.name
        if args.project:
            request["project"] = [args.project]
        found = api.call("models.get_all", request, version="2.13")["models"]
        _emit(args, found, "\n".join(f"{m['id']}  {m.get('name', '')}{_version(m)}  {m.get('uri', '')}" for m in found))
    elif args.command == "models":
        _emit(args, api.call("models.get_by_id", {"model": args.model}, version="2.13")["model"])
    elif args.command == "upload":
        result = upload(api, args.file, model=args.model, register=_registration(args), parallel=args.parallel,
                        part_size=args.part_size, show_progress=progress, presigned=not args.through_server)
        version = f"v{result['version']}  {result['model']}  " if args.name else ""
        _emit(args, result, f"{version}{result['file']['uri']}  sha256 {result['file']['sha256']}")
    elif args.command == "download":
        model = _model_to_download(api, args)
        name = (model.get("file") or {}).get("filename") or Path(model.get("uri") or "weights").name or "weights"
        result = {"model": model["id"], "version": model.get("version"),
                  **download(api, model["id"], args.output or Path(name), progress)}
        chosen = f"{model['id']}{_version(model)}  " if args.name else ""
        _emit(args, result, f"{chosen}{result['path']}  sha256 {result['sha256']}"
                            + ("  verified" if result["verified"] else "  (the server announced no sha256)"))
    elif args.command == "versions":
        request = {"name": args.name, **({"project": args.project} if args.project else {})}
        found = api.call("models.get_versions", request)
        aliases: dict[str, list[str]] = {}
        for alias, model_id in sorted(found.get("aliases", {}).items()):
            aliases.setdefault(model_id, []).append(alias)
        _emit(args, found, "\n".join(f"v{m.get('version')}  {m['id']}  {m.get('uri', '')}"
                                      + (f"  [{', '.join(aliases[m['id']])}]" if m["id"] in aliases else "")
                                      for m in found["models"]))
    elif args.command == "alias" and args.delete:
        deleted = api.call("models.delete_alias", {"model": args.model, "alias": args.alias})
        _emit(args, deleted, f"{args.alias} {'removed' if deleted.get('deleted') else 'did not name this model'}")
    elif args.command == "alias":
        moved = api.call("models.set_alias", {"model": args.model, "alias": args.alias})
        _emit(args, moved, f"{args.alias} -> {moved['model']}{_version(moved)}"
                           f"  (was {moved.get('previous') or 'unset'})")
    elif args.command == "records":
        if args.action == "export":
            count = export_records(api, args.model, args.format, args.output)
            if args.output:
                print(json.dumps({"records": count, "path": str(args.output)}) if args.json else f"{count} records")
        else:
            result = import_records(api, args.model, args.file, args.dataset)
            _emit(args, result, f"stored {result['stored']} of {result['lines']} lines"
                                + "".join(f"\nline {r['line']}: {r['error']}" for r in result.get("refused", [])))
            if result.get("refused_count"):
                return EXIT_ERROR
    elif args.command == "audit":
        return _audit(api, args)
    elif args.command == "changes":
        cursor = print_changes(api, sys.stdout, cursor=args.cursor, kinds=args.kinds, follow=args.follow,
                               cursor_file=args.cursor_file, limit=args.limit)
        print(f"cursor {cursor}", file=sys.stderr)
    elif args.command == "import-url":
        _import_url(api, args)
    elif args.command == "promote":
        _promote(api, args)
    return EXIT_OK


class _Usage(Exception):
    pass


def exit_code(failure: ApiFailure) -> int:
    if isinstance(failure, IntegrityFailure) or failure.subcode == 1002:
        return EXIT_INTEGRITY
    if isinstance(failure, NotAvailable):
        return EXIT_NOT_AVAILABLE
    if failure.code in (401, 403):
        return EXIT_AUTH
    if failure.code == 404 or failure.subcode in NOT_FOUND_SUBCODES:
        return EXIT_NOT_FOUND
    if failure.code == 0 or failure.code >= 500:
        return EXIT_UNREACHABLE
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (_Usage, ProfileError) as exc:
        print(f"modelreg: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ApiFailure as exc:
        code = exit_code(exc)
        if args.json:
            print(json.dumps({"error": str(exc), "code": exc.code, "subcode": exc.subcode, "exit": code}))
        print(f"modelreg: {exc}", file=sys.stderr)
        return code
    except OSError as exc:
        print(f"modelreg: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
