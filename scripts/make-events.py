#!/usr/bin/env python3
"""Generate the sample Lambda events in events/ (python3 standard library only).

    python3 scripts/make-events.py           # (re)write events/*.json
    python3 scripts/make-events.py --check   # exit 1 if a committed file differs from what this makes

Everything is deterministic: running it again reproduces the committed files byte for byte.
Each file is a complete Lambda event, usable as
`cargo lambda invoke replicator --data-file events/X.json`: Kinesis events of key records, and
(dynamodb-*.json) events of a table's own DynamoDB stream, which the same replicator takes.

The data of each Kinesis record is a "key record": a DynamoDB Streams record (see seed.json), or,
in kinesis-for-dynamodb.json, the record format that "Kinesis Data Streams for DynamoDB" writes.
Tables (local demo): dyno-primary / dyno-replica, key schema ForumName (HASH, S) + Subject (RANGE, S).
"""

import argparse
import base64
import hashlib
import json
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EVENTS = REPO / "events"
# shared/ sits beside the repository (the seed record's source of truth); used only to verify.
SHARED_SEED = REPO.parent / "shared" / "seed-record.json"

# Verbatim copy of shared/seed-record.json (its exact bytes, trailing newline included).
SEED_RECORD = (
    "{\n"
    '    "awsRegion": "us-east-1",\n'
    '    "dynamodb": {\n'
    '        "Keys": {\n'
    '            "ForumName": {"S": "DynamoDB"},\n'
    '            "Subject": {"S": "DynamoDB Thread 3"}\n'
    "        },\n"
    '        "SequenceNumber": "300000000000000499659",\n'
    '        "SizeBytes": 41,\n'
    '        "StreamViewType": "KEYS_ONLY"\n'
    "    },\n"
    '    "eventID": "e2fd9c34eff2d779b297b26f5fef4206",\n'
    '    "eventName": "INSERT",\n'
    '    "eventSource": "aws:dynamodb",\n'
    '    "eventVersion": "1.0"\n'
    "}\n"
).encode("utf-8")

REGION = "us-east-1"
ACCOUNT = "123456789012"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/dyno-keys"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/dyno-replicator"
PRIMARY_TABLE = "dyno-primary"
TABLE_STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{PRIMARY_TABLE}/stream/2024-11-25T08:00:00.123"

FIRST_KINESIS_SEQUENCE = 49590338271490256608559692538361571095921575989136588898
FIRST_ARRIVAL_MS = 1732521600123  # 2024-11-25T08:00:00.123Z
FIRST_DDB_SEQUENCE = 300000000000000499659  # the seed record's own SequenceNumber
FIRST_CREATION_MS = 1732521600123


class Counters:
    """Sequence numbers and timestamps strictly increase over all files, in generation order."""

    def __init__(self):
        self.kinesis = FIRST_KINESIS_SEQUENCE
        self.arrival_ms = FIRST_ARRIVAL_MS
        self.ddb = FIRST_DDB_SEQUENCE  # taken by the seed; next() hands out the following ones
        self.creation_ms = FIRST_CREATION_MS

    def next_kinesis(self):
        seq, ms = self.kinesis, self.arrival_ms
        self.kinesis += 1
        self.arrival_ms += 1
        return str(seq), ms

    def next_ddb(self):
        self.ddb += 1
        return str(self.ddb)

    def next_creation_ms(self):
        ms = self.creation_ms
        self.creation_ms += 1
        return ms


def digest(*parts):
    return hashlib.md5("|".join(parts).encode("utf-8")).hexdigest()


def key(thread, order=("ForumName", "Subject")):
    """Key attributes of thread N, in the given JSON order."""
    attrs = {"ForumName": {"S": "DynamoDB"}, "Subject": {"S": f"DynamoDB Thread {thread}"}}
    return {name: attrs[name] for name in order}


def partition_key(keys):
    """Stable per item key, independent of the attributes' JSON order."""
    return "|".join(
        f"{name}={kind}:{value}"
        for name in sorted(keys)
        for kind, value in keys[name].items()
    )


def compact(obj):
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def kinesis_record(counters, data, pkey):
    seq, arrival_ms = counters.next_kinesis()
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": pkey,
            "sequenceNumber": seq,
            "data": base64.b64encode(data).decode("ascii"),
            "approximateArrivalTimestamp": arrival_ms / 1000,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"shardId-000000000000:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": ROLE_ARN,
        "awsRegion": REGION,
        "eventSourceARN": STREAM_ARN,
    }


