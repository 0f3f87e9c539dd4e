"""Where requests go: bucket and region naming, the host, and how object keys travel in the URL.

Pure: nothing here opens a socket. :class:`Endpoint` turns an object key into the URL sent on the wire
(each path segment percent-encoded) while the signer gets the decoded path ``"/" + key`` [ref 1.5].
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence, Tuple
from urllib.parse import quote, urlsplit

from .dialect import COS, DIALECTS, Dialect
from .errors import CosValidationError
from .limits import FORBIDDEN_KEY_CODEPOINTS, FORBIDDEN_KEY_PREFIXES, MAX_KEY_BYTES, OSS_MAX_KEY_BYTES

#: Where each key-length limit is stated.
_KEY_RULE = {MAX_KEY_BYTES: "436/13324", OSS_MAX_KEY_BYTES: "OSS object naming"}
from .signer import host_header, url_encode

#: "<BucketName>-<APPID>: BucketName only [a-z0-9-], not starting or ending with -; APPID numeric"
#: (436/13312) [ref 7.2]; each dialect holds its own pattern.
BUCKET_PATTERN = COS.bucket_pattern
#: Used with fullmatch (a "$" anchor would accept a trailing newline).
#: Region names are ``[a-z0-9-]+`` (ap-guangzhou, accelerate, ...) [ref 7.1]
REGION_PATTERN = re.compile(r"[a-z0-9-]+")
#: The default (virtual-hosted) host: "<BucketName-APPID>.cos.<Region>.myqcloud.com" [ref 7.1]
DEFAULT_HOST_TEMPLATE = COS.host_template
DEFAULT_SCHEME = "https"
_SCHEMES = ("http", "https")
#: Characters of an endpoint host (a DNS name, IPv4, or a bracketed IPv6 literal) and an optional port.
_NETLOC_PATTERN = re.compile(r"(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")

QueryParams = Sequence[Tuple[str, Optional[str]]]


def validate_bucket(bucket: object, dialect: Dialect = COS) -> str:
    """Check a ``<BucketName>-<APPID>`` name [ref 7.2] (or the ``dialect``'s rule); return it.

    Raises:
        CosValidationError: The name does not follow the bucket naming rules.
    """
    if not isinstance(bucket, str) or not dialect.bucket_pattern.fullmatch(bucket):
        raise CosValidationError("bucket", bucket, dialect.bucket_rule)
    return bucket


def validate_region(region: object) -> str:
    """Check a region name such as ``ap-guangzhou`` [ref 7.1]; return it.

    Raises:
        CosValidationError: Not a ``[a-z0-9-]+`` string.
    """
    if not isinstance(region, str) or not REGION_PATTERN.fullmatch(region):
        raise CosValidationError("region", region, "lowercase letters, digits and '-', e.g. 'ap-guangzhou'")
    return region


#: One C-level scan per key instead of a Python loop over its characters (a key is checked per request).
_FORBIDDEN_KEY_CHARS = re.compile("[" + "".join(re.escape(chr(code)) for code in sorted(FORBIDDEN_KEY_CODEPOINTS)) + "]")


def validate_key(key: object, *, max_bytes: int = MAX_KEY_BYTES) -> str:
    """Check an object key against the key rules [ref 7.3]; return it.

    The rules (436/13324): any UTF-8, at most 850 bytes encoded (``max_bytes``: OSS allows 1023 [oss-api 4]),
    must not start with ``/`` or ``\\``, must not contain the ASCII control characters 24-27. Empty keys are
    refused (they address the bucket).

    Raises:
        CosValidationError: The key breaks one of the rules.
    """
    if not isinstance(key, str) or not key:
        raise CosValidationError("key", key, "a non-empty string")
    if key.startswith(FORBIDDEN_KEY_PREFIXES):
        raise CosValidationError("key", key, "must not start with '/' or '\\' (436/13324)")
    if _FORBIDDEN_KEY_CHARS.search(key) is not None:
        raise CosValidationError("key", key, "must not contain ASCII control characters 24-27 (436/13324)")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise CosValidationError("key", key, "valid Unicode text (lone surrogates cannot be UTF-8 encoded)") from None
    if size > max_bytes:
        raise CosValidationError("key", key, f"at most {max_bytes} bytes in UTF-8 ({_KEY_RULE.get(max_bytes, 'the service rule')}), got {size}")
    return key


def encode_key_path(key: str) -> str:
    """The URL path for ``key``: ``"/"`` then each ``/``-separated segment percent-encoded.

    Everything outside ``A-Z a-z 0-9 - _ . ~`` is encoded, so ``+ ? # % space`` and non-ASCII text reach
    COS unchanged. A segment that is exactly ``.`` or ``..`` is encoded as ``%2E``/``%2E%2E``: HTTP
    libraries and proxies remove literal dot segments (RFC 3986 5.2.4), which would address another key.
    """
    bounded = f"/{key}/"
    if "/./" in bounded or "/../" in bounded:
        return "/" + "/".join(_encode_segment(segment) for segment in key.split("/"))
    # No dot segment: one quote of the whole key, "/" kept, encodes each segment exactly as above (one call
    # instead of one per segment, on every request).
    return "/" + quote(key, safe="/-_.~")


def _encode_segment(segment: str) -> str:
    if segment in (".", ".."):
        return "%2E" * len(segment)
    return quote(segment, safe="-_.~")


def encode_query(params: QueryParams) -> str:
    """A query string from ordered pairs; ``None`` values give bare names (``uploads``)."""
    return "&".join(name if value is None else f"{url_encode(name)}={url_encode(value)}" for name, value in params)


@dataclass(frozen=True)
class Endpoint:
    """The scheme and host requests for one bucket go to, and the ``Host`` they name it with.

    Attributes:
        scheme: ``"https"`` (default) or ``"http"``.
        netloc: Host and optional port as it appears in the URL: where to connect.
        host: The ``Host`` header value, which is also the signed ``host`` (no default port): the URL's host,
            or :attr:`bucket_host` when the endpoint's host does not name the bucket.
    """

    scheme: str
    netloc: str
    #: The bucket and region requests are for, and the service's dialect: what the signer needs besides
    #: the host (OSS V4 signs ``/bucket/key`` and a region scope). Not part of equality: an endpoint is
    #: where requests go.
    bucket: str = field(default="", compare=False)
    region: str = field(default="", compare=False)
    dialect: Dialect = field(default=COS, compare=False, repr=False)
    #: The ``Host`` sent instead of the URL's when a custom endpoint does not name the bucket (an IP address,
    #: ``localhost``, a region endpoint): the bucket's virtual-hosted name in the dialect's template
    #: (``<bucket>.cos.<region>.myqcloud.com``), as the official SDKs send to an IP. ``""``: the URL's host.
    bucket_host: str = field(default="", compare=False)

    @classmethod
    def build(
        cls,
        bucket: str,
        region: str,
        endpoint: Optional[str] = None,
        *,
        scheme: str = DEFAULT_SCHEME,
        dialect: Dialect = COS,
    ) -> "Endpoint":
        """The endpoint of ``bucket`` in ``region``, or of a custom ``endpoint``.

        Args:
            bucket: ``<BucketName>-<APPID>``.
            region: Region name.
            endpoint: ``None`` for ``<bucket>.cos.<region>.myqcloud.com``; otherwise where to connect: a base
                URL with its scheme, without a path, such as ``"http://127.0.0.1:9000"`` or
                ``"https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"``. Requests still name
                the bucket: when the endpoint's host does not start with ``<bucket>.``, they carry the
                bucket's default host as their ``Host`` header (see :attr:`bucket_host`).
            scheme: Scheme of the default host.

        Raises:
            CosValidationError: Bad bucket, region, scheme or endpoint, or the default host is over 60
                characters (436/13312).
        """
        validate_bucket(bucket, dialect)
        validate_region(region)
        if scheme not in _SCHEMES:
            raise CosValidationError("scheme", scheme, "'https' or 'http'")
        if endpoint is None:
            host = dialect.host_template.format(bucket=bucket, region=region)
            limit = dialect.max_host_length
            if limit is not None and len(host) > limit:
                template = dialect.host_template.format(bucket="<bucket>", region="<region>")
                raise CosValidationError(
                    "bucket",
                    bucket,
                    f"the host '{template}' must be at most {limit} characters (436/13312); '{host}' has {len(host)}",
                )
            return cls(scheme, host, bucket, region, dialect)
        parsed = cls.parse(endpoint)
        bucket_host = "" if names_bucket(parsed.netloc, bucket) else dialect.host_template.format(bucket=bucket, region=region)
        return replace(parsed, bucket=bucket, region=region, dialect=dialect, bucket_host=bucket_host)

    @classmethod
    def parse(cls, endpoint: str) -> "Endpoint":
        """An endpoint from ``scheme://host[:port]``.

        Raises:
            CosValidationError: No scheme or an unknown one, a path, query, credentials, or a malformed host.
        """
        text = endpoint.strip(" ") if isinstance(endpoint, str) else ""
        if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
            text = ""  # urlsplit would silently drop a tab or newline anywhere in it (bpo-43882): refuse instead
        if text and "://" not in text:
            # Assuming https made a plain-http server fail later with a TLS error: say what is missing now.
            raise CosValidationError("endpoint", endpoint, f"a URL with its scheme: http://{text} or https://{text}")
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            parts = None
        allowed = "scheme://host[:port], scheme http or https, no path, e.g. 'http://127.0.0.1:9000'"
        if (
            parts is None
            or parts.scheme not in _SCHEMES
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or "@" in parts.netloc
            or not _NETLOC_PATTERN.fullmatch(parts.netloc)
        ):
            raise CosValidationError("endpoint", endpoint, allowed)
        return cls(parts.scheme, parts.netloc)

    @property
    def base_url(self) -> str:
        """``scheme://netloc``."""
        return f"{self.scheme}://{self.netloc}"

    @property
    def host(self) -> str:
        """The ``Host`` header sent and signed: :attr:`bucket_host`, else ``signer.host_header`` of the base URL."""
        return self.bucket_host or host_header(self.base_url)

    def url(self, key: str, params: QueryParams = ()) -> str:
        """The URL for ``key`` (``""`` for the bucket itself) with the encoded query ``params``."""
        path = encode_key_path(key) if key else "/"
        query = encode_query(params)
        return f"{self.base_url}{path}?{query}" if query else f"{self.base_url}{path}"


def names_bucket(netloc: str, bucket: str) -> bool:
    """Whether an endpoint's host names ``bucket`` itself: it is ``bucket`` or starts with ``bucket.``
    (``examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com``, an OSS internal or accelerate host)."""
    name, bucket = urlsplit(f"//{netloc}").hostname or "", bucket.lower()
    return bool(bucket) and (name == bucket or name.startswith(bucket + "."))


def strip_query(url: str) -> str:
    """``url`` without its query string and fragment: what errors and logs may show."""
    return url.split("?", 1)[0].split("#", 1)[0]


#: OSS's endpoint kinds and the bucket host of each [oss-api 8.1]; acceleration must be enabled on the bucket.
OSS_HOSTS = {
    "public": "{bucket}.oss-{region}.aliyuncs.com",
    "internal": "{bucket}.oss-{region}-internal.aliyuncs.com",
    "dualstack": "{bucket}.{region}.oss.aliyuncs.com",
    "accelerate": "{bucket}.oss-accelerate.aliyuncs.com",
    "accelerate-overseas": "{bucket}.oss-accelerate-overseas.aliyuncs.com",
}


def oss_endpoint(bucket: str, region: str, kind: str = "public", *, scheme: str = DEFAULT_SCHEME) -> str:
    """The base URL of an OSS bucket's endpoint of ``kind`` (``public``, ``internal`` for ECS/VPC in the same
    region, ``dualstack``, ``accelerate``, ``accelerate-overseas``), to pass as ``endpoint=`` to a client
    with ``dialect="oss"`` (the region still names the signature's scope).

    Raises:
        CosValidationError: Bad bucket (OSS's rule), region, kind or scheme.
    """
    validate_bucket(bucket, DIALECTS["oss"])
    validate_region(region)
    if kind not in OSS_HOSTS:
        raise CosValidationError("kind", kind, f"one of {', '.join(OSS_HOSTS)}")
    if scheme not in _SCHEMES:
        raise CosValidationError("scheme", scheme, "'https' or 'http'")
    return f"{scheme}://{OSS_HOSTS[kind].format(bucket=bucket, region=region)}"
