"""Every number and enumeration the COS documentation sets, in one place, with its source.

Doc ids are Tencent Cloud COS API pages (``cloud.tencent.com/document/product/436/<id>``); the project's
compiled copy is ``shared/reference/cos-api.md`` (section numbers in brackets). Validators in
:mod:`cos_multipart._protocol.validation` and the local server in :mod:`cos_multipart.testing` read these values and
nothing else, so a limit changes in exactly one line.
"""

from __future__ import annotations

KB = 1024
MB = 1024 * KB
GB = 1024 * MB

# --- Parts and objects -------------------------------------------------------------------------------

#: "partNumber ... Value range: 1-10000" (Upload Part, 436/7750) [ref 2.2, 3.1]
MIN_PART_NUMBER = 1
MAX_PART_NUMBER = 10_000
#: "every part is 1 MB - 5 GB, the last part may be smaller than 1 MB" (Upload Part, 436/7750) [ref 3.1]
MIN_PART_SIZE = 1 * MB
#: OSS: "The size of a part ranges from 100 KB to 5 GB ... each part except the last part must be larger
#: than or equal to 100 KB ... verified only when you call CompleteMultipartUpload" (OSS UploadPart) [oss-api 3.2]
OSS_MIN_PART_SIZE = 100 * KB
#: The smallest minimum of any service: what dialect-neutral values (UploadConfig, checkpoints) can check.
ANY_MIN_PART_SIZE = min(MIN_PART_SIZE, OSS_MIN_PART_SIZE)
#: OSS: object names are 1-1023 bytes of UTF-8 [oss-api 4].
OSS_MAX_KEY_BYTES = 1023
MAX_PART_SIZE = 5 * GB
#: "a single PUT Object uploads at most 5 GB" (436/7749) [ref 3.1]
MAX_PUT_OBJECT_SIZE = 5 * GB
#: "a multipart object is at most 48.82 TB" = 10000 x 5 GB (436/13324) [ref 3.1]
MAX_OBJECT_SIZE = MAX_PART_NUMBER * MAX_PART_SIZE
#: List Parts "max-parts: default 1000, at most 1000" (436/7747) [ref 2.5]
MAX_LIST_PARTS = 1000
#: List Multipart Uploads "max-uploads: 1-1000, default 1000" (436/7736) [ref 2.6]
MAX_LIST_UPLOADS = 1000
#: Pages of List Parts one upload can need: at most 10,000 parts (436/7750) in pages of 1,000 (436/7747). A
#: server still truncated after that is looping (marker games), not listing.
MAX_LIST_PARTS_PAGES = -(-MAX_PART_NUMBER // MAX_LIST_PARTS)
#: Pages of List Multipart Uploads read before giving up: no documented limit bounds the uploads in progress
#: in a bucket, so this is this package's cap: 1,000 pages of 1,000 (a million uploads in progress, far past
#: any bucket that is looked after), which takes minutes to list, not forever.
MAX_LIST_UPLOADS_PAGES = 1000

#: Largest answer body read (XML: List Parts, List Multipart Uploads, Initiate, Complete, <Error>). The largest
#: legitimate one is a List Multipart Uploads page: 1,000 uploads (436/7736), each with a key of up to 850
#: bytes (436/13324) sent URL-encoded (encoding-type=url: up to 3 x 850 = 2,550 bytes) twice over at most
#: (Key, and NextKeyMarker once), plus ~600 bytes of UploadId, StorageClass, Initiator, Owner and Initiated:
#: about 3.2 MB. 8 MiB is that with a margin of 2.5x; a List Parts page of 1,000 parts is ~200 KB.
MAX_XML_ANSWER_BYTES = 8 * MB

#: GET Bucket (List Objects) "max-keys: default 1000, at most 1000" (436/7734)
MAX_LIST_KEYS = 1000
#: Delete Multiple Objects "at most 1000 objects per request" (436/8289)
MAX_DELETE_KEYS = 1000

# --- Object keys and buckets -----------------------------------------------------------------------

#: "the object key is at most 850 bytes after UTF-8 encoding" (436/13324) [ref 7.3]
MAX_KEY_BYTES = 850
#: The longest key of any service: what the dialect-neutral request builders check; the client's dialect
#: checks its own limit before signing.
ANY_MAX_KEY_BYTES = max(MAX_KEY_BYTES, OSS_MAX_KEY_BYTES)
#: "must not contain ASCII control characters 24, 25, 26, 27" (436/13324) [ref 7.3]
FORBIDDEN_KEY_CODEPOINTS = frozenset({0x18, 0x19, 0x1A, 0x1B})
#: "must not start with / or \\" (436/13324) [ref 7.3]
FORBIDDEN_KEY_PREFIXES = ("/", "\\")
#: "<BucketName-APPID>.cos.<Region>.myqcloud.com is at most 60 characters" (436/13312) [ref 7.2]
MAX_BUCKET_HOST_LENGTH = 60

# --- Request headers ----------------------------------------------------------------------------------

#: "x-cos-traffic-limit ... The speed limit setting range is 819200 - 838860800 (800Kb/s-800Mb/s).
#: If outside of this range, it will return a 400 error." (Upload Part, 436/7750; 436/40140) [ref 3.2]
MIN_TRAFFIC_LIMIT = 819_200
MAX_TRAFFIC_LIMIT = 838_860_800

#: "The size of a single header is limited to 2 KB. The total size of all x-cos-meta-[custom suffix]
#: headers must not exceed 4 KB." (Initiate Multipart Upload, 436/7746, updated 2026-06-05; seed 002)
#: Measured here as len(name) + len(value) in UTF-8 bytes, the size of the header on the wire.
MAX_META_HEADER_BYTES = 2 * KB
MAX_META_TOTAL_BYTES = 4 * KB
#: "The custom suffix supports hyphens (-), digits, and English letters (a to z). Uppercase English
#: letters are converted to lowercase. Other characters, including underscores (_), are not supported."
#: (436/7746, seed 002)
META_SUFFIX_PATTERN = r"[A-Za-z0-9-]+"

#: "x-cos-tagging ... at most 10 tags" (436/7746, 436/35664) [ref 3.1]
MAX_TAGS = 10
#: "tag key 1-127, tag value 1-255 UTF-8 characters" (436/35664) [ref 3.1]
MAX_TAG_KEY_CHARS = 127
MAX_TAG_VALUE_CHARS = 255
#: "letters, digits, space, + - = . _ : / @" (436/35664) [ref 3.1]
TAG_CHARS_PATTERN = r"[\w +\-=._:/@]+"

#: Storage classes of 436/7746 and 436/7749 [ref 3.4]; COS parses them case-insensitively.
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
#: bucket-owner-full-control"; public-read-write is not supported for objects (436/30752) [ref 3.5]
OBJECT_ACLS = frozenset(
    {
        "default",
        "private",
        "public-read",
        "authenticated-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
    }
)

# --- Encryption --------------------------------------------------------------------------------------

#: SSE-COS "x-cos-server-side-encryption: AES256"; SSE-KMS "cos/kms" (436/7728) [ref 6.1]
SSE_COS_ALGORITHM = "AES256"
SSE_KMS_ALGORITHM = "cos/kms"
#: SSE-C "customer-algorithm: AES256; customer-key: base64 of a 32-byte key" (436/7728) [ref 6.1]
SSE_C_ALGORITHM = "AES256"
SSE_C_KEY_BYTES = 32

# --- Signing -----------------------------------------------------------------------------------------

#: The signature window starts this many seconds in the past to tolerate a client clock that runs
#: ahead (the official Python SDK uses now-60) [ref 1.9].
SIGN_SKEW_SECONDS = 60
#: Default validity of a header signature (seconds) [ref 1.9: SDKs use 900 s .. 10000 s].
DEFAULT_SIGN_EXPIRES = 3600
#: Longest validity of a pre-signed URL made here (seconds): 7 days, for COS and OSS alike. COS documents
#: no maximum [ref 1.9] and asks that "the validity period of the generated URL must be set to the shortest
#: period required" (Download via Pre-Signed URL, 436/14116); OSS V4 refuses more than 604800 s [oss-api 1.9].
#: A COS URL of 10**12 s would work for ever once leaked: this package takes OSS's bound for both.
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600
#: "local time differs from server time by more than 15 minutes" (RequestTimeTooSkewed, 436/7730)
MAX_CLOCK_SKEW_SECONDS = 15 * 60

# --- Server-side copy --------------------------------------------------------------------------------

#: "PUT Object - Copy copies an object of up to 5 GB; a larger one needs Upload Part - Copy" (436/10881)
MAX_COPY_OBJECT_SIZE = 5 * GB
#: OSS: "When you copy an object larger than 1 GB, you must use UploadPartCopy" (OSS CopyObject) [oss-api 3]
OSS_MAX_COPY_OBJECT_SIZE = 1 * GB
#: "x-cos-metadata-directive: Copy | Replaced; default Copy" (436/10881); OSS spells them COPY / REPLACE.
METADATA_DIRECTIVES = ("Copy", "Replaced")