def stream_key_record(counters, event_name, keys, image=None):
    """A DynamoDB Streams record (KEYS_ONLY unless an image is given), like the seed."""
    ddb_seq = counters.next_ddb()
    dynamodb = {"Keys": keys}
    if image is not None:
        dynamodb["NewImage"] = image
    dynamodb["SequenceNumber"] = ddb_seq
    dynamodb["SizeBytes"] = len(compact(keys)) + (len(compact(image)) if image else 0)
    dynamodb["StreamViewType"] = "NEW_IMAGE" if image is not None else "KEYS_ONLY"
    return {
        "awsRegion": REGION,
        "dynamodb": dynamodb,
        "eventID": digest("stream", event_name, ddb_seq),
        "eventName": event_name,
        "eventSource": "aws:dynamodb",
        "eventVersion": "1.0",
    }


def thread_image(thread, message, replies, order=("ForumName", "Subject")):
    image = dict(key(thread, order))
    image["Message"] = {"S": message}
    image["LastPostedBy"] = {"S": f"User {chr(ord('A') + thread - 1)}"}
    image["Replies"] = {"N": str(replies)}
    image["Tags"] = {"SS": ["Update", "Multiple Items"]}
    return image


def kds_record(counters, event_name, keys, new_image=None, old_image=None, table=PRIMARY_TABLE):
    """A record as "Kinesis Data Streams for DynamoDB" writes it (field order as AWS emits it)."""
    created_ms = counters.next_creation_ms()
    dynamodb = {"ApproximateCreationDateTime": created_ms, "Keys": keys}
    if new_image is not None:
        dynamodb["NewImage"] = new_image
    if old_image is not None:
        dynamodb["OldImage"] = old_image
    dynamodb["SizeBytes"] = sum(len(compact(x)) for x in (keys, new_image, old_image) if x)
    dynamodb["ApproximateCreationDateTimePrecision"] = "MILLISECOND"
    return {
        "awsRegion": REGION,
        "eventID": str(uuid.UUID(digest("kds", table, event_name, str(created_ms)), version=4)),
        "eventName": event_name,
        "userIdentity": None,
        "recordFormat": "application/json",
        "tableName": table,
        "dynamodb": dynamodb,
        "eventSource": "aws:dynamodb",
    }


def table_stream_record(
    counters, event_name, keys, view, new_image=None, old_image=None, user_identity=None
):
    """A record of the primary table's own DynamoDB stream, as Lambda hands it to the function."""
    ddb_seq = counters.next_ddb()
    created_s = counters.next_creation_ms() / 1000
    dynamodb = {"ApproximateCreationDateTime": created_s, "Keys": keys}
    if new_image is not None:
        dynamodb["NewImage"] = new_image
    if old_image is not None:
        dynamodb["OldImage"] = old_image
    dynamodb["SequenceNumber"] = ddb_seq
    dynamodb["SizeBytes"] = sum(len(compact(x)) for x in (keys, new_image, old_image) if x)
    dynamodb["StreamViewType"] = view
    return {
        "eventID": digest("table-stream", event_name, ddb_seq),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": dynamodb,
        "eventSourceARN": TABLE_STREAM_ARN,
        **({"userIdentity": user_identity} if user_identity else {}),
    }


def kds_partition_key(keys):
    """KDS for DynamoDB uses a 32-hex-digit hash of the item key as the partition key."""
    return digest(partition_key(keys)).upper()


def event(records):
    return {"Records": records}


