"""The API's error vocabulary: ClearML result codes and subcodes.

Raise these anywhere below the dispatcher; the dispatcher turns them into envelopes in one place.
The message follows ClearML's shape: ``<Default msg>[ (<extra>)][: k1=v1, k2=(a, b)]``.
"""

from __future__ import annotations

from typing import Any


def _render_value(value: Any) -> str:
    if isinstance(value, (list, tuple, set)):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


class ApiError(Exception):
    code = 500
    subcode = 0
    default_msg = ""
    retry_after: int | None = None  # seconds, sent as Retry-After (503s: the condition is temporary)

    def __init__(self, extra: str | None = None, **kwargs: Any):
        self.extra = extra
        self.kwargs = kwargs
        super().__init__()

    def __str__(self) -> str:
        # written only when shown: lookups build their "not found" error on every call, found or not
        return self.message

    @property
    def message(self) -> str:
        msg = self.default_msg
        if self.extra:
            msg = f"{msg} ({self.extra})" if msg else self.extra
        if self.kwargs:
            msg += ": " + ", ".join(f"{k}={_render_value(v)}" for k, v in self.kwargs.items())
        return msg

    def as_dict(self) -> dict:
        """The per-item error of batch endpoints."""
        return {
            "codes": [self.code, self.subcode],
            "msg": self.message,
            "data": {k: list(v) if isinstance(v, (tuple, set)) else v for k, v in self.kwargs.items()},
        }


def _error(name: str, code: int, subcode: int, default_msg: str) -> type[ApiError]:
    return type(name, (ApiError,), {"code": code, "subcode": subcode, "default_msg": default_msg})


# 3xx
NotSupported = _error("NotSupported", 301, 1, "This endpoint is no longer supported for the requested api version")

# 400
BadRequest = _error("BadRequest", 400, 0, "")
InvalidVersion = _error("InvalidVersion", 400, 2, "Request path has invalid version")
InvalidId = _error("InvalidId", 400, 10, "Invalid object id")
MissingRequiredFields = _error("MissingRequiredFields", 400, 11, "Missing required fields")
ValidationError = _error("ValidationError", 400, 12, "Validation error")
InvalidFields = _error("InvalidFields", 400, 14, "Fields not defined for object")
FieldsValueError = _error("FieldsValueError", 400, 16, "Invalid value for fields")
InvalidRegex = _error("InvalidRegex", 400, 21, "Malformed regular expression")
# a listing page past server.max_reply_bytes (database/query/engine.py); the message says what to ask instead
ReplyTooLarge = _error("ReplyTooLarge", 400, 1201, "Reply too large")
InvalidTaskId = _error("InvalidTaskId", 400, 101, "Invalid task id")
InvalidTaskStatus = _error("InvalidTaskStatus", 400, 110, "Invalid task status")
MissingTaskFields = _error("MissingTaskFields", 400, 122, "Task is missing expected fields")
TaskCannotBeDeleted = _error("TaskCannotBeDeleted", 400, 123, "Task cannot be deleted")
InvalidModelId = _error("InvalidModelId", 400, 201, "Invalid model id")
ModelIsReady = _error("ModelIsReady", 400, 203, "Model is ready")
ModelInUse = _error("ModelInUse", 400, 205, "Model is used by tasks")
# ClearML's queue error: this server has no queues, so every queue named (or the default one) is unknown
InvalidQueueId = _error("InvalidQueueId", 400, 701, "Invalid queue id")
ModelCreatingTaskExists = _error("ModelCreatingTaskExists", 400, 206, "Task that created this model exists")
InvalidProjectId = _error("InvalidProjectId", 400, 401, "Invalid project id")
ProjectHasTasks = _error("ProjectHasTasks", 400, 402, "Project has associated tasks")
ProjectHasModels = _error("ProjectHasModels", 400, 405, "Project has associated models")
InvalidProjectName = _error("InvalidProjectName", 400, 407, "Invalid project name")
CannotUpdateProjectLocation = _error("CannotUpdateProjectLocation", 400, 408, "Cannot update project location")
ProjectPathExceedsMax = _error("ProjectPathExceedsMax", 400, 409, "Project path exceed the maximum allowed depth")
PublicProjectExists = _error("PublicProjectExists", 400, 414, "Project with this name already exists in public")
DataValidationError = _error("DataValidationError", 400, 800, "Data validation error")
ExpectedUniqueData = _error(
    "ExpectedUniqueData", 400, 801, "Value combination already exists (unique field already contains this value)"
)
FileNotStored = _error("FileNotStored", 400, 1001, "Model has no stored file")
FileIntegrityError = _error("FileIntegrityError", 400, 1002, "Uploaded file does not match its declared size or digest")
ImportRefused = _error("ImportRefused", 400, 1003, "URL import refused")  # models.import_url's guard
ImportFailed = _error("ImportFailed", 400, 1004, "URL import failed")  # the remote end did not deliver
# datasets.* and records.* (modelreg extensions)
InvalidDatasetId = _error("InvalidDatasetId", 400, 1101, "Invalid dataset id")
DatasetInUse = _error("DatasetInUse", 400, 1102, "Dataset has records")
ModelHasData = _error("ModelHasData", 400, 1103, "Model has records or datasets")
# governed promotion (services/promotion/): protected aliases, reviewed requests, immutable versions
AliasProtected = _error("AliasProtected", 400, 1301, "Alias is protected")
VersionImmutable = _error("VersionImmutable", 400, 1302, "Published version is immutable")
VersionPinned = _error("VersionPinned", 400, 1303, "Version is or was named by a protected alias")
InvalidPromotionId = _error("InvalidPromotionId", 400, 1311, "Invalid promotion request id")
PromotionNotOpen = _error("PromotionNotOpen", 400, 1312, "Promotion request is not open")
PromotionRefused = _error("PromotionRefused", 400, 1313, "Promotion precondition failed")
NotAReviewer = _error("NotAReviewer", 403, 1314, "Not an allowed reviewer of this alias")
NotTheRequester = _error("NotTheRequester", 403, 1315, "Only the requester may cancel a promotion request")
InvalidRecordId = _error("InvalidRecordId", 400, 1111, "Invalid record id")
RecordFileNotStored = _error("RecordFileNotStored", 400, 1112, "Record has no stored file")
# webhooks.* (modelreg extension)
InvalidWebhookId = _error("InvalidWebhookId", 400, 1121, "Invalid webhook id")
InvalidDeliveryId = _error("InvalidDeliveryId", 400, 1122, "Invalid delivery id")
# resumable uploads (services/uploads/)
InvalidUploadId = _error("InvalidUploadId", 400, 1401, "Invalid upload id")
UploadNotOpen = _error("UploadNotOpen", 400, 1402, "Upload session is not open")
UploadIncomplete = _error("UploadIncomplete", 400, 1403, "Upload session is missing parts")
UploadBusy = _error("UploadBusy", 400, 1404, "Upload session is being completed by another call")

