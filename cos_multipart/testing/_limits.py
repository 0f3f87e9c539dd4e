"""The documented numbers the local server enforces: its own copy, each with its source.

The client keeps the same numbers in :mod:`cos_multipart._protocol.limits`; the server does not read them. It is an
independent oracle: a limit the client gets wrong (a typo, a misread page) must be refused here, not agreed
with. ``tests/testing/test_oracle_independence.py`` checks that no rule-checking module of the server
imports the client's; a test there also compares the two copies so a change on one side is a decision
taken on purpose, in both places.

Doc ids are Tencent Cloud COS API pages (``cloud.tencent.com/document/product/436/<id>``); ``[ref n]`` is a
section of ``shared/reference/cos-api.md``, ``[oss-api n]`` of ``oss-api.md``.
"""

from __future__ import annotations

KB = 1024
MB = 1024 * KB
GB = 1024 * MB

# --- Parts and objects -------------------------------------------------------------------------------

#: "partNumber ... Value range: 1-10000" (Upload Part, 436/7750) [ref 2.2, 3.1]
MIN_PART_NUMBER = 1
MAX_PART_NUMBER = 10_000
#: "every part is 1 MB - 5 GB, the last part may be smaller than 1 MB" (Upload Part, 436/7750); checked at
#: Complete: "a non-last part < 1 MB -> 400 EntityTooSmall" (436/7742) [ref 2.3, 3.1]
MIN_PART_SIZE = 1 * MB
MAX_PART_SIZE = 5 * GB
#: "a single PUT Object uploads at most 5 GB" (436/7749) [ref 3.1]
MAX_PUT_OBJECT_SIZE = 5 * GB
#: PUT Object - Copy: "The recommended object size is from 1 MB to 5 GB. For objects over 5 GB, refer to
#: Upload Part - Copy" (436/10881); PutObjectCopy "supports copying objects of at most 5 GiB; a larger source
#: returns EntityTooLarge" (436/139742)
MAX_COPY_OBJECT_SIZE = 5 * GB
#: OSS: "When you copy an object larger than 1 GB, you must use UploadPartCopy" (OSS UploadPartCopy, 31994)
OSS_MAX_COPY_OBJECT_SIZE = 1 * GB
#: OSS: "each part except the last part must be larger than or equal to 100 KB ... verified only when you
#: call CompleteMultipartUpload" (OSS UploadPart) [oss-api 3.2]
OSS_MIN_PART_SIZE = 100 * KB
#: List Parts "max-parts: default 1000, at most 1000" (436/7747) [ref 2.5]
MAX_LIST_PARTS = 1000
#: List Multipart Uploads "max-uploads: 1-1000, default 1000" (436/7736) [ref 2.6]
MAX_LIST_UPLOADS = 1000
#: GET Bucket (List Objects) "max-keys: default 1000, at most 1000" (436/7734)
MAX_LIST_KEYS = 1000
#: Delete Multiple Objects "at most 1000 objects per request" (436/8289)
MAX_DELETE_KEYS = 1000

# --- Object keys ---------------------------------------------------------------------------------------

#: "the object key is at most 850 bytes after UTF-8 encoding" (436/13324) [ref 7.3]
MAX_KEY_BYTES = 850
#: OSS: object names are 1-1023 bytes of UTF-8 [oss-api 4]
OSS_MAX_KEY_BYTES = 1023
#: "must not contain ASCII control characters 24, 25, 26, 27" (436/13324) [ref 7.3]
FORBIDDEN_KEY_CODEPOINTS = frozenset({24, 25, 26, 27})
#: "must not start with / or \\" (436/13324) [ref 7.3]
FORBIDDEN_KEY_PREFIXES = ("/", "\\")

# --- Request headers ----------------------------------------------------------------------------------

#: "x-cos-traffic-limit ... The speed limit setting range is 819200 - 838860800 (800Kb/s-800Mb/s). If
#: outside of this range, it will return a 400 error." (Upload Part, 436/7750; 436/40140) [ref 3.2]
MIN_TRAFFIC_LIMIT = 819_200
MAX_TRAFFIC_LIMIT = 838_860_800
#: "The size of a single header is limited to 2 KB. The total size of all x-cos-meta-[custom suffix]
#: headers must not exceed 4 KB." (Initiate Multipart Upload, 436/7746, updated 2026-06-05; seed 002),
#: measured as the UTF-8 bytes of name and value.
MAX_META_HEADER_BYTES = 2 * KB
MAX_META_TOTAL_BYTES = 4 * KB
#: "The custom suffix supports hyphens (-), digits, and English letters (a to z) ... Other characters,
#: including underscores (_), are not supported." (436/7746, seed 002)
META_SUFFIX_PATTERN = r"[A-Za-z0-9-]+"
#: "x-cos-tagging ... at most 10 tags" (436/7746, 436/35664) [ref 3.1]
MAX_TAGS = 10
#: "tag key 1-127, tag value 1-255 UTF-8 characters" (436/35664) [ref 3.1]
MAX_TAG_KEY_CHARS = 127
MAX_TAG_VALUE_CHARS = 255
#: "letters, digits, space, + - = . _ : / @" (436/35664) [ref 3.1]
TAG_CHARS_PATTERN = r"[\w +\-=._:/@]+"
#: Storage classes of 436/7746 and 436/7749 [ref 3.4], parsed case-insensitively.
STORAGE_CLASSES = frozenset(
    {
        "STANDARD",
        "STANDARD_IA",
        "ARCHIVE",
        "DEEP_ARCHIVE",
        "INTELLIGENT_TIERING",
        "MAZ_STANDARD",
        "MAZ_STANDARD_IA",
        "MAZ_INTELLIGENT_TIERING",
    }
)
#: Object ACLs "default, private, public-read, authenticated-read, bucket-owner-read,
#: bucket-owner-full-control" (436/30752) [ref 3.5]
OBJECT_ACLS = frozenset(
    {"default", "private", "public-read", "authenticated-read", "bucket-owner-read", "bucket-owner-full-control"}
)

# --- Encryption --------------------------------------------------------------------------------------

#: SSE-COS "x-cos-server-side-encryption: AES256"; SSE-KMS "cos/kms" (436/7728) [ref 6.1]
SSE_COS_ALGORITHM = "AES256"
SSE_KMS_ALGORITHM = "cos/kms"
#: SSE-C "customer-algorithm: AES256; customer-key: base64 of a 32-byte key" (436/7728) [ref 6.1]
SSE_C_ALGORITHM = "AES256"
SSE_C_KEY_BYTES = 32

# --- Signatures ----------------------------------------------------------------------------------------

#: "local time differs from server time by more than 15 minutes" (RequestTimeTooSkewed, 436/7730) [ref 1.9]
MAX_CLOCK_SKEW_SECONDS = 15 * 60
#: Validity of a URL made by ``LocalCOS.presign`` when none is asked for: an hour, as the Go SDK's
#: default [ref 1.9] (a convenience of the server's, not a rule it checks).
DEFAULT_PRESIGN_SECONDS = 3600
#: Longest validity ``LocalCOS.presign`` makes: 7 days, OSS V4's bound ("x-oss-expires 1..604800")
#: [oss-api 1.9], which the client applies to COS URLs too (COS documents none [ref 1.9]).
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