def build():
    c = Counters()
    seed_keys = json.loads(SEED_RECORD)["dynamodb"]["Keys"]
    seed_pk = partition_key(seed_keys)
    files = {}

    files["seed.json"] = event([kinesis_record(c, SEED_RECORD, seed_pk)])
    files["modify.json"] = event(
        [kinesis_record(c, compact(stream_key_record(c, "MODIFY", key(3))), seed_pk)]
    )
    files["remove.json"] = event(
        [kinesis_record(c, compact(stream_key_record(c, "REMOVE", key(3))), seed_pk)]
    )

    fs, sf = ("ForumName", "Subject"), ("Subject", "ForumName")
    batch = [
        ("INSERT", 1, fs, None),
        ("INSERT", 2, sf, None),
        ("MODIFY", 1, sf, thread_image(1, "Thread 1, edited", 1, sf)),
        ("INSERT", 3, fs, None),
        ("REMOVE", 2, fs, None),
        ("MODIFY", 3, sf, None),
        ("MODIFY", 1, fs, None),
        ("INSERT", 2, sf, None),
    ]
    records = []
    for name, thread, order, image in batch:
        k = key(thread, order)
        records.append(
            kinesis_record(c, compact(stream_key_record(c, name, k, image)), partition_key(k))
        )
    files["batch-repeated-keys.json"] = event(records)

    old1 = thread_image(1, "Thread 1 text", 0)
    new1 = thread_image(1, "Thread 1 text, edited", 1, sf)
    kds = [
        kds_record(c, "INSERT", key(1), new_image=old1),
        kds_record(c, "MODIFY", key(1, sf), new_image=new1, old_image=old1),
        kds_record(c, "INSERT", key(2), new_image=thread_image(2, "Thread 2 text", 0)),
        kds_record(c, "REMOVE", key(2, sf), old_image=thread_image(2, "Thread 2 text", 0)),
        kds_record(c, "INSERT", key(3, sf), new_image=thread_image(3, "Thread 3 text", 4, sf)),
    ]
    files["kinesis-for-dynamodb.json"] = event(
        [kinesis_record(c, compact(r), kds_partition_key(r["dynamodb"]["Keys"])) for r in kds]
    )

    def keyed(keys, event_name="INSERT"):
        return compact(stream_key_record(c, event_name, keys))

    missing_keys = stream_key_record(c, "INSERT", key(3))
    del missing_keys["dynamodb"]["Keys"]
    unusable = [
        # 1. data is not JSON at all
        (b"ForumName=DynamoDB, Subject=DynamoDB Thread 3 (not JSON)", "not-json"),
        # 2. JSON, but no dynamodb.Keys
        (compact(missing_keys), "no-keys"),
        # 3. hash key has the wrong type (N instead of S)
        (keyed({"ForumName": {"N": "42"}, "Subject": {"S": "DynamoDB Thread 3"}}), "wrong-type"),
        # 4. range key missing
        (keyed({"ForumName": {"S": "DynamoDB"}}), "no-range-key"),
        # 5. an attribute that is not part of the key schema
        (
            keyed(
                {
                    "ForumName": {"S": "DynamoDB"},
                    "Subject": {"S": "DynamoDB Thread 3"},
                    "LastPostedBy": {"S": "User A"},
                }
            ),
            "extra-attribute",
        ),
        # 6. KDS-for-DynamoDB record of another table
        (
            compact(
                kds_record(
                    c, "INSERT", key(3), new_image=thread_image(3, "elsewhere", 0),
                    table="SomeOtherTable",
                )
            ),
            "other-table",
        ),
        # 7. a good record (the seed): it must still be replicated
        (SEED_RECORD, seed_pk),
    ]
    files["unusable.json"] = event([kinesis_record(c, data, pk) for data, pk in unusable])

    # The primary table's own DynamoDB stream: the same replicator, the same keys.
    files["dynamodb-keys-only.json"] = event(
        [
            table_stream_record(c, "INSERT", key(3), "KEYS_ONLY"),
            table_stream_record(c, "MODIFY", key(1, sf), "KEYS_ONLY"),
            table_stream_record(c, "REMOVE", key(2), "KEYS_ONLY"),
        ]
    )
    old3 = thread_image(3, "Thread 3 text", 0)
    new3 = thread_image(3, "Thread 3 text, edited", 1, sf)
    files["dynamodb-new-and-old-images.json"] = event(
        [
            table_stream_record(c, "INSERT", key(3), "NEW_AND_OLD_IMAGES", new_image=old3),
            table_stream_record(c, "MODIFY", key(3, sf), "NEW_AND_OLD_IMAGES", new3, old3),
            table_stream_record(
                c, "REMOVE", key(2), "NEW_AND_OLD_IMAGES", old_image=thread_image(2, "gone", 0)
            ),
        ]
    )

    # A delete made by the primary's TTL (userIdentity: the DynamoDB service), and the same key
    # deleted by a writer: the replica follows both by default; KEEP_TTL_DELETES=true keeps the
    # item on the replica for the first only.
    ttl_identity = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    files["dynamodb-ttl-remove.json"] = event(
        [table_stream_record(c, "REMOVE", key(2), "KEYS_ONLY", user_identity=ttl_identity)]
    )
    files["dynamodb-user-remove.json"] = event(
        [table_stream_record(c, "REMOVE", key(2), "KEYS_ONLY")]
    )

    return {name: (json.dumps(ev, indent=2) + "\n").encode("utf-8") for name, ev in files.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()

    if SHARED_SEED.is_file() and SHARED_SEED.read_bytes() != SEED_RECORD:
        sys.exit(f"{SHARED_SEED} differs from the copy in {Path(__file__).name}: update SEED_RECORD")

    outputs = build()
    if args.check:
        stale = [n for n, b in outputs.items() if not (EVENTS / n).is_file() or (EVENTS / n).read_bytes() != b]
        for name in stale:
            print(f"events/{name} is not what scripts/make-events.py makes", file=sys.stderr)
        sys.exit(1 if stale else 0)

    EVENTS.mkdir(exist_ok=True)
    for name, data in outputs.items():
        (EVENTS / name).write_bytes(data)
        print(f"wrote events/{name}")


if __name__ == "__main__":
    main()
