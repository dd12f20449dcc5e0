"""What an S3 server does with the requests the runtime will make, seen through boto3.

Run by s3-server.test.ts in a container of the offline base (boto3 1.26) on the host's network;
reads S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY and S3_BUCKET, prints one JSON object of what it saw
and removes everything it made. The endpoint is passed to boto3 explicitly: boto3 reads
AWS_ENDPOINT_URL only from 1.28 on.
"""

import hashlib
import json
import os

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

endpoint = os.environ["S3_ENDPOINT"]
bucket = os.environ["S3_BUCKET"]
config = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})


def client(access_key: str, secret_key: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=config,
    )


def refusal(call) -> dict:
    """The status and error code of a call expected to fail; {"status": 200} if it did not."""
    try:
        call()
    except ClientError as err:
        return {
            "status": err.response["ResponseMetadata"]["HTTPStatusCode"],
            "code": err.response["Error"]["Code"],
        }
    return {"status": 200, "code": None}


s3 = client(os.environ["S3_ACCESS_KEY"], os.environ["S3_SECRET_KEY"])
seen: dict = {}
s3.create_bucket(Bucket=bucket)
try:
    small = b"a model file\n"
    s3.put_object(Bucket=bucket, Key="models/small.txt", Body=small)
    seen["small_etag"] = s3.head_object(Bucket=bucket, Key="models/small.txt")["ETag"]
    seen["small_md5"] = hashlib.md5(small).hexdigest()

    # 20 MB: above boto3's 8 MB threshold, so upload_file sends it in parts.
    big = os.urandom(20 * 1024 * 1024)
    with open("/tmp/big.bin", "wb") as f:
        f.write(big)
    s3.upload_file("/tmp/big.bin", bucket, "models/big.bin")
    head = s3.head_object(Bucket=bucket, Key="models/big.bin")
    seen["big_etag"] = head["ETag"]
    seen["big_length"] = head["ContentLength"]
    whole = s3.get_object(Bucket=bucket, Key="models/big.bin")["Body"].read()
    seen["big_round_trip"] = hashlib.sha256(whole).hexdigest() == hashlib.sha256(big).hexdigest()
    part = s3.get_object(Bucket=bucket, Key="models/big.bin", Range="bytes=1000-1999")
    seen["range_status"] = part["ResponseMetadata"]["HTTPStatusCode"]
    seen["range_content_range"] = part["ContentRange"]
    seen["range_matches"] = part["Body"].read() == big[1000:2000]

    for i in range(5):
        s3.put_object(Bucket=bucket, Key=f"items/{i}.json", Body=b"{}")
    pages, token = [], None
    while True:
        kwargs = {"Bucket": bucket, "Prefix": "items/", "MaxKeys": 2}
        if token:
            kwargs["ContinuationToken"] = token
        page = s3.list_objects_v2(**kwargs)
        pages.append([o["Key"] for o in page.get("Contents", [])])
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    seen["list_pages"] = pages
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    seen["list_prefixes"] = [p["Prefix"] for p in top.get("CommonPrefixes", [])]

    seen["missing_key"] = refusal(lambda: s3.get_object(Bucket=bucket, Key="models/none"))
    seen["missing_bucket"] = refusal(lambda: s3.get_object(Bucket=bucket + "-none", Key="x"))
    wrong = client(os.environ["S3_ACCESS_KEY"], "wrong-" + os.environ["S3_SECRET_KEY"])
    seen["wrong_secret_get"] = refusal(lambda: wrong.get_object(Bucket=bucket, Key="models/small.txt"))
    seen["wrong_secret_put"] = refusal(lambda: wrong.put_object(Bucket=bucket, Key="models/x", Body=b"x"))
    seen["wrong_secret_list"] = refusal(lambda: wrong.list_objects_v2(Bucket=bucket))
    anonymous = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                             config=config.merge(Config(signature_version=UNSIGNED)))
    seen["unsigned_get"] = refusal(lambda: anonymous.get_object(Bucket=bucket, Key="models/small.txt"))
    unknown = client("no-such-access-key", os.environ["S3_SECRET_KEY"])
    seen["unknown_key"] = refusal(lambda: unknown.list_objects_v2(Bucket=bucket))

    s3.delete_object(Bucket=bucket, Key="models/small.txt")
    seen["after_delete"] = refusal(lambda: s3.head_object(Bucket=bucket, Key="models/small.txt"))
finally:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    s3.delete_bucket(Bucket=bucket)
    seen["bucket_removed"] = refusal(lambda: s3.head_bucket(Bucket=bucket))["status"] == 404

print(json.dumps(seen))
