"""Print the Authorization header and a pre-signed URL for an Upload Part request (no network needed)."""

from cos_multipart import Credentials, SignWindow, presign_url, sign

credentials = Credentials("AKIDexample", "example-secret-key")
window = SignWindow(1_700_000_000, 1_700_003_600)
host = "examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"

print(
    sign(
        credentials,
        window,
        "PUT",
        "/videos/2026/holiday.mp4",
        {"partNumber": "1", "uploadId": "1585130821cbb7df"},
        {"host": host, "content-length": "8388608"},
    )
)
print(presign_url(credentials, f"https://{host}/videos/2026/holiday.mp4", window=window))
