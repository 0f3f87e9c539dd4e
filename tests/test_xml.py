"""The XML layer against the reference's sample bodies and hostile ones."""

from __future__ import annotations

import datetime

import pytest
from lxml import etree

from cos_multipart._protocol import _xml
from cos_multipart._protocol.errors import CosResponseError
from cos_multipart._protocol.models import CompletedPart

UTC = datetime.timezone.utc

INITIATE = b"""<InitiateMultipartUploadResult>
<Bucket>examplebucket-1250000000</Bucket>
<Key>exampleobject</Key>
<UploadId>1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361</UploadId>
</InitiateMultipartUploadResult>"""

COMPLETE = b"""<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult xmlns="http://www.qcloud.com/document/product/436/7751">
  <Location>http://examplebucket-1250000000.cos.ap-beijing.myqcloud.com/exampleobject</Location>
  <Bucket>examplebucket-1250000000</Bucket>
  <Key>exampleobject</Key>
  <ETag>&quot;aa259a62513358f69e98e72e59856d88-3&quot;</ETag>
</CompleteMultipartUploadResult>"""

LIST_PARTS = b"""<?xml version="1.0" encoding="UTF-8" ?>
<ListPartsResult>
  <Bucket>examplebucket-1250000000</Bucket>
  <EncodingType>url</EncodingType>
  <Key>dir/a%20b%2Bc</Key>
  <UploadId>1585130821cbb7</UploadId>
  <Owner><ID>1250000000</ID><DisplayName>1250000000</DisplayName></Owner>
  <PartNumberMarker>0</PartNumberMarker>
  <Initiator><ID>qcs::cam::uin/100000000001:uin/100000000011</ID><DisplayName>100000000011</DisplayName></Initiator>
  <Part>
    <PartNumber>1</PartNumber>
    <LastModified>2020-03-25T10:07:14.000Z</LastModified>
    <ETag>&quot;39270a968a357d24207e9911162507eb&quot;</ETag>
    <Size>1048576</Size>
  </Part>
  <Part>
    <PartNumber>2</PartNumber>
    <LastModified>Tue Jan 17 16:43:37 2017</LastModified>
    <ETag>"d899fbd1e06109ea2e4550f5751c88d6"</ETag>
    <Size>10</Size>
  </Part>
  <NextPartNumberMarker>2</NextPartNumberMarker>
  <StorageClass>Standard</StorageClass>
  <MaxParts>2</MaxParts>
  <IsTruncated>true</IsTruncated>
</ListPartsResult>"""

LIST_UPLOADS = b"""<ListMultipartUploadsResult>
  <Bucket>examplebucket-1250000000</Bucket>
  <Encoding-Type>url</Encoding-Type>
  <KeyMarker/> <UploadIdMarker/>
  <NextKeyMarker>dir%2Fb</NextKeyMarker> <NextUploadIdMarker>u2</NextUploadIdMarker>
  <MaxUploads>1000</MaxUploads>
  <IsTruncated>true</IsTruncated>
  <Prefix/> <Delimiter>/</Delimiter>
  <Upload>
    <Key>exampleobject%E6%96%87</Key>
    <UploadId>1484727270323ddb</UploadId>
    <StorageClass>Standard_IA</StorageClass>
    <Initiator><ID>qcs::cam::uin/1:uin/1</ID><DisplayName>1</DisplayName></Initiator>
    <Owner><ID>qcs::cam::uin/1:uin/1</ID><DisplayName>1</DisplayName></Owner>
    <Initiated>2017-01-18T16:04:17.000Z</Initiated>
  </Upload>
  <Upload><Key>x</Key><UploadId>u2</UploadId></Upload>
  <CommonPrefixes><Prefix>dir%2F</Prefix></CommonPrefixes>
</ListMultipartUploadsResult>"""

ERROR = b"""<?xml version='1.0' encoding='utf-8' ?>
<Error>
  <Code>NoSuchUpload</Code>
  <Message>The specified upload does not exist.</Message>
  <Resource>examplebucket-1250000000.cos.ap-beijing.myqcloud.com/exampleobject</Resource>
  <RequestId>NWU3YjJk</RequestId>
  <TraceId>trace-1</TraceId>
</Error>"""


def test_initiate_sample() -> None:
    parsed = _xml.parse_initiate(INITIATE)
    assert parsed == _xml.InitiateBody(
        "examplebucket-1250000000", "exampleobject", "1585130821cbb7df1d11846c073ad648e8f33b087cec2381df437acdc833cf654b9ecc6361"
    )


def test_complete_sample_with_namespace_and_quot() -> None:
    parsed = _xml.parse_complete(COMPLETE)
    assert isinstance(parsed, _xml.CompleteBody)
    assert parsed.etag == '"aa259a62513358f69e98e72e59856d88-3"'
    assert parsed.key == "exampleobject"
    assert parsed.location.endswith("/exampleobject")


def test_complete_after_keepalive_whitespace_and_declaration() -> None:
    # COS sends spaces while merging, then the XML (with a declaration) [ref 2.3].
    parsed = _xml.parse_complete(b" \n \t" * 500 + COMPLETE)
    assert isinstance(parsed, _xml.CompleteBody) and parsed.bucket == "examplebucket-1250000000"