# 401 / 403
BadAuthType = _error("BadAuthType", 401, 10, "Bad authentication type")
NoCredentials = _error("NoCredentials", 401, 20, "Missing credentials")
BadCredentials = _error("BadCredentials", 401, 21, "Bad credentials")
InvalidCredentials = _error("InvalidCredentials", 401, 22, "Invalid user credentials")
InvalidToken = _error("InvalidToken", 401, 30, "Invalid token")
RoleNotAllowed = _error("RoleNotAllowed", 403, 20, "Role not allowed")
NoWritePermission = _error("NoWritePermission", 403, 21, "No write permission")
CrossSiteRequest = _error("CrossSiteRequest", 403, 22, "Refused: the session cookie alone cannot sign a change "
                          "that another site could have sent")

# 404 / 408 / 413 / 415
EndpointNotFound = _error("EndpointNotFound", 404, 0, "")
FileNotFound = _error("FileNotFound", 404, 1, "File not found")
RequestTimeout = _error("RequestTimeout", 408, 0, "The client stopped sending the request")
RequestTooLarge = _error("RequestTooLarge", 413, 0, "Request body too large")
UnsupportedEncoding = _error("UnsupportedEncoding", 415, 0, "Unsupported content encoding")

# 500 / 503. The 503s are temporary and say when to come back (Retry-After); note that the ClearML SDK
# retries 503 on its own, for some calls without end, which is what a client should do while they last.
InternalError = _error("InternalError", 500, 0, "Internal server error")
ServiceBusy = _error("ServiceBusy", 503, 0, "Server busy, retry later")
DatabaseUnavailable = _error("DatabaseUnavailable", 503, 1, "Database is unavailable")
StorageUnavailable = _error("StorageUnavailable", 503, 2, "Object storage is unavailable")
for _temporary in (ServiceBusy, DatabaseUnavailable, StorageUnavailable):
    _temporary.retry_after = 5

# users (ClearML's 400/1000 range)
InvalidUserId = _error("InvalidUserId", 400, 1000, "Invalid user id")

# the change log (services/changes): a feed cursor the retention sweep has passed
CursorExpired = _error("CursorExpired", 400, 1131, "Cursor is older than the change log's retention")