def test_list_parts_sample_with_url_encoding() -> None:
    page = _xml.parse_list_parts(LIST_PARTS)
    assert page.is_truncated is True
    assert page.next_marker == 2
    assert page.storage_class == "STANDARD"
    first, second = page.parts
    assert (first.part_number, first.etag, first.size) == (1, '"39270a968a357d24207e9911162507eb"', 1048576)
    assert first.last_modified == datetime.datetime(2020, 3, 25, 10, 7, 14, tzinfo=UTC)
    assert second.last_modified == datetime.datetime(2017, 1, 17, 16, 43, 37, tzinfo=UTC)


def test_list_parts_minimal() -> None:
    page = _xml.parse_list_parts(b"<ListPartsResult><IsTruncated>false</IsTruncated></ListPartsResult>")
    assert page == _xml.PartsPage((), False, None, "")


def test_list_uploads_sample_unquotes_keys_and_markers() -> None:
    page = _xml.parse_list_uploads(LIST_UPLOADS)
    assert [u.key for u in page.uploads] == ["exampleobject文", "x"]
    assert page.uploads[0].initiated == datetime.datetime(2017, 1, 18, 16, 4, 17, tzinfo=UTC)
    assert page.uploads[0].storage_class == "STANDARD_IA"
    assert page.uploads[1].initiated is None
    assert (page.next_key_marker, page.next_upload_id_marker) == ("dir/b", "u2")
    assert page.common_prefixes == ("dir/",)
    assert page.is_truncated


def test_keys_not_unquoted_without_encoding_type() -> None:
    body = b"<InitiateMultipartUploadResult><Key>a%20b</Key><UploadId>u</UploadId></InitiateMultipartUploadResult>"
    assert _xml.parse_initiate(body).key == "a%20b"


def test_error_body() -> None:
    error = _xml.parse_error(b"  \n" + ERROR)
    assert error == _xml.ErrorBody(
        "NoSuchUpload",
        "The specified upload does not exist.",
        "examplebucket-1250000000.cos.ap-beijing.myqcloud.com/exampleobject",
        "NWU3YjJk",
        "trace-1",
    )


@pytest.mark.parametrize("body", [b"", b"   ", b"<html>502 Bad Gateway</html>", b"not xml", b"<Error><Code>X</Code>", INITIATE])
def test_error_body_absent(body: bytes) -> None:
    assert _xml.parse_error(body) is None


@pytest.mark.parametrize(
    "body",
    [b"", b"  \n ", b"not xml at all", INITIATE[:60], b"<InitiateMultipartUploadResult><UploadId>u</UploadId>", b"\xff\xfe<a/>"],
)
def test_hostile_bodies_raise_response_error(body: bytes) -> None:
    with pytest.raises(CosResponseError):
        _xml.parse_initiate(body)


def test_wrong_root_and_missing_required() -> None:
    with pytest.raises(CosResponseError, match="expected <InitiateMultipartUploadResult>"):
        _xml.parse_initiate(ERROR)
    with pytest.raises(CosResponseError, match="UploadId"):
        _xml.parse_initiate(b"<InitiateMultipartUploadResult><Key>k</Key></InitiateMultipartUploadResult>")
    with pytest.raises(CosResponseError, match="ETag"):
        _xml.parse_complete(b"<CompleteMultipartUploadResult><Key>k</Key></CompleteMultipartUploadResult>")
    with pytest.raises(CosResponseError, match="integer"):
        _xml.parse_list_parts(b"<ListPartsResult><Part><PartNumber>x</PartNumber><Size>1</Size><ETag>e</ETag></Part></ListPartsResult>")
    with pytest.raises(CosResponseError, match="true/false"):
        _xml.parse_list_parts(b"<ListPartsResult><IsTruncated>maybe</IsTruncated></ListPartsResult>")


def test_entities_are_not_expanded() -> None:
    xxe = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<InitiateMultipartUploadResult><Key>&x;</Key><UploadId>u</UploadId></InitiateMultipartUploadResult>"""
    parsed = _xml.parse_initiate(xxe)
    assert "root:" not in parsed.key
    laughs = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<InitiateMultipartUploadResult><Key>&c;</Key><UploadId>u</UploadId></InitiateMultipartUploadResult>"""
    assert len(_xml.parse_initiate(laughs).key) < 100


def test_dates() -> None:
    assert _xml.parse_date("2020-03-25T10:07:14Z") == datetime.datetime(2020, 3, 25, 10, 7, 14, tzinfo=UTC)
    assert _xml.parse_date("2020-03-25T18:07:14.5+08:00") == datetime.datetime(2020, 3, 25, 10, 7, 14, 500000, tzinfo=UTC)
    assert _xml.parse_date("") is None
    assert _xml.parse_date("yesterday") is None
    assert _xml.parse_date("2020-13-45T10:07:14Z") is None


def test_build_complete_round_trips() -> None:
    body = _xml.build_complete([CompletedPart(1, '"39270a968a357d24207e9911162507eb"'), CompletedPart(2, '"d8"')])
    assert body.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(body)
    assert root.tag == "CompleteMultipartUpload"
    parts = [(p.findtext("PartNumber"), p.findtext("ETag")) for p in root.findall("Part")]
    assert parts == [("1", '"39270a968a357d24207e9911162507eb"'), ("2", '"d8"')]
